"""The one recurrence runner for any cell: a direction at a time, then stacked layers.

Sequences travel in the packed layout of :class:`torch.nn.utils.rnn.PackedSequence`: the
steps of all sequences sorted by decreasing length, time-major, ``data: (sum(lengths), F)``
with ``batch_sizes[t]`` sequences alive at step ``t``. A batch of equal-length sequences is
the special case ``batch_sizes = [N] * L``, i.e. a ``(L, N, F)`` tensor flattened.

Because the sequences alive at step ``t`` are always the first ``batch_sizes[t]`` rows, a
finished sequence simply drops out of the batch: padded steps are never computed, so they
cannot change a result.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnkit.cells.base import RecurrentCell, State
from rnnkit.layers.standard_loop import (
    has_standard_loop,
    run_standard_direction,
    standard_loop_allowed,
)
from rnnkit.layers.time_loop import loop_steps


def run_direction(
    cell: RecurrentCell,
    inputs: Tensor,
    batch_sizes: Sequence[int],
    initial_state: State,
    reverse: bool = False,
) -> tuple[Tensor, State]:
    """Run ``cell`` over packed ``inputs`` in one direction.

    The input projection of all steps is one call of ``cell.project_input``; the generic time
    loop (:func:`~rnnkit.layers.time_loop.loop_steps`) then calls ``cell.step`` once per step.
    Exact RNNCell, LSTMCell and GRUCell instances
    (:func:`~rnnkit.layers.standard_loop.has_standard_loop`) run the same loop as one
    autograd node with a hand-written backward instead
    (:mod:`rnnkit.layers.standard_loop`): same results, less per-step overhead. They keep the
    generic loop under torch.compile / torch.export, torch.func transforms and autocast
    (:func:`~rnnkit.layers.standard_loop.standard_loop_allowed`).

    Args:
        inputs: ``(sum(batch_sizes), H_in)`` packed steps.
        batch_sizes: non-increasing list of ints, sequences alive at each step.
        initial_state: tuple of ``(batch_sizes[0], s)`` tensors.
        reverse: run from each sequence's last real step back to step 0.

    Returns:
        ``outputs (sum(batch_sizes), H_out)`` in the same packed layout, and the final state
        (a tuple of ``(batch_sizes[0], s)``): the state after each sequence's last real step
        (forward) or after step 0 (reverse).
    """
    if has_standard_loop(cell) and standard_loop_allowed(inputs):
        return run_standard_direction(cell, inputs, batch_sizes, initial_state, reverse)
    projected = cell.project_input(inputs)
    return loop_steps(cell.step, projected, batch_sizes, initial_state, reverse)


def run_stack(
    cells: Sequence[Sequence[RecurrentCell]],
    inputs: Tensor,
    batch_sizes: Sequence[int],
    initial_states: Sequence[State],
    dropout: float = 0.0,
    training: bool = False,
) -> tuple[Tensor, list[State]]:
    """Run stacked (and optionally bidirectional) layers over packed ``inputs``.

    Args:
        cells: ``cells[layer][direction]``; direction 1, when present, runs in reverse.
        inputs: ``(sum(batch_sizes), H_in)`` packed steps.
        initial_states: one state per (layer, direction), in the order
            ``layer * num_directions + direction`` (torch's ``h_0`` order).
        dropout: probability of zeroing the outputs of every layer but the last, in
            training only (torch.nn's semantics).

    Returns:
        The last layer's packed outputs ``(sum(batch_sizes), D * H_out)`` and the final
        state of every (layer, direction), in the order of ``initial_states``.
    """
    finals: list[State] = []
    layer_inputs = inputs
    for layer, directions in enumerate(cells):
        if layer > 0 and dropout > 0 and training:
            layer_inputs = F.dropout(layer_inputs, dropout, training=True)
        outputs = []
        for direction, cell in enumerate(directions):
            state0 = initial_states[layer * len(directions) + direction]
            output, final = run_direction(
                cell, layer_inputs, batch_sizes, state0, reverse=direction == 1
            )
            outputs.append(output)
            finals.append(final)
        layer_inputs = outputs[0] if len(outputs) == 1 else torch.cat(outputs, dim=-1)
    return layer_inputs, finals
