"""Long short-term memory cell, optionally with a projection of the hidden state."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.cells.base import RecurrentCell, State, uniform_init
from rnnkit.cells.validation import prepare_cell_call


class LSTMCell(RecurrentCell):
    r"""LSTM cell (Hochreiter & Schmidhuber 1997, with forget gate); gate order i, f, g, o.

    The seed's :math:`\sigma(U x_t + W h_{t-1} + b)` applied once per gate, with
    ``U = weight_ih (4H, H_in)`` and ``W = weight_hh (4H, H_out)`` stacking the four gates:

    .. math::
        i_t &= \sigma(W_{ii} x_t + b_{ii} + W_{hi} h_{t-1} + b_{hi})      \quad\text{input gate}\\
        f_t &= \sigma(W_{if} x_t + b_{if} + W_{hf} h_{t-1} + b_{hf})      \quad\text{forget gate}\\
        g_t &= \tanh(W_{ig} x_t + b_{ig} + W_{hg} h_{t-1} + b_{hg})       \quad\text{candidate}\\
        o_t &= \sigma(W_{io} x_t + b_{io} + W_{ho} h_{t-1} + b_{ho})      \quad\text{output gate}\\
        c_t &= f_t \odot c_{t-1} + i_t \odot g_t                           \quad\text{cell state}\\
        h_t &= o_t \odot \tanh(c_t)                                        \quad\text{hidden state}

    With ``proj_size > 0`` the hidden state is projected: :math:`h_t \leftarrow W_{hr} h_t`.

    Shapes: input ``(N, H_in)``; state ``(h, c)`` with ``h: (N, H_out)``, ``c: (N, H)`` where
    ``H_out = proj_size`` if ``proj_size > 0`` else ``H``; output ``h_t: (N, H_out)``.

    A drop-in for :class:`torch.nn.LSTMCell`: ``cell(x, (h, c)) -> (h_t, c_t)``, with
    ``x: (N, H_in)`` or unbatched ``(H_in,)`` (zeros when the state is omitted), torch.nn's
    checks and errors; ``proj_size`` is rnnkit's addition (torch.nn.LSTM's projection).
    rnnkit's step contract (what :class:`rnnkit.LSTM` runs): ``cell.advance(x, (h, c)) ->
    (h_t, (h_t, c_t))``, and its two halves :meth:`project_input` and :meth:`step`.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        proj_size: int = 0,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__()
        if proj_size < 0 or (proj_size and proj_size >= hidden_size):
            raise ValueError(
                "proj_size should be a positive integer smaller than hidden_size, or zero to "
                f"disable projections, got proj_size={proj_size} and hidden_size={hidden_size}"
            )
        factory = {"device": device, "dtype": dtype}
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        self.proj_size = proj_size
        out = proj_size or hidden_size
        self.weight_ih = nn.Parameter(torch.empty(4 * hidden_size, input_size, **factory))
        self.weight_hh = nn.Parameter(torch.empty(4 * hidden_size, out, **factory))
        if bias:
            self.bias_ih = nn.Parameter(torch.empty(4 * hidden_size, **factory))
            self.bias_hh = nn.Parameter(torch.empty(4 * hidden_size, **factory))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        if proj_size:
            self.weight_hr = nn.Parameter(torch.empty(proj_size, hidden_size, **factory))
        else:
            self.register_parameter("weight_hr", None)
        self.reset_parameters()

    @property
    def state_size(self) -> tuple[int, ...]:
        return (self.proj_size or self.hidden_size, self.hidden_size)

    def reset_parameters(self) -> None:
        """torch.nn's initialisation: every weight ~ U(-1/sqrt(H), 1/sqrt(H)) (0 if H = 0)."""
        weights = (self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh, self.weight_hr)
        uniform_init(self, weights)

    def project_input(self, inputs: Tensor) -> Tensor:
        """``x W_ih^T + b_ih + b_hh`` for the four gates: ``(*, H_in) -> (*, 4H)``."""
        bias = None if self.bias_ih is None else self.bias_ih + self.bias_hh
        return F.linear(inputs, self.weight_ih, bias)

    def step(self, projected_input: Tensor, state: State) -> tuple[Tensor, State]:
        h, c = state
        gates = torch.addmm(projected_input, h, self.weight_hh.t())
        i, f, g, o = gates.chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        if self.weight_hr is not None:
            h = h @ self.weight_hr.t()
        return h, (h, c)

    def forward(
        self,
        input: Tensor,  # noqa: A002
        hx: tuple[Tensor, Tensor] | None = None,
    ) -> tuple[Tensor, Tensor]:
        """torch.nn.LSTMCell's call: ``(N, H_in), ((N, H_out), (N, H)) -> (h_t, c_t)``."""
        input, state, batched = prepare_cell_call(  # noqa: A001
            "LSTMCell", input, hx, self.input_size, self.state_size
        )
        _, (h, c) = self.step(self.project_input(input), state)
        return (h, c) if batched else (h.squeeze(0), c.squeeze(0))
