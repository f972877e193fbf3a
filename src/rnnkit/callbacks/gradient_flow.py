"""Gradient flow through time: how much of the loss's gradient reaches each time step.

Backpropagation through time multiplies the gradient by one Jacobian per step, so over long
sequences it shrinks (vanishes) or grows (explodes) geometrically. This module measures it.

**Definition.** For a training batch with loss ``L`` and a recurrent layer (one layer, one
direction) whose step ``t`` outputs ``h_t`` of shape ``(n_t, H)`` (``n_t`` the sequences
alive at step ``t``), the logged gradient norm at ``t`` is the Frobenius norm over the batch
and the features of the **total** gradient::

    g_t = || dL/dh_t ||_F = sqrt( sum_{n < n_t} sum_j (dL/dh_t[n, j])^2 )

"Total" means through every path: the layer's output at ``t`` (the next layer, pooling, the
head) and the recurrence (``h_t`` feeds ``h_{t+1}``; ``h_{t-1}`` for a reverse direction).
It is what ``h_t.register_hook`` receives. Steps are numbered in real time order ``t = 1..T``
(``T`` the padded length of the batch) in the formulas below and from 0 in the data.

``first_to_last_ratio = g_1 / g_T``: far below 1 when the gradient vanishes on its way back
from the end of the sequence (many-to-one models read ``h_T``), far above 1 when it explodes.
For a reverse direction the recurrence runs from ``T`` to ``1``, so there the same vanishing
shows as a ratio far *above* 1.

Also measured, from the forward pass of the same step: mean ``|h_t|`` and mean ``|c_t|``
(the second state component, the cell state of an LSTM) over all steps, rows and features,
and for the standard :class:`~rnnkit.cells.LSTMCell` / :class:`~rnnkit.cells.GRUCell` the
share of **saturated** sigmoid gate activations (``< threshold`` or ``> 1 - threshold``,
threshold 0.05): gates recomputed from the step's projected input and previous state with the
cell's weights (input/forget/output gates of an LSTM, reset/update gates of a GRU). Saturated
gates pass (almost) no gradient through their own pre-activation.

:class:`GradientFlowRecorder` measures one forward+backward of any model (no Lightning);
:class:`GradientFlowCallback` runs it every ``every_n_steps`` training steps and logs to
TensorBoard. On other steps the callback does one integer comparison: the model runs its
fused kernels untouched. On a measuring step the layers run the generic step loop and every
step output carries a gradient hook, so that step is slower (see docs/vanishing_gradients.md);
the figures are drawn once, when training ends, unless asked for more often.
"""

from __future__ import annotations

import contextlib
import json
import math
import warnings
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from torch import Tensor, nn

from rnnkit.cells.gru import GRUCell
from rnnkit.cells.lstm import LSTMCell
from rnnkit.figures.gradient_flow import heatmap_figure, norm_vs_time_figure
from rnnkit.layers.observe import ObservedStep, observe_steps, recurrent_layers

LSTM_GATES = {"input": 0, "forget": 1, "output": 3}  # chunk index among i, f, g, o
GRU_GATES = {"reset": 0, "update": 1}  # chunk index among r, z, n


@dataclass
class GradientFlowSnapshot:
    """What one measured training step showed, per recurrent layer and direction.

    Keys of every dict are layer names as :attr:`rnnkit.layers.observe.ObservedStep.name`
    gives them (``model.rnn.l0``, ``model.rnn.l0_reverse``...).

    Attributes:
        step: the trainer's ``global_step`` (or the caller's step number).
        grad_norms: ``||dL/dh_t||`` for ``t = 0 .. T-1`` (see the module docstring); 0.0 for a
            step whose output got no gradient.
        mean_abs_h: mean ``|h_t|`` over steps, rows and features.
        mean_abs_c: mean ``|c_t|`` (second state component), for cells that have one.
        gate_saturation: ``{gate: share}`` of saturated sigmoid activations, with ``"all"``
            for all gates together; standard LSTM and GRU cells only.
    """

    step: int
    grad_norms: dict[str, list[float]] = field(default_factory=dict)
    mean_abs_h: dict[str, float] = field(default_factory=dict)
    mean_abs_c: dict[str, float] = field(default_factory=dict)
    gate_saturation: dict[str, dict[str, float]] = field(default_factory=dict)

    def first_to_last_ratio(self) -> dict[str, float]:
        """``||dL/dh_1|| / ||dL/dh_T||`` per layer (inf or nan when the last norm is 0)."""
        ratios = {}
        for name, norms in self.grad_norms.items():
            first, last = norms[0], norms[-1]
            ratios[name] = first / last if last > 0 else (math.nan if first == 0 else math.inf)
        return ratios

    def scalars(self) -> dict[str, float]:
        """Everything as flat ``grad_flow/...`` scalars, as the callback logs them."""
        values = {
            f"grad_flow/first_to_last_ratio/{name}": ratio
            for name, ratio in self.first_to_last_ratio().items()
        }
        values.update({f"grad_flow/first_norm/{n}": v[0] for n, v in self.grad_norms.items()})
        values.update({f"grad_flow/last_norm/{n}": v[-1] for n, v in self.grad_norms.items()})
        values.update({f"grad_flow/mean_abs_h/{n}": v for n, v in self.mean_abs_h.items()})
        values.update({f"grad_flow/mean_abs_c/{n}": v for n, v in self.mean_abs_c.items()})
        for name, gates in self.gate_saturation.items():
            values[f"grad_flow/gate_saturation/{name}"] = gates["all"]
            values.update(
                {
                    f"grad_flow/gate_saturation/{name}/{gate}": share
                    for gate, share in gates.items()
                    if gate != "all"
                }
            )
        return values

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> GradientFlowSnapshot:
        return cls(**data)


class GradientFlowRecorder:
    """Measure one forward and backward of ``model``: use as a context around both.

    ::

        recorder = GradientFlowRecorder(model)
        with recorder:
            loss = loss_fn(model(inputs), targets)
            loss.backward()
        snapshot = recorder.snapshot(step=0)

    Inside the block every :class:`rnnkit.Recurrent` of ``model`` runs its step loop (see
    :func:`rnnkit.layers.observe.observe_steps`) and each step output gets a gradient hook.
    When a layer runs several times inside the block (a decoder fed one step per call), its
    calls are laid end to end along ``t``.

    Args:
        model: any module containing rnnkit.Recurrent layers.
        saturation_threshold: a sigmoid gate value below it or above ``1 - threshold``
            counts as saturated.
    """

    def __init__(self, model: nn.Module, saturation_threshold: float = 0.05) -> None:
        _check_threshold(saturation_threshold)
        self.model = model
        self.saturation_threshold = saturation_threshold
        self._stack: contextlib.ExitStack | None = None
        self._squares: dict[str, dict[int, Tensor]] = {}
        self._lengths: dict[str, int] = {}
        self._calls: dict[str, tuple[int, int]] = {}  # name -> (current call, its base t)
        self._abs: dict[str, list[Tensor]] = {}  # name -> [sum |h|, count, sum |c|, count]
        self._gates: dict[str, dict[str, list[Tensor]]] = {}  # name -> gate -> [hits, count]

    # ---- context ---------------------------------------------------------------------

    def __enter__(self) -> GradientFlowRecorder:
        self.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    def start(self) -> None:
        """Begin observing (what ``with`` does on entry)."""
        if self._stack is not None:
            raise RuntimeError("GradientFlowRecorder: already started")
        stack = contextlib.ExitStack()
        stack.enter_context(observe_steps(self.model, self._observe))
        self._stack = stack

    def stop(self) -> None:
        """Stop observing and restore the layers (gradient hooks already fired stay counted)."""
        stack, self._stack = self._stack, None
        if stack is not None:
            stack.close()

    # ---- per step --------------------------------------------------------------------

    def _observe(self, record: ObservedStep) -> None:
        name = record.name
        call, base = self._calls.get(name, (None, 0))
        if call != record.call:
            base = self._lengths.get(name, 0)
            self._calls[name] = (record.call, base)
        t = base + record.time
        self._lengths[name] = max(self._lengths.get(name, 0), t + 1)

        squares = self._squares.setdefault(name, {})
        if record.output.requires_grad:
            record.output.register_hook(_square_norm_hook(squares, t))
        with torch.no_grad():
            sums = self._abs.setdefault(name, [0.0, 0, 0.0, 0])
            sums[0] = sums[0] + record.output.abs().sum().double()
            sums[1] += record.output.numel()
            if len(record.state) > 1:
                sums[2] = sums[2] + record.state[1].abs().sum().double()
                sums[3] += record.state[1].numel()
            gates = self._gate_activations(record)
            if gates:
                counts = self._gates.setdefault(name, {})
                for gate, values in gates.items():
                    low = self.saturation_threshold
                    hits = ((values < low) | (values > 1 - low)).sum()
                    entry = counts.setdefault(gate, [0, 0])
                    entry[0] = entry[0] + hits
                    entry[1] += values.numel()

    def _gate_activations(self, record: ObservedStep) -> dict[str, Tensor]:
        """Sigmoid gate values ``(n, H)`` recomputed for standard LSTM/GRU cells, else {}."""
        cell, x_t, h_prev = record.cell, record.projected_input, record.previous_state[0]
        kind = type(cell)
        if kind is LSTMCell:
            chunks = torch.addmm(x_t, h_prev, cell.weight_hh.t()).chunk(4, dim=1)
            return {gate: torch.sigmoid(chunks[k]) for gate, k in LSTM_GATES.items()}
        if kind is GRUCell:
            hidden = h_prev @ cell.weight_hh.t()
            if cell.bias_hh is not None:
                hidden = hidden + cell.bias_hh
            x_chunks, h_chunks = x_t.chunk(3, dim=1), hidden.chunk(3, dim=1)
            return {gate: torch.sigmoid(x_chunks[k] + h_chunks[k]) for gate, k in GRU_GATES.items()}
        return {}

    # ---- result ----------------------------------------------------------------------

    def snapshot(self, step: int = 0) -> GradientFlowSnapshot:
        """The measurements so far (call after backward)."""
        snapshot = GradientFlowSnapshot(step=int(step))
        for name, length in self._lengths.items():
            squares = self._squares.get(name, {})
            snapshot.grad_norms[name] = [
                math.sqrt(float(squares[t])) if t in squares else 0.0 for t in range(length)
            ]
            abs_h, count_h, abs_c, count_c = self._abs[name]
            snapshot.mean_abs_h[name] = float(abs_h) / max(count_h, 1)
            if count_c:
                snapshot.mean_abs_c[name] = float(abs_c) / count_c
            if name in self._gates:
                gates = self._gates[name]
                shares = {gate: float(hits) / count for gate, (hits, count) in gates.items()}
                total = sum(count for _, count in gates.values())
                shares["all"] = float(sum(hits for hits, _ in gates.values())) / total
                snapshot.gate_saturation[name] = shares
        return snapshot


def _check_positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name}: expected a positive integer, got {value!r}")


def _check_threshold(value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 0.5:
        raise ValueError(f"saturation_threshold: expected a number in (0, 0.5), got {value!r}")


def _square_norm_hook(squares: dict[int, Tensor], t: int):
    def hook(grad: Tensor | None) -> None:
        if grad is None:  # an output of a multi-output node that got no gradient
            return
        value = grad.detach().double().pow(2).sum()
        squares[t] = squares[t] + value if t in squares else value

    return hook


class GradientFlowCallback(pl.Callback):
    """Log the gradient flow through time every ``every_n_steps`` training steps.

    On a training step with ``global_step % every_n_steps == 0`` (the first micro-batch of
    it, under gradient accumulation), a :class:`GradientFlowRecorder` observes the forward
    and backward of the LightningModule; after backward it logs, at that global step:

    * scalars (to every logger): ``grad_flow/first_to_last_ratio/<layer>``,
      ``grad_flow/first_norm/<layer>``, ``grad_flow/last_norm/<layer>``,
      ``grad_flow/mean_abs_h/<layer>``, ``grad_flow/mean_abs_c/<layer>`` (LSTM),
      ``grad_flow/gate_saturation/<layer>`` and ``.../<layer>/<gate>`` (LSTM, GRU);
    * figures (TensorBoard, drawn by :mod:`rnnkit.figures.gradient_flow`):
      ``grad_flow/norm_vs_time`` (``||dL/dh_t||`` against ``t``, one line per layer and
      direction, log scale) and ``grad_flow/heatmap`` (``log10`` of the norm over ``t`` x
      measured step, every snapshot so far, redrawn each time).

    Definitions are in :mod:`rnnkit.callbacks.gradient_flow`. On all other steps it does
    nothing but one comparison.

    Args:
        every_n_steps: measure when ``global_step`` is a multiple of it.
        max_steps_logged: snapshots kept in :attr:`history` (and drawn in the heatmap); older
            ones are dropped.
        saturation_threshold: see :class:`GradientFlowRecorder`.
        log_figures: draw the figures (TensorBoard loggers only).
        figure_every_n_steps: also draw them on measuring steps that are multiples of it;
            None (the default): only once, when training ends, from the last snapshot (the
            heatmap shows every kept snapshot either way). Drawing two figures costs as much
            as tens of training steps of a small model, and drawing them at every measuring
            step tripled the callback's cost (docs/benchmarks.md).
        history_file: if set, :attr:`history` is written there as JSON when training ends
            (a list of :meth:`GradientFlowSnapshot.to_json`).

    Attributes:
        history: the kept :class:`GradientFlowSnapshot`, oldest first.
    """

    def __init__(
        self,
        every_n_steps: int = 50,
        max_steps_logged: int = 100,
        saturation_threshold: float = 0.05,
        log_figures: bool = True,
        figure_every_n_steps: int | None = None,
        history_file: str | None = None,
    ) -> None:
        super().__init__()
        _check_positive_int("every_n_steps", every_n_steps)
        _check_positive_int("max_steps_logged", max_steps_logged)
        _check_threshold(saturation_threshold)
        self.every_n_steps = every_n_steps
        self.max_steps_logged = max_steps_logged
        self.saturation_threshold = saturation_threshold
        self.log_figures = log_figures
        if figure_every_n_steps is not None:
            _check_positive_int("figure_every_n_steps", figure_every_n_steps)
        self.figure_every_n_steps = figure_every_n_steps
        self.history_file = history_file
        self.history: deque[GradientFlowSnapshot] = deque(maxlen=max_steps_logged)
        self._recorder: GradientFlowRecorder | None = None
        self._last_step: int | None = None
        self._has_recurrent: bool | None = None
        self._drawn_step: int | None = None  # the step of the last figures drawn

    # ---- Lightning hooks -------------------------------------------------------------

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        step = trainer.global_step
        if step % self.every_n_steps or step == self._last_step:
            return
        self._last_step = step
        if self._has_recurrent is None:
            self._has_recurrent = bool(recurrent_layers(pl_module))
            if not self._has_recurrent:
                warnings.warn(
                    "GradientFlowCallback: the model has no rnnkit.Recurrent layer; nothing "
                    "to measure",
                    stacklevel=2,
                )
        if self._has_recurrent:
            self._recorder = GradientFlowRecorder(pl_module, self.saturation_threshold)
            self._recorder.start()

    def on_after_backward(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        recorder, self._recorder = self._recorder, None
        if recorder is None:
            return
        recorder.stop()
        snapshot = recorder.snapshot(trainer.global_step)
        if not snapshot.grad_norms:
            return
        self.history.append(snapshot)
        self._log(trainer, snapshot)

    def on_train_batch_end(self, *args: Any, **kwargs: Any) -> None:
        self._discard()  # no backward ran (e.g. training_step returned None)

    def on_exception(self, *args: Any, **kwargs: Any) -> None:
        self._discard()

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.history and self.history[-1].step != self._drawn_step:
            self._draw(trainer, self.history[-1])
        if self.history_file and trainer.is_global_zero:
            path = Path(self.history_file)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps([s.to_json() for s in self.history]))

    def _discard(self) -> None:
        recorder, self._recorder = self._recorder, None
        if recorder is not None:
            recorder.stop()

    # ---- logging ---------------------------------------------------------------------

    def _log(self, trainer: pl.Trainer, snapshot: GradientFlowSnapshot) -> None:
        scalars = snapshot.scalars()
        for logger in trainer.loggers:
            logger.log_metrics(scalars, step=snapshot.step)
        if self.figure_every_n_steps and snapshot.step % self.figure_every_n_steps == 0:
            self._draw(trainer, snapshot)

    def _draw(self, trainer: pl.Trainer, snapshot: GradientFlowSnapshot) -> None:
        """The two figures at ``snapshot``'s step, the heatmap over the kept history."""
        writer = _tensorboard_writer(trainer)
        if writer is None or not self.log_figures:
            return
        self._drawn_step = snapshot.step
        writer.add_figure(
            "grad_flow/norm_vs_time",
            norm_vs_time_figure(snapshot.grad_norms, snapshot.step),
            snapshot.step,
            close=True,
        )
        writer.add_figure(
            "grad_flow/heatmap",
            heatmap_figure([(s.step, s.grad_norms) for s in self.history]),
            snapshot.step,
            close=True,
        )


def _tensorboard_writer(trainer: pl.Trainer):
    for logger in trainer.loggers:
        experiment = getattr(logger, "experiment", None)
        if experiment is not None and hasattr(experiment, "add_figure"):
            return experiment
    return None
