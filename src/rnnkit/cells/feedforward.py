"""A cell without recurrence: the order-blind baseline every task compares against."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.cells.base import RecurrentCell, State


class FeedForwardCell(RecurrentCell):
    r""":math:`h_t = \tanh(W_{ih} x_t + b_{ih})`: the RNN cell with ``weight_hh`` removed.

    Each step sees its own input only, so a model built on it cannot use word order: with
    mean pooling it is a bag-of-tokens classifier, in a tagger it tags each word alone. Use it
    as ``cell=feedforward`` to measure what recurrence buys on a task.

    Shapes: input ``(N, H_in)``, state ``(h,)`` with ``h: (N, H)`` (ignored), output ``(N, H)``.
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, **_: object):
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        bound = 1.0 / math.sqrt(hidden_size)
        self.weight_ih = nn.Parameter(torch.empty(hidden_size, input_size).uniform_(-bound, bound))
        self.bias_ih = (
            nn.Parameter(torch.empty(hidden_size).uniform_(-bound, bound)) if bias else None
        )

    def project_input(self, inputs: Tensor) -> Tensor:
        return torch.tanh(F.linear(inputs, self.weight_ih, self.bias_ih))

    def step(self, projected_input: Tensor, state: State) -> tuple[Tensor, State]:
        return projected_input, (projected_input,)

    def forward(self, input: Tensor, state: State | None = None) -> tuple[Tensor, State]:  # noqa: A002
        return self.step(self.project_input(input), self.resolve_state(input, state))
