"""Train and test one composed run from Python, keeping what its callbacks recorded.

For studies that compare many runs (scripts/run_long_range.py): the run is exactly what
``rnnkit-train`` trains from the same config, except that a CSV logger replaces the configured
loggers (cheap: no figures) and the training loss of every step is kept.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytorch_lightning as pl
from omegaconf import DictConfig
from pytorch_lightning.loggers import CSVLogger

from rnnkit.callbacks import GradientFlowCallback, GradientFlowSnapshot, GradientNormCallback
from rnnkit.cli.train import build_group, build_trainer, fit_and_test, prepare
from rnnkit.tasks.base import RecurrentTask


class LossHistory(pl.Callback):
    """The training loss of every step, in :attr:`losses` (NaN and inf included)."""

    def __init__(self) -> None:
        self.losses: list[float] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:  # noqa: ANN001
        self.losses.append(float(outputs["loss"]))


@dataclass
class RecordedRun:
    """What one run measured.

    ``metrics``: the logged metrics after training (``val/...``, ``train/...``), updated with
    the test metrics of the best validation checkpoint (``test/...``); ``steps``: optimiser
    steps; ``seconds``: wall time of fit and test; ``losses``: training loss per step;
    ``grad_flow``: the :class:`GradientFlowCallback`'s snapshots and ``grad_norms`` the
    :class:`GradientNormCallback`'s history, empty where the config has no such callback.
    """

    metrics: dict[str, float]
    steps: int
    seconds: float
    losses: list[float]
    grad_flow: list[GradientFlowSnapshot] = field(default_factory=list)
    grad_norms: list[dict[str, Any]] = field(default_factory=list)


def train_recorded_run(
    cfg: DictConfig, initialise: Callable[[RecurrentTask], None] | None = None
) -> RecordedRun:
    """Train and test ``cfg`` (composed with :func:`rnnkit.cli.compose.compose_run`).

    ``initialise(task)``, if given, runs after the task is built and before training, after
    the seed is set (so what it draws is reproducible): e.g. a custom initialisation from
    :mod:`rnnkit.layers.initialization`. Checkpoints and ``metrics.csv`` go to
    ``cfg.paths.output_dir``.
    """
    datamodule, task = prepare(cfg)
    if initialise is not None:
        initialise(task)
    loss_history = LossHistory()
    callbacks = [*build_group(cfg.get("callbacks"), "callbacks"), loss_history]
    logger = CSVLogger(cfg.paths.output_dir, name="", version="")
    trainer = build_trainer(cfg, callbacks, logger)
    started = time.perf_counter()
    metrics = fit_and_test(cfg, trainer, task, datamodule, verbose=False)
    flow = next((c for c in callbacks if isinstance(c, GradientFlowCallback)), None)
    norms = next((c for c in callbacks if isinstance(c, GradientNormCallback)), None)
    return RecordedRun(
        metrics=metrics,
        steps=trainer.global_step,
        seconds=time.perf_counter() - started,
        losses=loss_history.losses,
        grad_flow=list(flow.history) if flow else [],
        grad_norms=norms.history if norms else [],
    )
