"""The cell contract: a cell defines one time step; the layer runner does everything else."""

from __future__ import annotations

import torch
from torch import Tensor, nn

State = tuple[Tensor, ...]


class RecurrentCell(nn.Module):
    """Base class of every recurrent cell, after Keras' ``RNN(cell)`` contract.

    A cell maps one input step and the previous state to an output and the new state::

        output_t, state_t = cell(x_t, state_{t-1})      # x_t: (N, input_size)

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

    def forward(self, input: Tensor, state: State | None = None) -> tuple[Tensor, State]:  # noqa: A002
        raise NotImplementedError(f"{type(self).__name__} must define forward(input, state)")

    def resolve_state(self, input: Tensor, state: State | Tensor | None) -> State:  # noqa: A002
        """Return ``state`` as a tuple, or the zero state when it is None."""
        if state is None:
            return self.initial_state(input.shape[0], dtype=input.dtype, device=input.device)
        if isinstance(state, Tensor):
            return (state,)
        return tuple(state)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}"
