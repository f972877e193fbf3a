"""The cell contract: a cell defines one time step; the layer runner does everything else."""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import Tensor, nn

from rnnkit.cells.validation import refuse_torchscript

State = tuple[Tensor, ...]


def uniform_init(cell: nn.Module, weights: Iterable[Tensor | None]) -> None:
    """torch.nn's initialisation of recurrent weights: ``U(-1/sqrt(H), 1/sqrt(H))``, 0 if H = 0."""
    bound = 1.0 / math.sqrt(cell.hidden_size) if cell.hidden_size > 0 else 0.0
    for weight in weights:
        if weight is not None:
            nn.init.uniform_(weight, -bound, bound)


class RecurrentCell(nn.Module):
    """Base class of every recurrent cell, after Keras' ``RNN(cell)`` contract.

    A cell maps one input step and the previous state to an output and the new state::

        output_t, state_t = cell.advance(x_t, state_{t-1})      # x_t: (N, input_size)

    :meth:`advance` is rnnkit's step contract for every cell, and the only way
    :class:`rnnkit.Recurrent` runs one (as :meth:`project_input` once, then :meth:`step` per
    step). A user cell defines it by its ``forward(x_t, state) -> (output_t, new_state)``, so
    for such a cell ``cell(x_t, state)`` is the same call. The standard cells
    (:class:`~rnnkit.cells.RNNCell`, :class:`~rnnkit.cells.LSTMCell`,
    :class:`~rnnkit.cells.GRUCell`) are drop-ins for torch.nn's instead: their ``forward``
    returns ``h`` or ``(h, c)`` as torch.nn's cells do, and :meth:`advance` gives their
    ``(output, state)`` step.

    The state is a tuple of tensors of shapes ``(N, s)`` for ``s`` in :attr:`state_size`
    (``(h,)`` for RNN/GRU, ``(h, c)`` for LSTM). The output is what the next layer reads,
    of shape ``(N, output_size)``.

    To write a cell, set ``input_size`` and ``hidden_size`` and define :meth:`forward`;
    override :attr:`state_size` / :attr:`output_size` when the state is not one tensor of
    ``hidden_size``. That is enough for :class:`rnnkit.Recurrent` to give it stacking,
    bidirectionality, dropout between layers, variable lengths and PackedSequence.

    Optional speed-up: a cell may split its step into :meth:`project_input`, applied by the
    runner to all time steps of a sequence at once (one matmul), and :meth:`step`, which then
    receives the projected input. The defaults make ``step`` = ``forward`` on the raw input.
    """

    input_size: int
    hidden_size: int

    @property
    def state_size(self) -> tuple[int, ...]:
        """Feature size of each state tensor, in the order the state tuple holds them."""
        return (self.hidden_size,)

    @property
    def output_size(self) -> int:
        """Feature size of the output of one step."""
        return self.state_size[0]

    def initial_state(
        self, batch_size: int, *, dtype: torch.dtype | None = None, device=None
    ) -> State:
        """Zero state: a tuple of ``(batch_size, s)`` tensors, one for each ``s`` in state_size."""
        return tuple(
            torch.zeros(batch_size, size, dtype=dtype, device=device) for size in self.state_size
        )

    def project_input(self, inputs: Tensor) -> Tensor:
        """Input-only part of the step, for all steps at once: ``(*, input_size) -> (*, P)``."""
        return inputs

    def step(self, projected_input: Tensor, state: State) -> tuple[Tensor, State]:
        """One step on an input already passed through :meth:`project_input`."""
        return self(projected_input, state)

    def advance(self, input: Tensor, state: State | Tensor | None = None) -> tuple[Tensor, State]:  # noqa: A002
        """rnnkit's step contract on a raw input: ``(output_t, new_state)``.

        ``input (N, input_size)``; ``state`` a tuple of ``(N, s)`` (a bare tensor for a
        one-tensor state, None for zeros). The same as ``step(project_input(input), state)``,
        which is what :class:`rnnkit.Recurrent` runs, for every cell: user cells (whose
        ``forward`` is this contract) and the standard cells (whose ``forward`` is torch.nn's).
        """
        return self.step(self.project_input(input), self.resolve_state(input, state))

    def forward(self, input: Tensor, state: State | None = None) -> tuple[Tensor, State]:  # noqa: A002
        raise NotImplementedError(f"{type(self).__name__} must define forward(input, state)")

    def resolve_state(self, input: Tensor, state: State | Tensor | None) -> State:  # noqa: A002
        """Return ``state`` as a tuple, or the zero state when it is None."""
        if state is None:
            return self.initial_state(input.shape[0], dtype=input.dtype, device=input.device)
        if isinstance(state, Tensor):
            return (state,)
        return tuple(state)

    def __prepare_scriptable__(self) -> nn.Module:
        """``torch.jit.script`` calls this first: refuse with one line naming torch.export."""
        refuse_torchscript(type(self).__name__)
        return self  # not reached

    def extra_repr(self) -> str:
        """torch.nn's cell repr: sizes, then ``bias``, ``nonlinearity`` and ``proj_size`` where
        not the default."""
        text = f"{self.input_size}, {self.hidden_size}"
        if getattr(self, "bias", True) is not True:
            text += f", bias={self.bias}"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            text += f", nonlinearity={self.nonlinearity}"
        if getattr(self, "proj_size", 0):
            text += f", proj_size={self.proj_size}"
        return text
