"""LSTM with peephole connections (Gers & Schmidhuber 2000): the gates also read the cell."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.cells.base import RecurrentCell, State


class PeepholeLSTMCell(RecurrentCell):
    r"""LSTM whose gates see the cell state through diagonal weights; gate order i, f, g, o.

    .. math::
        i_t &= \sigma(W_{ii} x_t + W_{hi} h_{t-1} + w_{ci} \odot c_{t-1} + b_i)\\
        f_t &= \sigma(W_{if} x_t + W_{hf} h_{t-1} + w_{cf} \odot c_{t-1} + b_f)\\
        c_t &= f_t \odot c_{t-1} + i_t \odot \tanh(W_{ig} x_t + W_{hg} h_{t-1} + b_g)\\
        o_t &= \sigma(W_{io} x_t + W_{ho} h_{t-1} + w_{co} \odot c_t + b_o), \quad
        h_t = o_t \odot \tanh(c_t)

    Shapes: input ``(N, H_in)``; state ``(h, c)``, both ``(N, H)``; output ``h_t: (N, H)``.
    Parameters: ``weight_ih (4H, H_in)``, ``weight_hh (4H, H)``, ``bias_ih``/``bias_hh (4H)``
    as torch.nn.LSTMCell, and the peepholes ``weight_ci``, ``weight_cf``, ``weight_co (H)``.
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True) -> None:
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        self.weight_ih = nn.Parameter(torch.empty(4 * hidden_size, input_size))
        self.weight_hh = nn.Parameter(torch.empty(4 * hidden_size, hidden_size))
        self.bias_ih = nn.Parameter(torch.empty(4 * hidden_size)) if bias else None
        self.bias_hh = nn.Parameter(torch.empty(4 * hidden_size)) if bias else None
        self.weight_ci = nn.Parameter(torch.empty(hidden_size))
        self.weight_cf = nn.Parameter(torch.empty(hidden_size))
        self.weight_co = nn.Parameter(torch.empty(hidden_size))
        bound = 1.0 / math.sqrt(hidden_size)
        for parameter in self.parameters():
            nn.init.uniform_(parameter, -bound, bound)

    @property
    def state_size(self) -> tuple[int, ...]:
        return (self.hidden_size, self.hidden_size)

    def project_input(self, inputs: Tensor) -> Tensor:
        """``x W_ih^T + b_ih + b_hh`` for the four gates: ``(*, H_in) -> (*, 4H)``."""
        bias = None if self.bias_ih is None else self.bias_ih + self.bias_hh
        return F.linear(inputs, self.weight_ih, bias)

    def step(self, projected_input: Tensor, state: State) -> tuple[Tensor, State]:
        h, c = state
        i, f, g, o = (projected_input + h @ self.weight_hh.t()).chunk(4, dim=1)
        i = torch.sigmoid(i + self.weight_ci * c)
        f = torch.sigmoid(f + self.weight_cf * c)
        c = f * c + i * torch.tanh(g)
        h = torch.sigmoid(o + self.weight_co * c) * torch.tanh(c)
        return h, (h, c)

    def forward(self, input: Tensor, state: State | None = None) -> tuple[Tensor, State]:  # noqa: A002
        return self.step(self.project_input(input), self.resolve_state(input, state))
