"""Elman RNN cell with tanh or ReLU."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.cells.base import RecurrentCell, State, uniform_init
from rnnkit.cells.validation import NONLINEARITIES, prepare_cell_call

ACTIVATIONS = {name: getattr(torch, name) for name in NONLINEARITIES}  # tanh, relu


class RNNCell(RecurrentCell):
    r"""Vanilla (Elman) recurrent cell.

    In the seed notation :math:`h_t = \sigma(U x_t + W h_{t-1} + b)`, with torch's names
    ``U = weight_ih (H, H_in)``, ``W = weight_hh (H, H)``, ``b = bias_ih + bias_hh`` and
    :math:`\sigma` = ``tanh`` or ``relu``:

    .. math::  h_t = \sigma(x_t W_{ih}^T + b_{ih} + h_{t-1} W_{hh}^T + b_{hh})

    A drop-in for :class:`torch.nn.RNNCell`: ``cell(x, h) -> h_t``, with ``x: (N, H_in)`` or
    unbatched ``(H_in,)``, ``h`` of the same batching (zeros when omitted), torch.nn's checks
    and errors (an unknown ``nonlinearity`` fails at the first call, as in torch.nn).
    rnnkit's step contract (what :class:`rnnkit.RNN` runs): ``cell.advance(x, (h,)) ->
    (h_t, (h_t,))``, and its two halves :meth:`project_input` and :meth:`step`.
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
        factory = {"device": device, "dtype": dtype}
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        self.nonlinearity = nonlinearity
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
        """torch.nn's initialisation: every weight ~ U(-1/sqrt(H), 1/sqrt(H)) (0 if H = 0)."""
        uniform_init(self, (self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh))

    def project_input(self, inputs: Tensor) -> Tensor:
        """``x W_ih^T + b_ih + b_hh``: ``(*, H_in) -> (*, H)``."""
        bias = None if self.bias_ih is None else self.bias_ih + self.bias_hh
        return F.linear(inputs, self.weight_ih, bias)

    def step(self, projected_input: Tensor, state: State) -> tuple[Tensor, State]:
        (h,) = state
        h = ACTIVATIONS[self.nonlinearity](torch.addmm(projected_input, h, self.weight_hh.t()))
        return h, (h,)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:  # noqa: A002
        """torch.nn.RNNCell's call: ``(N, H_in), (N, H) -> (N, H)``, or unbatched."""
        input, state, batched = prepare_cell_call(  # noqa: A001
            "RNNCell", input, hx, self.input_size, self.state_size
        )
        if self.nonlinearity not in ACTIVATIONS:
            raise RuntimeError(f"Unknown nonlinearity: {self.nonlinearity}")
        h, _ = self.step(self.project_input(input), state)
        return h if batched else h.squeeze(0)
