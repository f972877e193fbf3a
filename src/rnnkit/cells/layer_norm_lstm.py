"""Layer-normalised LSTM (Ba, Kiros & Hinton 2016, "Layer Normalization", section 3.1)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.cells.base import RecurrentCell, State


class LayerNormLSTMCell(RecurrentCell):
    r"""LSTM with layer norm on both gate projections and on the cell; gate order i, f, g, o.

    .. math::
        (i, f, g, o) &= \mathrm{LN}_{ih}(W_{ih} x_t) + \mathrm{LN}_{hh}(W_{hh} h_{t-1})\\
        c_t &= \sigma(f) \odot c_{t-1} + \sigma(i) \odot \tanh(g), \quad
        h_t = \sigma(o) \odot \tanh(\mathrm{LN}_{cell}(c_t))

    The norms' shifts are the biases (``bias=False`` drops them): ``layer_norm_ih`` holds the
    gate bias, ``layer_norm_cell`` the cell's; ``layer_norm_hh`` has none, it would repeat the
    gate bias. The cell state ``c_t`` itself stays unnormalised.

    Shapes: input ``(N, H_in)``; state ``(h, c)``, both ``(N, H)``; output ``h_t: (N, H)``.
    Parameters: ``weight_ih (4H, H_in)``, ``weight_hh (4H, H)`` and the three norms' own.
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True) -> None:
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        self.weight_ih = nn.Parameter(torch.empty(4 * hidden_size, input_size))
        self.weight_hh = nn.Parameter(torch.empty(4 * hidden_size, hidden_size))
        self.layer_norm_ih = nn.LayerNorm(4 * hidden_size, bias=bias)
        self.layer_norm_hh = nn.LayerNorm(4 * hidden_size, bias=False)
        self.layer_norm_cell = nn.LayerNorm(hidden_size, bias=bias)
        bound = 1.0 / math.sqrt(hidden_size)
        nn.init.uniform_(self.weight_ih, -bound, bound)
        nn.init.uniform_(self.weight_hh, -bound, bound)

    @property
    def state_size(self) -> tuple[int, ...]:
        return (self.hidden_size, self.hidden_size)

    def project_input(self, inputs: Tensor) -> Tensor:
        """``LN_ih(x W_ih^T)``, a row-wise function, so all steps go at once: ``(*, 4H)``."""
        return self.layer_norm_ih(F.linear(inputs, self.weight_ih))

    def step(self, projected_input: Tensor, state: State) -> tuple[Tensor, State]:
        h, c = state
        gates = projected_input + self.layer_norm_hh(h @ self.weight_hh.t())
        i, f, g, o = gates.chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(self.layer_norm_cell(c))
        return h, (h, c)

    def forward(self, input: Tensor, state: State | None = None) -> tuple[Tensor, State]:  # noqa: A002
        return self.step(self.project_input(input), self.resolve_state(input, state))
