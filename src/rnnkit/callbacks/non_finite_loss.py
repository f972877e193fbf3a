"""Stop a run at the first NaN or infinite training loss, before it reaches the weights."""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
import torch


class NonFiniteLossError(ValueError):
    """The training loss was NaN or infinite (the CLI exits with 1: bad data or settings)."""


class NonFiniteLossCallback(pl.Callback):
    """Raise :class:`NonFiniteLossError` naming the step when a training loss is not finite.

    The check runs in ``on_before_backward``, so the bad loss never produces gradients: the
    weights, the optimizer state and every checkpoint written so far stay as they were (the
    last good ``last.ckpt`` is kept for a resume with other settings). It reads the loss once
    per optimisation step (one device synchronisation per step on a GPU).
    """

    def on_before_backward(self, trainer: pl.Trainer, pl_module: Any, loss: torch.Tensor) -> None:
        if bool(torch.isfinite(loss.detach()).all()):
            return
        value = loss.detach().float().flatten()[0].item()
        checkpoint = trainer.checkpoint_callback
        kept = getattr(checkpoint, "last_model_path", "") or getattr(
            checkpoint, "best_model_path", ""
        )
        where = f"kept: {kept}" if kept else "none written yet"
        raise NonFiniteLossError(
            f"training loss is {value} at step {trainer.global_step} (epoch "
            f"{trainer.current_epoch}, batch {trainer.fit_loop.epoch_loop.batch_idx}); "
            "stopped before the update. Expected a finite loss: check the data for huge "
            "values, or lower task.optimizer.lr / set trainer.gradient_clip_val. Last "
            f"checkpoint {where}"
        )
