"""One line per epoch on the console when there is no progress bar to watch."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytorch_lightning as pl
import torch

from rnnkit.metrics.display import format_metrics

log = logging.getLogger("rnnkit")


class EpochSummary(pl.Callback):
    """After every training epoch, one line on the ``rnnkit`` logger (the console and the
    run's log file)::

        epoch 3/8  train/loss 0.2412  val/loss 0.1873  val/acc 0.9412  val/f1 0.9410  (4.1 s)

    ``train/loss`` is the mean of the epoch's step losses; the validation values are the
    metrics the task shows on the progress bar and the monitored metric (``optimized_metric``),
    to four significant digits. With a progress bar the callback stays silent, unless
    ``always`` is true; only the main process writes.
    """

    def __init__(self, always: bool = False) -> None:
        super().__init__()
        self.always = always
        self._losses: list[torch.Tensor] = []
        self._started = 0.0

    def _active(self, trainer: pl.Trainer) -> bool:
        return trainer.is_global_zero and (self.always or trainer.progress_bar_callback is None)

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._losses = []
        self._started = time.perf_counter()

    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        if self._active(trainer) and isinstance(loss, torch.Tensor):
            self._losses.append(loss.detach())

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not self._active(trainer):
            return
        log.info(self.line(trainer, time.perf_counter() - self._started))

    def line(self, trainer: pl.Trainer, seconds: float) -> str:
        """The epoch's line, from what ``trainer`` holds at the end of the epoch."""
        values: dict[str, float] = {}
        if self._losses:
            values["train/loss"] = float(torch.stack(self._losses).float().mean())
        shown = [k for k in trainer.progress_bar_metrics if k.startswith("val/")]
        monitor = getattr(trainer.checkpoint_callback, "monitor", None)
        keys = (["val/loss"] if "val/loss" in shown else []) + shown + [monitor] * bool(monitor)
        for key in dict.fromkeys(keys):
            if key in trainer.callback_metrics:
                values[key] = float(trainer.callback_metrics[key])
        total = trainer.max_epochs if trainer.max_epochs and trainer.max_epochs > 0 else "?"
        text = f"epoch {trainer.current_epoch + 1}/{total}"
        if values:
            text += "  " + format_metrics(values)
        return f"{text}  ({seconds:.1f} s)"
