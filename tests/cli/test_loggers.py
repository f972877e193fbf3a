"""MLflow and Weights & Biases loggers, offline: the run's hparams and metrics reach them.

Each needs its optional package (``rnnkit[mlflow]``, ``rnnkit[wandb]``) and is skipped without
it. Neither touches the network: MLflow writes a local SQLite store, W&B an offline run.
"""

from __future__ import annotations

import pytest

from hydra_helpers import TINY_RUN, compose_run, one_thread
from rnnkit.cli import train as train_module
from rnnkit.cli.run_hparams import run_hparams
from rnnkit.cli.train import train

TINY = ["experiment=tagging", *TINY_RUN, "trainer.log_every_n_steps=1"]


def test_mlflow_offline_store_gets_hparams_and_metrics(tmp_path):
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    cfg = compose_run([*TINY, "logger=mlflow", f"paths.log_dir={tmp_path}"], tmp_path / "run")
    assert cfg.logger.mlflow.tracking_uri == f"sqlite:///{tmp_path}/mlflow.db"
    with one_thread():
        train(cfg)
    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    (run,) = client.search_runs([client.get_experiment_by_name("tagging").experiment_id])
    assert set(run.data.params) == set(run_hparams(cfg)) | {"pattern", "parameters"}
    assert {"train/loss", "val/loss", "val/acc", "test/acc"} <= set(run.data.metrics)
    assert run.data.tags["run_dir"] == str(tmp_path / "run")
    assert run.info.status == "FINISHED"


def test_wandb_offline_run_gets_hparams_and_metrics(tmp_path, monkeypatch):
    wandb = pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_SILENT", "true")
    cfg = compose_run([*TINY, "logger=wandb"], tmp_path)
    assert cfg.logger.wandb.offline is True
    seen = {}
    finish = wandb.sdk.wandb_run.Run.finish

    def finishing(run, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003
        seen.update(config=dict(run.config), summary=dict(run.summary), offline=run.offline)
        return finish(run, *args, **kwargs)

    monkeypatch.setattr(wandb.sdk.wandb_run.Run, "finish", finishing)
    with one_thread():
        train(cfg)
    assert seen["offline"] and wandb.run is None  # rnnkit-train ended the run
    assert set(seen["config"]) == set(run_hparams(cfg)) | {"pattern", "parameters"}
    assert {"train/loss", "val/acc", "test/acc", "test/loss"} <= set(seen["summary"])
    assert list((tmp_path / "wandb").glob("offline-run-*/*.wandb"))


def test_a_missing_logger_package_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(
        train_module.OPTIONAL_PACKAGES,
        "pytorch_lightning.loggers.MLFlowLogger",
        ("rnnkit_no_such_package", "mlflow"),
    )
    cfg = compose_run([*TINY, "logger=mlflow", f"paths.log_dir={tmp_path}"], tmp_path / "run")
    with pytest.raises(
        ValueError,
        match=r"^logger.mlflow: MLFlowLogger needs the "
        r"rnnkit_no_such_package package, which is not installed: "
        r"pip install 'rnnkit\[mlflow\]'$",
    ):
        train(cfg)
