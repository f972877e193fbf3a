"""The hparams the loggers get: the twenty or so a person compares runs on, each once."""

from __future__ import annotations

import pytest

from hydra_helpers import EXPERIMENTS, compose_run
from rnnkit.cli.run_hparams import run_hparams
from rnnkit.cli.train import prepare

COMPARED = {
    "experiment",
    "task",
    "dataset",
    "cell",
    "cell.hidden_size",
    "cell.num_layers",
    "cell.bidirectional",
    "optimizer",
    "task.optimizer.lr",
    "scheduler",
    "data.batch_size",
    "trainer.max_epochs",
    "seed",
}


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_logs_a_short_flat_list(tmp_path, experiment):
    hparams = run_hparams(compose_run([f"experiment={experiment}"], tmp_path))
    assert set(hparams) >= COMPARED
    assert 15 <= len(hparams) <= 25
    assert all(isinstance(v, (str, int, float, bool)) for v in hparams.values())


def test_values_follow_the_overrides(tmp_path):
    cfg = compose_run(
        [
            "experiment=tagging",
            "cell=gru",
            "cell.hidden_size=7",
            "cell.num_layers=2",
            "task.optimizer.lr=0.01",
            "data.batch_size=5",
            "model.crf=true",
            "seed=3",
        ],
        tmp_path,
    )
    hparams = run_hparams(cfg)
    assert hparams["cell"] == "gru" and hparams["dataset"] == "tagging_builtin"
    assert hparams["cell.hidden_size"] == 7 and hparams["cell.num_layers"] == 2
    assert hparams["task.optimizer.lr"] == 0.01 and hparams["data.batch_size"] == 5
    assert hparams["model.crf"] is True and hparams["seed"] == 3
    assert "model.sample_prompt" not in hparams and "data.path" not in hparams


def test_with_the_task_it_names_the_pattern_and_counts_parameters(tmp_path):
    cfg = compose_run(
        ["experiment=sentiment", "cell.hidden_size=8", "model.embedding_dim=8"], tmp_path
    )
    _, task = prepare(cfg)
    hparams = run_hparams(cfg, task)
    assert hparams["pattern"] == "ManyToOne" and hparams["task"] == "sentiment"
    assert hparams["parameters"] == sum(p.numel() for p in task.parameters())


def test_a_cell_named_by_target_outside_the_groups(tmp_path):
    cfg = compose_run(["experiment=sentiment"], tmp_path)
    cfg.cell = {
        "_target_": "rnnkit.Recurrent",
        "cell": {"_target_": "rnnkit.cells.GRUCell", "_partial_": True},
        "hidden_size": 9,
    }
    from hydra.core.hydra_config import HydraConfig

    HydraConfig.instance().cfg = None  # outside a Hydra run: no group choices to read
    hparams = run_hparams(cfg)
    assert hparams["cell"] == "GRUCell" and hparams["cell.hidden_size"] == 9
    assert hparams["dataset"] == "BuiltinSentimentDataModule"
