"""Sentiment task on the built-in data: runs, logs, predicts, and beats the order-blind model."""

from __future__ import annotations

import json

import pytest
import torch

from hydra_helpers import compose_run, one_thread
from rnnkit.cli.checkpoint import load_checkpoint, restore_datamodule, restore_task
from rnnkit.cli.train import train

SMALL = [
    "experiment=sentiment",
    "cell.hidden_size=16",
    "model.embedding_dim=16",
    "trainer.enable_progress_bar=false",
]


@pytest.mark.parametrize("pooling", ["last", "mean", "max", "attention"])
@pytest.mark.parametrize("cell", ["rnn", "gru", "peephole_lstm"])
def test_runs_with_every_pooling_and_cell(tmp_path, pooling, cell):
    with one_thread():
        train(
            compose_run(
                [*SMALL, "debug=fast_dev_run", f"model.pooling={pooling}", f"cell={cell}"], tmp_path
            )
        )


def test_logs_metrics_confusion_matrix_and_samples_to_tensorboard(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData

    with one_thread():
        train(
            compose_run(
                [
                    *SMALL,
                    "trainer.max_epochs=1",
                    "trainer.limit_train_batches=3",
                    "trainer.limit_val_batches=2",
                    "trainer.limit_test_batches=2",
                ],
                tmp_path,
            )
        )
    events = EventAccumulator(str(tmp_path), size_guidance={"images": 0, "tensors": 0})
    events.Reload()
    scalars = set(events.Tags()["scalars"])
    assert {"val/loss", "val/acc", "val/f1", "train/acc"} <= scalars
    assert "val/confusion_matrix" in events.Tags()["images"]
    assert any(tag.startswith("val/samples") for tag in events.Tags()["tensors"])
    hparams = events.PluginTagToContent("hparams")
    assert "_hparams_/experiment" in hparams  # the HPARAMS tab: config and final metrics
    assert not any(tag.startswith("hp/") for tag in scalars)  # no copies of the metrics
    start = HParamsPluginData.FromString(hparams["_hparams_/session_start_info"])
    logged = set(start.session_start_info.hparams)
    assert {"cell", "cell.hidden_size", "task.optimizer.lr", "data.batch_size", "seed"} <= logged
    assert 15 <= len(logged) <= 25
    experiment = HParamsPluginData.FromString(hparams["_hparams_/experiment"]).experiment
    columns = {info.name.tag for info in experiment.metric_infos}
    assert {"val/acc", "test/acc", "test/loss"} <= columns <= scalars  # read from the scalars


@pytest.mark.slow
def test_recurrent_model_beats_the_bag_of_words_model(tmp_path):
    results = {}
    for name, overrides in {
        "bilstm": [],
        "bag_of_words": ["cell=feedforward", "model.pooling=mean"],
    }.items():
        with one_thread():
            train(
                compose_run(
                    [
                        "experiment=sentiment",
                        "trainer.max_epochs=4",
                        "trainer.enable_progress_bar=false",
                        *overrides,
                    ],
                    tmp_path / name,
                )
            )
        results[name] = json.loads((tmp_path / name / "metrics.json").read_text())["test/acc"]
    assert results["bag_of_words"] < 0.65
    assert results["bilstm"] > 0.95


def test_an_ensemble_trains_restores_and_predicts_the_mean_of_its_members(tmp_path):
    from rnnkit.patterns import Ensemble

    overrides = [*SMALL, "model.ensemble_size=3", "trainer.max_epochs=1"]
    limits = ["+trainer.limit_train_batches=3", "+trainer.limit_val_batches=1"]
    with one_thread():
        train(compose_run([*overrides, *limits, "+trainer.limit_test_batches=1"], tmp_path))
    checkpoint = load_checkpoint(tmp_path / "checkpoints" / "last.ckpt")
    task, datamodule = restore_task(checkpoint), restore_datamodule(checkpoint)
    assert isinstance(task.model, Ensemble) and len(task.model) == 3
    encoded = [datamodule.encode({"text": t, "label": None}) for t in ("a fine film", "dull")]
    batch = datamodule.collate(encoded)
    with torch.no_grad():
        members = [m(batch["tokens"], batch["lengths"]).softmax(-1) for m in task.model.members]
        combined = task(batch["tokens"], batch["lengths"]).exp()
    torch.testing.assert_close(combined, torch.stack(members).mean(0))
    assert not torch.allclose(members[0], members[1])


@pytest.mark.parametrize(
    ("size", "message"),
    [
        (0, "expected a positive integer, got 0"),
        (-2, "expected a positive integer, got -2"),
        (1.5, "expected an integer, got 1.5"),  # refused by the config check, before the task
        (True, "expected an integer, got True"),
    ],
)
def test_ensemble_size_must_be_a_positive_integer(tmp_path, size, message):
    with pytest.raises(ValueError, match=f"model.ensemble_size: {message}"):
        train(compose_run([*SMALL, "debug=fast_dev_run", f"model.ensemble_size={size}"], tmp_path))
