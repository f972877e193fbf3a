"""Averaged weights, started when validation stalls: NT-ASGD (Merity et al. 2018).

AWD-LSTM trains with plain SGD until the validation loss has not improved for ``n`` checks
(non-monotonically triggered), then keeps the running average of the weights after every step
from there on (averaged SGD, Polyak & Juditsky 1992) and evaluates with that average.
:class:`NTAveraging` does this for any optimizer (SGD gives AWD's NT-ASGD: torch.optim.ASGD
with ``lambd=0`` steps as SGD does), on Lightning's
:class:`~pytorch_lightning.callbacks.WeightAveraging` (a ``torch.optim.swa_utils.AveragedModel``
updated after each optimizer step):

* before the trigger nothing is averaged and the model is validated and saved as it is;
* from the trigger on, the average is ``mean(w_t)`` over the iterates ``w_t`` after each
  optimizer step since the trigger; validation runs on the averaged weights, every checkpoint's
  ``state_dict`` holds them (``best.ckpt`` is the averaged model for rnnkit-eval/-predict and
  the final test), and the raw weights travel in ``current_model_state`` so that training
  resumes exactly; the model keeps the averaged weights when training ends.

``start_step`` starts averaging at a fixed optimizer step instead (or as well: the first of the
two wins), which is plain stochastic weight averaging.
"""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import WeightAveraging

MODES = ("min", "max")


def nonmonotonic_trigger(history: list[float], current: float, patience: int, mode: str) -> bool:
    """AWD-LSTM's test: ``current`` is worse than the best of the checks before the last
    ``patience`` ones (``len(history) > patience and current > min(history[:-patience])`` for
    ``mode="min"``); ``history`` holds the earlier checks, oldest first."""
    if len(history) <= patience:
        return False
    earlier = history[:-patience] if patience else history
    return current > min(earlier) if mode == "min" else current < max(earlier)


class NTAveraging(WeightAveraging):
    """Non-monotonically triggered weight averaging (NT-ASGD's averaging for any optimizer).

    Args:
        monitor: the validation metric to watch (``val/loss``).
        mode: ``"min"`` or ``"max"``: whether lower or higher ``monitor`` is better.
        patience: ``n``: trigger when ``monitor`` is worse than the best value seen before the
            last ``n`` validation checks (AWD-LSTM: 5); None: no such trigger.
        start_step: also trigger once this many optimizer steps are done; None: never.
        device: where the average lives (default: the model's device).
    """

    def __init__(
        self,
        monitor: str = "val/loss",
        mode: str = "min",
        patience: int | None = 5,
        start_step: int | None = None,
        device: str | None = None,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode: expected one of {MODES}, got {mode!r}")
        for name, value in (("patience", patience), ("start_step", start_step)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise ValueError(f"{name}: expected a non-negative integer or null, got {value!r}")
            if value is not None and value < 0:
                raise ValueError(f"{name}: expected a non-negative integer or null, got {value!r}")
        if patience is None and start_step is None:
            raise ValueError("patience, start_step: set at least one, or averaging never starts")
        super().__init__(device=device, use_buffers=True)
        self.monitor = monitor
        self.mode = mode
        self.patience = patience
        self.start_step = start_step
        self.history: list[float] = []
        self.triggered_at: int | None = None
        """Optimizer steps done at the trigger: the average is over the iterates after step
        ``triggered_at + 1``, ``triggered_at + 2``, ... (None: not triggered yet)."""

    @property
    def averaging(self) -> bool:
        """Whether the average holds at least one iterate (validation then uses it)."""
        return self._average_model is not None and int(self._average_model.n_averaged) > 0

    def should_update(self, step_idx: int | None = None, epoch_idx: int | None = None) -> bool:
        if step_idx is None:
            return False
        started = self.start_step is not None and step_idx + 1 >= self.start_step
        if self.triggered_at is None and started:
            self.triggered_at = step_idx
        return self.triggered_at is not None

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or self.patience is None or self.triggered_at is not None:
            return
        value = trainer.callback_metrics.get(self.monitor)
        if value is None:
            raise ValueError(
                f"callbacks.weight_averaging.monitor: no logged metric {self.monitor!r}; "
                f"logged: {sorted(trainer.callback_metrics)}"
            )
        current = float(value)
        if nonmonotonic_trigger(self.history, current, self.patience, self.mode):
            self.triggered_at = trainer.global_step
        self.history.append(current)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_train_epoch_end(trainer, pl_module)
        averaged = 0 if self._average_model is None else int(self._average_model.n_averaged)
        pl_module.log("train/averaged_iterates", float(averaged))

    # ---- swap only once there is an average ---------------------------------------------

    def on_validation_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.averaging:
            self._swap_models(pl_module)

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.averaging:
            self._swap_models(pl_module)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.averaging:
            self._copy_average_to_current(pl_module)

    def on_save_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        if self.averaging:
            super().on_save_checkpoint(trainer, pl_module, checkpoint)

    def on_load_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        # Testing or validating a checkpoint keeps its state_dict: the averaged weights.
        if trainer.state.fn == "fit" and "current_model_state" in checkpoint:
            super().on_load_checkpoint(trainer, pl_module, checkpoint)

    def state_dict(self) -> dict[str, Any]:
        return {
            **super().state_dict(),
            "history": list(self.history),
            "triggered_at": self.triggered_at,
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        self.history = [float(v) for v in state_dict.get("history", [])]
        self.triggered_at = state_dict.get("triggered_at")

    @torch.no_grad()
    def averaged_parameters(self) -> list[torch.Tensor]:
        """Copies of the averaged parameters, in the order of ``pl_module.parameters()``."""
        if self._average_model is None:
            return []
        return [p.detach().clone() for p in self._average_model.module.parameters()]
