"""Elman RNN cell with tanh or ReLU."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.cells.base import RecurrentCell, State

NONLINEARITIES = {"tanh": torch.tanh, "relu": torch.relu}


class RNNCell(RecurrentCell):
    r"""Vanilla (Elman) recurrent cell.

    In the seed notation :math:`h_t = \sigma(U x_t + W h_{t-1} + b)`, with torch's names
    ``U = weight_ih (H, H_in)``, ``W = weight_hh (H, H)``, ``b = bias_ih + bias_hh`` and
    :math:`\sigma` = ``tanh`` or ``relu``:

    .. math::  h_t = \sigma(x_t W_{ih}^T + b_{ih} + h_{t-1} W_{hh}^T + b_{hh})

    Shapes: input ``(N, H_in)``, state ``(h,)`` with ``h: (N, H)``, output ``h_t: (N, H)``.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        nonlinearity: str = "tanh",
        device=None,
        dtype=None,
    ) -> None:
        super().__init__()
        if nonlinearity not in NONLINEARITIES:
            raise ValueError(
                f"nonlinearity: expected one of {sorted(NONLINEARITIES)}, got {nonlinearity!r}"
            )
        factory = {"device": device, "dtype": dtype}
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.nonlinearity = nonlinearity
        self.activation = NONLINEARITIES[nonlinearity]
        self.weight_ih = nn.Parameter(torch.empty(hidden_size, input_size, **factory))
        self.weight_hh = nn.Parameter(torch.empty(hidden_size, hidden_size, **factory))
        if bias:
            self.bias_ih = nn.Parameter(torch.empty(hidden_size, **factory))
            self.bias_hh = nn.Parameter(torch.empty(hidden_size, **factory))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """torch.nn's initialisation: every weight ~ U(-1/sqrt(H), 1/sqrt(H))."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for weight in (self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh):
            if weight is not None:
                nn.init.uniform_(weight, -bound, bound)

    def project_input(self, inputs: Tensor) -> Tensor:
        """``x W_ih^T + b_ih + b_hh``: ``(*, H_in) -> (*, H)``."""
        bias = None if self.bias_ih is None else self.bias_ih + self.bias_hh
        return F.linear(inputs, self.weight_ih, bias)

    def step(self, projected_input: Tensor, state: State) -> tuple[Tensor, State]:
        (h,) = state
        h = self.activation(torch.addmm(projected_input, h, self.weight_hh.t()))
        return h, (h,)

    def forward(self, input: Tensor, state: State | Tensor | None = None) -> tuple[Tensor, State]:  # noqa: A002
        return self.step(self.project_input(input), self.resolve_state(input, state))

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, nonlinearity={self.nonlinearity!r}"
