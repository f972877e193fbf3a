"""Gated recurrent unit cell."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.cells.base import RecurrentCell, State, uniform_init
from rnnkit.cells.validation import prepare_cell_call


class GRUCell(RecurrentCell):
    r"""GRU cell (Cho et al. 2014), gates in torch's order r, z, n.

    The seed's :math:`\sigma(U x_t + W h_{t-1} + b)` once per gate, with
    ``U = weight_ih (3H, H_in)`` and ``W = weight_hh (3H, H)``:

    .. math::
        r_t &= \sigma(W_{ir} x_t + b_{ir} + W_{hr} h_{t-1} + b_{hr})      && \text{reset}\\
        z_t &= \sigma(W_{iz} x_t + b_{iz} + W_{hz} h_{t-1} + b_{hz})      && \text{update}\\
        n_t &= \tanh(W_{in} x_t + b_{in} + r_t \odot (W_{hn} h_{t-1} + b_{hn})) && \text{new}\\
        h_t &= (1 - z_t) \odot n_t + z_t \odot h_{t-1}

    Note ``b_hn`` sits inside the reset gate's product, so it cannot be folded into the input
    projection as the other hidden biases are.

    Shapes: input ``(N, H_in)``, state ``(h,)`` with ``h: (N, H)``, output ``h_t: (N, H)``.

    A drop-in for :class:`torch.nn.GRUCell`: ``cell(x, h) -> h_t``, with ``x: (N, H_in)`` or
    unbatched ``(H_in,)``, ``h`` of the same batching (zeros when omitted), torch.nn's checks
    and errors. rnnkit's step contract (what :class:`rnnkit.GRU` runs):
    ``cell.advance(x, (h,)) -> (h_t, (h_t,))``, and its halves :meth:`project_input`, :meth:`step`.
    """

    def __init__(
        self, input_size: int, hidden_size: int, bias: bool = True, device=None, dtype=None
    ) -> None:
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        self.weight_ih = nn.Parameter(torch.empty(3 * hidden_size, input_size, **factory))
        self.weight_hh = nn.Parameter(torch.empty(3 * hidden_size, hidden_size, **factory))
        if bias:
            self.bias_ih = nn.Parameter(torch.empty(3 * hidden_size, **factory))
            self.bias_hh = nn.Parameter(torch.empty(3 * hidden_size, **factory))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """torch.nn's initialisation: every weight ~ U(-1/sqrt(H), 1/sqrt(H)) (0 if H = 0)."""
        uniform_init(self, (self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh))

    def project_input(self, inputs: Tensor) -> Tensor:
        """``x W_ih^T + b_ih``: ``(*, H_in) -> (*, 3H)``."""
        return F.linear(inputs, self.weight_ih, self.bias_ih)

    def step(self, projected_input: Tensor, state: State) -> tuple[Tensor, State]:
        (h,) = state
        if self.bias_hh is None:
            hidden = h @ self.weight_hh.t()
        else:
            hidden = torch.addmm(self.bias_hh, h, self.weight_hh.t())
        x_r, x_z, x_n = projected_input.chunk(3, dim=1)
        h_r, h_z, h_n = hidden.chunk(3, dim=1)
        r = torch.sigmoid(x_r + h_r)
        z = torch.sigmoid(x_z + h_z)
        n = torch.tanh(x_n + r * h_n)
        h = n + z * (h - n)
        return h, (h,)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:  # noqa: A002
        """torch.nn.GRUCell's call: ``(N, H_in), (N, H) -> (N, H)``, or unbatched."""
        input, state, batched = prepare_cell_call(  # noqa: A001
            "GRUCell", input, hx, self.input_size, self.state_size
        )
        h, _ = self.step(self.project_input(input), state)
        return h if batched else h.squeeze(0)
