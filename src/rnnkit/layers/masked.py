"""Variable lengths with static shapes: every step of a padded batch runs, masks keep the state.

The packed runner (:mod:`rnnkit.layers.runner`) shrinks the batch as sequences end, so its
shapes depend on the values of ``lengths``: ``torch.export`` cannot trace it and
``torch.compile`` would specialise on every new set of lengths. Here the batch keeps its
``(L, N, F)`` shape at every step: a sequence past its length still goes through the step,
but ``torch.where`` keeps its previous state and its output is zero. The reverse direction
reads each sequence backwards from its own last real step (a gather with per-sequence
indices), runs the same masked forward loop, and puts the outputs back in place.

The results equal the packed runner's (same equations, float rounding aside; tested to 1e-10
in float64, gradients too). :class:`rnnkit.Recurrent` runs it for ``lengths=`` while
tracing (``torch.export``, ONNX export, and ``torch.compile`` of non-fused cells).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnkit.cells.base import RecurrentCell, State


def reversal_indices(lengths: Tensor, steps: int) -> Tensor:
    """``(L, N)`` time indices that reverse each sequence within its length.

    ``index[t, n] = lengths[n] - 1 - t`` for ``t < lengths[n]``, else ``t`` (padding stays
    where it is). The permutation is its own inverse.
    """
    t = torch.arange(steps, device=lengths.device).unsqueeze(1)
    lengths = lengths.unsqueeze(0)
    return torch.where(t < lengths, lengths - 1 - t, t)


def run_masked_direction(
    cell: RecurrentCell,
    inputs: Tensor,
    alive: Tensor,
    initial_state: State,
) -> tuple[Tensor, State]:
    """Run ``cell`` forward over all ``L`` steps of a padded batch, updating only live rows.

    Args:
        inputs: ``(L, N, H_in)`` time-major, each sequence's real steps first.
        alive: ``(L, N, 1)`` bool, True at real steps.
        initial_state: tuple of ``(N, s)`` tensors.

    Returns:
        ``outputs (L, N, H_out)``, zero at padded steps, and the state after each
        sequence's last real step.
    """
    steps, batch = inputs.shape[:2]
    projected = cell.project_input(inputs.reshape(steps * batch, -1)).view(steps, batch, -1)
    state = initial_state
    outputs = []
    for x_t, alive_t in zip(projected.unbind(0), alive.unbind(0)):
        output, new_state = cell.step(x_t, state)
        state = tuple(torch.where(alive_t, new, old) for new, old in zip(new_state, state))
        outputs.append(torch.where(alive_t, output, output.new_zeros(())))
    return torch.stack(outputs), state


def run_masked_stack(
    cells: Sequence[Sequence[RecurrentCell]],
    inputs: Tensor,
    lengths: Tensor,
    initial_states: Sequence[State],
    dropout: float = 0.0,
    training: bool = False,
) -> tuple[Tensor, list[State]]:
    """Stacked, optionally bidirectional layers over a padded batch with ``lengths``.

    The static-shape twin of :func:`rnnkit.layers.runner.run_stack` (same arguments and
    results), for a padded ``(L, N, H_in)`` time-major batch and ``(N,)`` lengths in
    ``[1, L]`` instead of packed steps.

    Returns:
        ``outputs (L, N, D * H_out)``, zero past each length, and the final state of every
        (layer, direction) in the order of ``initial_states``.
    """
    steps = inputs.shape[0]
    lengths = lengths.to(inputs.device)
    alive = (torch.arange(steps, device=inputs.device).unsqueeze(1) < lengths).unsqueeze(-1)
    reverse_index = None
    finals: list[State] = []
    layer_inputs = inputs
    for layer, directions in enumerate(cells):
        if layer > 0 and dropout > 0 and training:
            layer_inputs = F.dropout(layer_inputs, dropout, training=True)
        outputs = []
        for direction, cell in enumerate(directions):
            state0 = initial_states[layer * len(directions) + direction]
            if direction == 0:
                output, final = run_masked_direction(cell, layer_inputs, alive, state0)
            else:
                if reverse_index is None:
                    reverse_index = reversal_indices(lengths, steps).unsqueeze(-1)
                backwards = _gather_steps(layer_inputs, reverse_index)
                output, final = run_masked_direction(cell, backwards, alive, state0)
                output = _gather_steps(output, reverse_index)
            outputs.append(output)
            finals.append(final)
        layer_inputs = outputs[0] if len(outputs) == 1 else torch.cat(outputs, dim=-1)
    return layer_inputs, finals


def bucket_length(length: int, multiple: int = 8) -> int:
    """The padded length of a bucket: ``length`` rounded up to a multiple of ``multiple``.

    Padding every batch to its bucket's length lets compiled (or, on the GPU, captured) code
    meet a handful of shapes instead of one per longest sequence.
    """
    if isinstance(multiple, bool) or not isinstance(multiple, int) or multiple < 1:
        raise ValueError(f"multiple: expected a positive integer, got {multiple!r}")
    return -(-length // multiple) * multiple


def pad_to_bucket(inputs: Tensor, multiple: int = 8, batch_first: bool = False) -> Tensor:
    """Zero-pad the time dimension of ``inputs`` (``(L, N, F)``, or ``(N, L, F)`` with
    ``batch_first``) to :func:`bucket_length`; with ``lengths=`` the padding is never read."""
    time_dim = 1 if batch_first else 0
    steps = inputs.shape[time_dim]
    extra = bucket_length(steps, multiple) - steps
    if extra == 0:
        return inputs
    shape = list(inputs.shape)
    shape[time_dim] = extra
    return torch.cat((inputs, inputs.new_zeros(shape)), dim=time_dim)


def _gather_steps(values: Tensor, index: Tensor) -> Tensor:
    """``values[index[t, n], n]`` for ``(L, N, F)`` values and ``(L, N, 1)`` indices."""
    return values.gather(0, index.expand(-1, -1, values.shape[-1]))
