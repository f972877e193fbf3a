"""``last.ckpt``: written at the end of every epoch, optionally every N steps, and on a signal.

Lightning's ``ModelCheckpoint(save_last=True)`` rewrites ``last.ckpt`` only when it has just
saved a top-k checkpoint, so with ``save_top_k=1`` a run killed after an epoch that did not
improve the monitored metric resumed epochs behind. :class:`LastCheckpoint` writes it after
every epoch (after validation, the epoch-end hooks and the best checkpoint's update), every
``every_n_train_steps`` optimizer steps within an epoch if asked, and when the process gets
SIGTERM or SIGINT: it then finishes the current batch, writes ``last.ckpt`` and exits with
``128 + signal`` (143 for SIGTERM, 130 for SIGINT). A second signal acts at once, as usual.

Every write is atomic: the checkpoint goes to a temporary file in the same folder, which is
flushed to disk (fsync) and renamed over ``last.ckpt`` (``os.replace``), so a kill at any
moment leaves either the previous ``last.ckpt`` or the new one, never a truncated file. With
:class:`~rnnkit.callbacks.AtomicCheckpointIO` as the trainer's checkpoint writer (rnnkit's
trainer configs) that writer does it; with another, this callback does it around it.

Mid-epoch checkpoints are never taken at an epoch's last batch: the epoch-end one follows
(a checkpoint between the last batch and validation would make a resumed run skip that
epoch's validation). Resuming: ``rnnkit-train resume=<run dir>`` (see docs/reliability.md).
"""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import Checkpoint

from rnnkit.callbacks.atomic_checkpoint_io import (
    AtomicCheckpointIO,
    replace_atomically,
    stale_temporary_files,
)

HANDLED_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class LastCheckpoint(Checkpoint):
    """Keep ``<dirpath>/last.ckpt`` up to date (see the module docstring).

    Args:
        dirpath: the run's checkpoint folder.
        every_n_train_steps: also write it every this many optimizer steps within an epoch;
            None: at epoch ends (and on a signal) only.
        on_signal: on SIGTERM/SIGINT, finish the batch, write it and exit with 128 + signal.

    Place it after the ``ModelCheckpoint`` of the best checkpoint (Lightning runs checkpoint
    callbacks in their given order), so that the state it saves includes that epoch's best.
    """

    FILE_NAME = "last.ckpt"
    best_model_path = ""  # the best checkpoint is ModelCheckpoint's, if any

    def __init__(
        self, dirpath: str, every_n_train_steps: int | None = None, on_signal: bool = True
    ) -> None:
        if every_n_train_steps is not None and (
            isinstance(every_n_train_steps, bool)
            or not isinstance(every_n_train_steps, int)
            or every_n_train_steps < 1
        ):
            raise ValueError(
                "every_n_train_steps: expected a positive integer or null, "
                f"got {every_n_train_steps!r}"
            )
        self.dirpath = Path(dirpath)
        self.every_n_train_steps = every_n_train_steps
        self.on_signal = on_signal
        self.signal_received: int | None = None
        self._previous_handlers: dict[int, Any] = {}

    @property
    def last_model_path(self) -> str:
        """The path of ``last.ckpt`` once written, else ``""`` (as ModelCheckpoint's)."""
        return str(self.path) if self.path.is_file() else ""

    @property
    def path(self) -> Path:
        return self.dirpath / self.FILE_NAME

    def save(self, trainer: pl.Trainer) -> None:
        """Write ``last.ckpt`` now, atomically."""
        if trainer.fast_dev_run or trainer.sanity_checking:
            return
        if not trainer.is_global_zero:
            trainer.save_checkpoint(self.path)  # every rank takes part; only rank 0 writes
            return
        if isinstance(trainer.strategy.checkpoint_io, AtomicCheckpointIO):
            trainer.save_checkpoint(self.path)  # atomic already
            return
        self.dirpath.mkdir(parents=True, exist_ok=True)
        for stale in stale_temporary_files(self.path):
            stale.unlink(missing_ok=True)
        replace_atomically(self.path, trainer.save_checkpoint)

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.on_signal and threading.current_thread() is threading.main_thread():
            for signum in HANDLED_SIGNALS:
                self._previous_handlers[signum] = signal.signal(signum, self._on_signal)

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, *args: Any, **kwargs: Any
    ) -> None:
        if trainer.fit_loop.epoch_loop.batch_progress.is_last_batch:
            return  # on_train_epoch_end writes it, after validation
        if self.signal_received is not None:
            self.save(trainer)
            self._stop(trainer)
        elif self.every_n_train_steps and trainer.global_step % self.every_n_train_steps == 0:
            self.save(trainer)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.save(trainer)
        if self.signal_received is not None:
            self._stop(trainer)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._restore_handlers()

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self._restore_handlers()

    def on_exception(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException
    ) -> None:
        self._restore_handlers()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.signal_received = signum
        self._restore_handlers()  # a second signal acts at once
        print(
            f"rnnkit: {signal.Signals(signum).name} received: stopping after this batch with "
            f"{self.path} (send it again to stop at once)",
            file=sys.stderr,
            flush=True,
        )

    def _restore_handlers(self) -> None:
        for signum, handler in self._previous_handlers.items():
            signal.signal(signum, handler)
        self._previous_handlers = {}

    def _stop(self, trainer: pl.Trainer) -> None:
        signum = self.signal_received
        run_dir = self.dirpath.parent
        print(
            f"rnnkit: stopped by {signal.Signals(signum).name} at epoch {trainer.current_epoch}, "
            f"step {trainer.global_step}; resume with: rnnkit-train resume={run_dir}",
            file=sys.stderr,
            flush=True,
        )
        raise SystemExit(128 + signum)
