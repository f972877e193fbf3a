"""The generic time loop: one call of a step function per packed step, for any cell.

The packed layout is the one of :class:`torch.nn.utils.rnn.PackedSequence` (see
:mod:`rnnkit.layers.runner`): ``batch_sizes[t]`` sequences are alive at step ``t``, always
the first rows, so a finished sequence simply drops out of the batch and padded steps are
never computed.

:func:`loop_steps` is the loop that :func:`rnnkit.layers.runner.run_direction` runs over
``cell.step`` for any cell, and the differentiable reference that
:mod:`rnnkit.layers.standard_loop` differentiates for double backward. It depends on nothing
else in :mod:`rnnkit.layers`, so both can import it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from rnnkit.cells.base import State

StepFunction = Callable[[Tensor, State], tuple[Tensor, State]]
"""``step(x_t, state) -> (output_t, new_state)``, as :meth:`RecurrentCell.step`."""


def loop_steps(
    step: StepFunction,
    projected: Tensor,
    batch_sizes: Sequence[int],
    initial_state: State,
    reverse: bool = False,
) -> tuple[Tensor, State]:
    """Run ``step`` over the packed, already projected steps in one direction.

    ``step(x_t, state) -> (output_t, new_state)`` is called once per step on its
    ``(batch_sizes[t], P)`` block of ``projected``, with the state rows of the sequences
    alive at that step.

    Args:
        step: the step function, e.g. a cell's ``step``.
        projected: ``(sum(batch_sizes), P)`` packed steps, e.g. ``cell.project_input(x)``.
        batch_sizes: non-increasing ints, sequences alive at each step.
        initial_state: tuple of ``(batch_sizes[0], s)`` tensors.
        reverse: run from each sequence's last real step back to step 0.

    Returns:
        ``outputs (sum(batch_sizes), H_out)`` in the same packed layout, and the final state
        (a tuple of ``(batch_sizes[0], s)``): the state after each sequence's last real step
        (forward) or after step 0 (reverse).
    """
    batch = batch_sizes[0]
    uniform = batch_sizes[-1] == batch
    # unbind/split give views whose backward is one concatenation; indexing projected[t] in
    # the loop would instead make backward quadratic in the sequence length.
    if uniform:
        steps = projected.reshape(len(batch_sizes), batch, -1).unbind(0)
    else:
        steps = projected.split(list(batch_sizes))

    outputs: list[Tensor] = []
    if uniform:
        state = initial_state
        for x_t in reversed(steps) if reverse else steps:
            output, state = step(x_t, state)
            outputs.append(output)
        if reverse:
            outputs.reverse()
        return torch.cat(outputs), state

    if not reverse:
        state, alive = initial_state, batch
        finished: list[State] = []
        for x_t, size in zip(steps, batch_sizes):
            if size < alive:
                finished.append(tuple(s[size:alive] for s in state))
                state, alive = tuple(s[:size] for s in state), size
            output, state = step(x_t, state)
            outputs.append(output)
        finished.append(state)
        finished.reverse()
        final = tuple(torch.cat(parts) for parts in zip(*finished))
        return torch.cat(outputs), final

    alive = batch_sizes[-1]
    state = tuple(s[:alive] for s in initial_state)
    for x_t, size in zip(reversed(steps), reversed(batch_sizes)):
        if size > alive:
            state = tuple(torch.cat((s, s0[alive:size])) for s, s0 in zip(state, initial_state))
            alive = size
        output, state = step(x_t, state)
        outputs.append(output)
    outputs.reverse()
    return torch.cat(outputs), state
