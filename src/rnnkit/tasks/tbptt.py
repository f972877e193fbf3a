"""Truncated backpropagation through time (TBPTT) for Lightning 2.x tasks.

Lightning 2.0 removed ``truncated_bptt_steps``; this module brings the mechanism back in
pieces a task puts together (docs/tbptt.md):

* :func:`chunk_slices` cuts ``L`` steps into chunks of ``k``;
* :func:`run_resetting` runs a recurrent forward over a chunk from a carried state, zeroing the
  state rows where a new document starts (the datamodule marks them);
* :class:`ChunkOptimizer` does Lightning manual optimisation chunk by chunk: backward per
  chunk, optimizer step every ``accumulate_chunks`` chunks with gradient clipping (through the
  task's ``configure_gradient_clipping``, so callbacks are notified, after mixed-precision
  unscaling), LR schedulers stepped as Lightning would (``interval``, ``frequency``,
  ``monitor``);
* :class:`TruncatedHistory` (for a loss read at the end of a long input, as a forecaster's):
  a forward pre-hook making a recurrent layer backpropagate through its last ``k`` steps only.

The state carried from chunk to chunk is detached
(:func:`rnnkit.patterns.language_model.detach_state`), so gradients stop at chunk boundaries
and memory does not grow with the sequence length.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor
from torch.nn.utils.rnn import PackedSequence

from rnnkit.patterns.language_model import detach_state

RecurrentState = Tensor | tuple[Tensor, ...]
CLIP_ALGORITHMS = ("norm", "value")
SETTING_KEYS = (
    "tbptt_steps",
    "tbptt_gradient_clip_val",
    "tbptt_gradient_clip_algorithm",
    "tbptt_accumulate_chunks",
)


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name}: expected a positive integer, got {value!r}")
    return value


def check_tbptt_steps(value: Any, name: str = "model.tbptt_steps") -> int | None:
    """``None`` (truncated BPTT off) or a positive int ``k``; anything else is a ValueError."""
    return None if value is None else _positive_int(name, value)


def chunk_slices(length: int, steps: int, align_end: bool = False) -> list[slice]:
    """Slices cutting ``length`` steps into chunks of ``steps``.

    With ``align_end=False`` the chunks start at ``0, k, 2k, ...`` (the last may be shorter);
    with ``align_end=True`` they end at ``length, length - k, ...`` (the first may be shorter).
    """
    _positive_int("length", length)
    _positive_int("steps", steps)
    if align_end:
        ends = list(range(length, 0, -steps))[::-1]
        return [slice(max(end - steps, 0), end) for end in ends]
    return [slice(start, min(start + steps, length)) for start in range(0, length, steps)]


def reset_rows(state: RecurrentState | None, rows: Tensor) -> RecurrentState | None:
    """Zero the batch rows ``rows (N,) bool`` of a state in the ``hx`` layout (batch on
    dimension 1 of every component). ``None`` (zeros) stays ``None``."""
    if state is None:
        return None
    keep = (~rows).view(1, -1, 1)
    if isinstance(state, Tensor):
        return state * keep.to(state.dtype)
    return tuple(component * keep.to(component.dtype) for component in state)


def run_resetting(
    forward: Callable[[Tensor, RecurrentState | None], tuple[Tensor, RecurrentState]],
    inputs: Tensor,
    state: RecurrentState | None,
    starts: Tensor | None = None,
) -> tuple[Tensor, RecurrentState]:
    """Run ``forward`` over ``inputs (N, L, ...)`` from ``state``, starting documents afresh.

    ``starts (N, L) bool`` marks the steps where a new document begins in a row: the state of
    that row is zeroed just before that step (the columns are split there, so every other row
    runs on unchanged). ``forward(inputs (N, l, ...), state) -> (outputs (N, l, ...), state)``
    is e.g. a language model's; the outputs of the pieces are concatenated on dimension 1.
    """
    length = inputs.shape[1]
    if starts is None or not bool(starts.any()):
        return forward(inputs, state)
    if tuple(starts.shape) != tuple(inputs.shape[:2]):
        raise ValueError(
            f"starts: expected shape {tuple(inputs.shape[:2])} (N, L) like the inputs, got "
            f"{tuple(starts.shape)}"
        )
    columns = starts.any(dim=0).nonzero().flatten().tolist()
    bounds = sorted({0, *columns, length})
    outputs = []
    for start, end in zip(bounds, bounds[1:]):
        state = reset_rows(state, starts[:, start])
        output, state = forward(inputs[:, start:end], state)
        outputs.append(output)
    return torch.cat(outputs, dim=1), state


@dataclass(frozen=True)
class TBPTTSettings:
    """How a task trains with truncated BPTT.

    Args:
        steps: ``k``, steps per chunk.
        gradient_clip_val: clip each step's gradients to this norm (or value); None or 0: no
            clipping. Replaces ``trainer.gradient_clip_val``, which Lightning refuses in manual
            optimisation.
        gradient_clip_algorithm: ``"norm"`` or ``"value"``.
        accumulate_chunks: one optimizer step every this many chunks (counted across batches
            of one epoch; a remainder is stepped with the epoch's last batch). Replaces
            ``trainer.accumulate_grad_batches``.
    """

    steps: int
    gradient_clip_val: float | None = None
    gradient_clip_algorithm: str = "norm"
    accumulate_chunks: int = 1

    def __post_init__(self) -> None:
        _positive_int("model.tbptt_steps", self.steps)
        _positive_int("model.tbptt_accumulate_chunks", self.accumulate_chunks)
        clip = self.gradient_clip_val
        if clip is not None and (
            isinstance(clip, bool) or not isinstance(clip, (int, float)) or not clip >= 0
        ):
            raise ValueError(
                f"model.tbptt_gradient_clip_val: expected a number >= 0 or null, got {clip!r}"
            )
        if self.gradient_clip_algorithm not in CLIP_ALGORITHMS:
            raise ValueError(
                f"model.tbptt_gradient_clip_algorithm: expected one of {CLIP_ALGORITHMS}, got "
                f"{self.gradient_clip_algorithm!r}"
            )

    @classmethod
    def from_model_config(cls, model: dict[str, Any]) -> TBPTTSettings | None:
        """The settings of a ``model`` config's ``tbptt_*`` keys; None when ``tbptt_steps`` is
        null (then the other keys must keep their defaults or be absent)."""
        steps = check_tbptt_steps(model.get("tbptt_steps"))
        unknown = sorted(k for k in model if k.startswith("tbptt_") and k not in SETTING_KEYS)
        if unknown:
            raise ValueError(
                f"model.{unknown[0]}: not a TBPTT key; expected some of {SETTING_KEYS}"
            )
        if steps is None:
            return None
        return cls(
            steps=steps,
            gradient_clip_val=model.get("tbptt_gradient_clip_val"),
            gradient_clip_algorithm=str(model.get("tbptt_gradient_clip_algorithm", "norm")),
            accumulate_chunks=model.get("tbptt_accumulate_chunks", 1),
        )


class ChunkOptimizer:
    """Lightning manual optimisation, one chunk at a time (the task sets
    ``automatic_optimization = False``).

    The task calls :meth:`check_trainer` from ``configure_callbacks`` (the only hook Lightning
    calls before it validates a manual-optimisation run, so the error is ours and says what to
    do), :meth:`adapt` on what ``configure_optimizers`` returns, :meth:`backward` on each
    chunk's loss, :meth:`end_batch` at the end of each training step, :meth:`clip` from
    ``on_before_optimizer_step``, :meth:`on_epoch_start` and :meth:`on_epoch_end` from its
    epoch hooks.
    """

    def __init__(self, settings: TBPTTSettings) -> None:
        self.settings = settings
        self.pending = 0  # chunks backpropagated since the last optimizer step
        self.monitor: str | None = None  # ReduceLROnPlateau's metric (dropped by Lightning)

    def check_trainer(self, trainer: Any) -> None:
        """Refuse Trainer options that Lightning refuses in manual optimisation, naming ours."""
        if getattr(trainer.state, "fn", None) not in ("fit", None):
            return  # validate / test / predict: no optimisation, nothing to refuse
        if trainer.gradient_clip_val:
            raise ValueError(
                f"trainer.gradient_clip_val: truncated BPTT (model.tbptt_steps="
                f"{self.settings.steps}) optimises chunk by chunk in Lightning's manual "
                f"optimisation, where Lightning cannot clip; expected null, got "
                f"{trainer.gradient_clip_val}. Set trainer.gradient_clip_val=null and "
                f"model.tbptt_gradient_clip_val={trainer.gradient_clip_val} (the task clips "
                f"each chunk's step; experiment=language_model_tbptt does this)"
            )
        if trainer.accumulate_grad_batches != 1:
            raise ValueError(
                f"trainer.accumulate_grad_batches: truncated BPTT (model.tbptt_steps="
                f"{self.settings.steps}) accumulates chunks itself; expected 1, got "
                f"{trainer.accumulate_grad_batches}. Set trainer.accumulate_grad_batches=1 "
                f"and model.tbptt_accumulate_chunks=<n> (one step every n chunks)"
            )

    def adapt(self, optimizers: Any) -> Any:
        """``configure_optimizers``' result without the keys Lightning ignores (with a
        warning) in manual optimisation: ``monitor`` is kept here for ReduceLROnPlateau."""
        if isinstance(optimizers, dict) and isinstance(optimizers.get("lr_scheduler"), dict):
            scheduler = dict(optimizers["lr_scheduler"])
            self.monitor = scheduler.pop("monitor", None)
            scheduler.pop("strict", None)
            scheduler.pop("reduce_on_plateau", None)
            optimizers = {**optimizers, "lr_scheduler": scheduler}
        return optimizers

    def backward(self, module: Any, loss: Tensor) -> None:
        """Backpropagate one chunk's loss; step when ``accumulate_chunks`` chunks are in."""
        module.manual_backward(loss / self.settings.accumulate_chunks)
        self.pending += 1
        if self.pending >= self.settings.accumulate_chunks:
            self.step(module)

    def step(self, module: Any) -> None:
        """Step and zero the optimizer (clipping in between, see :meth:`clip`), then step the
        ``interval: step`` schedulers."""
        if not self.pending:
            return
        optimizer = module.optimizers()
        if isinstance(optimizer, list):
            raise ValueError(f"optimizer: truncated BPTT steps one optimizer, got {len(optimizer)}")
        optimizer.step()
        optimizer.zero_grad()
        self.pending = 0
        self._step_schedulers(module.trainer, "step", module.trainer.global_step)

    def clip(self, module: Any, optimizer: Any) -> None:
        """Clip with the settings through the task's ``configure_gradient_clipping`` (so
        callbacks listening for clipping are notified). Call it from the task's
        ``on_before_optimizer_step``: Lightning runs that hook inside ``optimizer.step()``
        after unscaling mixed-precision gradients and after the callbacks' hook, as it clips
        in automatic optimisation."""
        module.configure_gradient_clipping(
            optimizer,
            gradient_clip_val=self.settings.gradient_clip_val,
            gradient_clip_algorithm=self.settings.gradient_clip_algorithm,
        )

    def end_batch(self, module: Any, batch_idx: int) -> None:
        """After a training batch: step the chunks still accumulated if it is the epoch's last
        (inside the training step, so Lightning counts the step in ``global_step``)."""
        total = module.trainer.num_training_batches
        if math.isfinite(total) and batch_idx + 1 >= total:
            self.step(module)

    def on_epoch_start(self, module: Any) -> None:
        """Forget gradients left by an interrupted epoch."""
        if self.pending:
            module.optimizers().zero_grad()
        self.pending = 0

    def on_epoch_end(self, module: Any) -> None:
        """Step the chunks still accumulated (a loader without a length: the last batch was
        not known in advance; this step is not counted in ``global_step``), then the
        ``interval: epoch`` schedulers."""
        self.step(module)
        self._step_schedulers(module.trainer, "epoch", module.trainer.current_epoch + 1)

    def _step_schedulers(self, trainer: Any, interval: str, count: int) -> None:
        for config in trainer.lr_scheduler_configs:
            if config.interval != interval or count % config.frequency:
                continue
            if isinstance(config.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                value = trainer.callback_metrics.get(self.monitor) if self.monitor else None
                if value is None:
                    raise ValueError(
                        f"scheduler.monitor: ReduceLROnPlateau needs a logged metric; got "
                        f"{self.monitor!r}, logged: {sorted(trainer.callback_metrics)}"
                    )
                config.scheduler.step(value)
            else:
                config.scheduler.step()


class TruncatedHistory:
    """Forward pre-hook: a recurrent layer backpropagates through its last ``steps`` steps.

    Registered on a unidirectional :class:`~rnnkit.layers.recurrent.Recurrent` (with
    :meth:`install`), a call on ``L > steps`` steps first reads the first ``L - steps`` steps
    chunk by chunk under ``torch.no_grad()`` (nothing kept for backward, so memory does not
    grow with ``L``), then runs the layer on the last ``steps`` steps from that state. The
    final state is the full sequence's (same values); gradients stop ``steps`` steps back, as
    truncated BPTT with the chunk boundaries aligned on the sequence end. The returned outputs
    cover the last ``steps`` steps only: for callers that read the final state (a forecaster's
    encoder). ``L <= steps`` runs unchanged (full BPTT).
    """

    def __init__(self, steps: int) -> None:
        self.steps = _positive_int("model.tbptt_steps", steps)
        self._inside = False

    def install(self, layer: torch.nn.Module) -> Any:
        """Register on ``layer``; returns the handle (``handle.remove()`` uninstalls)."""
        if getattr(layer, "bidirectional", False):
            raise ValueError(
                "cell.bidirectional: truncated BPTT reads the history forward in chunks; a "
                "backward direction would need the steps after each chunk; expected false "
                "with model.tbptt_steps set, got true"
            )
        return layer.register_forward_pre_hook(self, with_kwargs=True)

    def __call__(self, layer: Any, args: tuple, kwargs: dict) -> tuple[tuple, dict] | None:
        if self._inside:
            return None
        names = ("input", "hx", "lengths")
        given = {**dict(zip(names, args)), **kwargs}
        inputs, state = given.get("input"), given.get("hx")
        if isinstance(inputs, PackedSequence) or given.get("lengths") is not None:
            raise ValueError(
                "lengths: truncated BPTT over a history (model.tbptt_steps) needs full-length "
                "histories; got lengths or a PackedSequence"
            )
        time_dim = 1 if layer.batch_first and inputs.dim() == 3 else 0
        length = inputs.shape[time_dim]
        if length <= self.steps:
            return None
        prefix = length - self.steps
        self._inside = True
        try:
            with torch.no_grad():
                for piece in chunk_slices(prefix, self.steps):
                    chunk = inputs.narrow(time_dim, piece.start, piece.stop - piece.start)
                    _, state = layer(chunk, state)
        finally:
            self._inside = False
        return (inputs.narrow(time_dim, prefix, self.steps), detach_state(state)), {}
