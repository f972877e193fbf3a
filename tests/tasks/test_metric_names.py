"""One metric naming scheme for every task: ``train/loss`` (each step), ``val/loss``,
``val/<metric>``, ``test/<metric>``; no Lightning ``_step``/``_epoch`` suffixes, no task-specific
loss names; val/test epoch values averaged across DDP processes."""

from __future__ import annotations

import csv
import re

import pytest
import torch

from hydra_helpers import TINY_RUN, compose_run, one_thread
from rnnkit.cli.train import train
from rnnkit.tasks.base import RecurrentTask

TASK_EXPERIMENTS = [
    "sentiment",
    "tagging",
    "translation",
    "captioning",
    "forecasting",
    "language_model",
    "language_model_tbptt",
]
# The classical baseline each task logs beside the model, on the same val and test batches.
BASELINES = {
    "sentiment": ["baseline_acc", "baseline_f1"],
    "tagging": ["majority_acc", "majority_entity_f1"],
    "translation": ["baseline_bleu"],
    "forecasting": ["linear_mse", "linear_mae", "linear_mse_original", "linear_mae_original"],
    "language_model": ["ngram_bpc", "ngram_perplexity", "unigram_bpc"],
    "language_model_tbptt": ["ngram_bpc", "ngram_perplexity", "unigram_bpc"],
}
# Lightning's own columns and the learning-rate monitor's, beside the tasks' metrics.
OTHER_COLUMNS = {"epoch", "step"}
EVERY_STEP = ["trainer.log_every_n_steps=1"]
NAME = re.compile(r"(train|val|test)/[a-z0-9_]+")


@pytest.mark.parametrize("experiment", TASK_EXPERIMENTS)
def test_every_task_logs_the_same_loss_names(tmp_path, experiment):
    with one_thread():
        train(
            compose_run(
                [
                    f"experiment={experiment}",
                    "logger=csv",
                    *TINY_RUN,
                    "trainer.log_every_n_steps=1",
                ],
                tmp_path,
            )
        )
    with open(tmp_path / "csv" / "metrics.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    columns = set(rows[0]) - OTHER_COLUMNS
    columns = {c for c in columns if not c.startswith("lr-")}
    assert {"train/loss", "val/loss", "test/loss"} <= columns
    assert [c for c in columns if not NAME.fullmatch(c)] == []
    assert [c for c in columns if c.endswith(("_step", "_epoch")) or "step_loss" in c] == []
    baselines = {
        f"{split}/{name}" for split in ("val", "test") for name in BASELINES.get(experiment, [])
    }
    assert baselines <= columns
    for name in baselines:  # a number, once per epoch
        assert [float(r[name]) for r in rows if r[name]]
    train_losses = [r["train/loss"] for r in rows if r["train/loss"]]
    assert len(train_losses) == 2  # one per training step


class _Recorder(RecurrentTask):
    """Records what ``log`` is asked to do, without a Trainer."""

    task = "recorder"

    def build_model(self, model, spec):
        self.calls = []
        return torch.nn.Linear(1, 1)

    def log(self, name, value, **options):  # noqa: ANN001, ANN003
        self.calls.append((name, options))


def test_val_and_test_losses_are_synced_across_processes_and_train_is_per_step():
    task = _Recorder(cell={}, model={}, data_spec={}, optimizer={"_target_": "torch.optim.SGD"})
    for split in ("train", "val", "test"):
        task.log_loss(split, torch.tensor(1.0), batch_size=4)
    options = dict(task.calls)
    assert options["train/loss"]["on_step"] and not options["train/loss"]["on_epoch"]
    for split in ("val", "test"):
        assert options[f"{split}/loss"]["sync_dist"] is True
        assert options[f"{split}/loss"]["on_epoch"] and not options[f"{split}/loss"]["on_step"]
        assert options[f"{split}/loss"]["batch_size"] == 4
