"""The gate arithmetic of one LSTM or GRU step, with hand-written gradients.

Two forms of the same equations (those of the cells' docstrings):

* :func:`lstm_pointwise` and :func:`gru_pointwise` use ordinary autograd-recorded
  operations, the same as :meth:`LSTMCell.step <rnnkit.cells.LSTMCell.step>` and
  :meth:`GRUCell.step <rnnkit.cells.GRUCell.step>` after their gates matmul;
* ``lstm_forward`` / ``lstm_backward`` and ``gru_forward`` / ``gru_backward`` are plain tensor
  code that autograd never sees: forward writes what backward needs into given tensors, and
  backward computes the gradients of all gates in a few fused operations
  (``torch.ops.aten.sigmoid_backward`` / ``tanh_backward``). They are the kernels of the loop
  backend's one-node loops, :mod:`rnnkit.layers.standard_loop`.

Both forms appear inside a time loop, once per step: the kernels do not check shapes (the
layers have checked their inputs), and write into caller-provided tensors so that a loop
fills preallocated buffers without copies.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

_aten = torch.ops.aten


def lstm_pointwise(gates: Tensor, c_prev: Tensor) -> tuple[Tensor, Tensor]:
    r"""LSTM gate arithmetic with autograd-recorded operations: ``(h_t, c_t)``.

    .. math::
        c_t = \sigma(f) \odot c_{t-1} + \sigma(i) \odot \tanh(g), \qquad
        h_t = \sigma(o) \odot \tanh(c_t)

    Args:
        gates: ``(N, 4H)`` pre-activations ``x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh``, gates
            in torch's order i, f, g, o.
        c_prev: ``(N, H)`` previous cell state.

    Returns:
        ``h_t (N, H)`` (before any projection) and ``c_t (N, H)``.
    """
    i, f, g, o = gates.chunk(4, dim=1)
    c = torch.sigmoid(f) * c_prev + torch.sigmoid(i) * torch.tanh(g)
    h = torch.sigmoid(o) * torch.tanh(c)
    return h, c


def gru_pointwise(input_gates: Tensor, hidden_gates: Tensor, h_prev: Tensor) -> Tensor:
    r"""GRU gate arithmetic with autograd-recorded operations: ``h_t``.

    .. math::
        r = \sigma(x_r + h_r), \quad z = \sigma(x_z + h_z), \quad
        n = \tanh(x_n + r \odot h_n), \quad h_t = n + z \odot (h_{t-1} - n)

    (the last is :math:`(1 - z) \odot n + z \odot h_{t-1}` of the cell's docstring).

    Args:
        input_gates: ``(N, 3H)`` ``x_t W_ih^T + b_ih``, gates in torch's order r, z, n.
        hidden_gates: ``(N, 3H)`` ``h_{t-1} W_hh^T + b_hh``.
        h_prev: ``(N, H)`` previous hidden state.

    Returns:
        ``h_t (N, H)``.
    """
    x_r, x_z, x_n = input_gates.chunk(3, dim=1)
    h_r, h_z, h_n = hidden_gates.chunk(3, dim=1)
    r = torch.sigmoid(x_r + h_r)
    z = torch.sigmoid(x_z + h_z)
    n = torch.tanh(x_n + r * h_n)
    return n + z * (h_prev - n)


# ---- the same arithmetic without autograd, and its gradients ---------------------------


def lstm_forward(
    gates: Tensor, c_prev: Tensor, activated: Tensor, c: Tensor, tanh_c: Tensor, h: Tensor
) -> None:
    """One LSTM step's arithmetic, written into ``activated (N, 4H)`` and ``c, tanh_c, h (N, H)``.

    ``activated`` receives ``[σ(i), σ(f), tanh(g), σ(o)]``, ``tanh_c`` receives
    ``tanh(c_t)``; together with ``c_prev`` that is all :func:`lstm_backward` needs.
    ``activated`` may be ``gates`` itself (activated in place), and ``c`` may be ``c_prev``.
    """
    hidden = c_prev.shape[1]
    i, f, g, o = activated.chunk(4, dim=1)
    # three calls rather than one sigmoid over all four gates: no wasted sigmoid on g, and
    # each call stays small enough to run without a parallel region at typical sizes
    torch.sigmoid(gates[:, : 2 * hidden], out=activated[:, : 2 * hidden])
    torch.tanh(gates[:, 2 * hidden : 3 * hidden], out=g)
    torch.sigmoid(gates[:, 3 * hidden :], out=o)
    torch.mul(f, c_prev, out=c).addcmul_(i, g)
    torch.tanh(c, out=tanh_c)
    torch.mul(o, tanh_c, out=h)


def lstm_backward(
    activated: Tensor,
    c_prev: Tensor,
    tanh_c: Tensor,
    grad_h: Tensor,
    grad_c: Tensor | None,
    grad_gates: Tensor,
    grad_c_prev: Tensor,
) -> None:
    """Gradients of one LSTM step, written into ``grad_gates (N, 4H)`` and ``grad_c_prev (N, H)``.

    Args:
        activated, c_prev, tanh_c: as saved by :func:`lstm_forward`.
        grad_h: ``(N, H)`` gradient of ``h_t``.
        grad_c: ``(N, H)`` gradient of ``c_t`` from later steps, or None for zero. It is read
            before ``grad_c_prev`` is written, so the two may be the same tensor.
    """
    hidden = c_prev.shape[1]
    i, f, g, o = activated.chunk(4, dim=1)
    total_c = _aten.tanh_backward(grad_h * o, tanh_c)
    if grad_c is not None:
        total_c += grad_c
    grad_i, grad_f, grad_g, grad_o = grad_gates.chunk(4, dim=1)
    torch.mul(total_c, g, out=grad_i)
    torch.mul(total_c, c_prev, out=grad_f)
    torch.mul(grad_h, tanh_c, out=grad_o)
    grad_if = grad_gates[:, : 2 * hidden]
    _aten.sigmoid_backward.grad_input(grad_if, activated[:, : 2 * hidden], grad_input=grad_if)
    _aten.sigmoid_backward.grad_input(grad_o, o, grad_input=grad_o)
    _aten.tanh_backward.grad_input(total_c * i, g, grad_input=grad_g)
    torch.mul(total_c, f, out=grad_c_prev)


def gru_forward(
    input_gates: Tensor, hidden_gates: Tensor, h_prev: Tensor, rz: Tensor, n: Tensor, h: Tensor
) -> None:
    """One GRU step's arithmetic, written into ``rz (N, 2H)`` (``[r, z]``), ``n, h (N, H)``."""
    hidden = h_prev.shape[1]
    torch.add(input_gates[:, : 2 * hidden], hidden_gates[:, : 2 * hidden], out=rz).sigmoid_()
    r, z = rz.chunk(2, dim=1)
    torch.addcmul(input_gates[:, 2 * hidden :], r, hidden_gates[:, 2 * hidden :], out=n).tanh_()
    torch.addcmul(n, z, h_prev - n, out=h)


def gru_backward(
    hidden_n: Tensor,
    h_prev: Tensor,
    rz: Tensor,
    n: Tensor,
    grad_h: Tensor,
    grad_input_gates: Tensor,
    grad_hidden_gates: Tensor,
) -> Tensor:
    """Gradients of one GRU step, written into ``grad_input_gates, grad_hidden_gates (N, 3H)``.

    Args:
        hidden_n: ``(N, H)`` the n-gate part of ``hidden_gates``, ``W_hn h_{t-1} + b_hn``.
        h_prev, rz, n: the step's previous state and what :func:`gru_forward` wrote.
        grad_h: ``(N, H)`` gradient of ``h_t``.

    Returns:
        ``z ⊙ grad_h (N, H)``: the part of the gradient of ``h_{t-1}`` that does not go
        through ``hidden_gates``.
    """
    hidden = h_prev.shape[1]
    r, z = rz.chunk(2, dim=1)
    grad_rz, grad_n = grad_input_gates[:, : 2 * hidden], grad_input_gates[:, 2 * hidden :]
    grad_h_prev = grad_h * z
    _aten.tanh_backward.grad_input(grad_h - grad_h_prev, n, grad_input=grad_n)
    torch.mul(grad_n, hidden_n, out=grad_rz[:, :hidden])
    torch.mul(grad_h, h_prev - n, out=grad_rz[:, hidden:])
    _aten.sigmoid_backward.grad_input(grad_rz, rz, grad_input=grad_rz)
    grad_hidden_gates[:, : 2 * hidden].copy_(grad_rz)
    torch.mul(grad_n, r, out=grad_hidden_gates[:, 2 * hidden :])
    return grad_h_prev


# ---- double backward ------------------------------------------------------------------


def partial_gradients(
    function: Callable[..., Tensor | tuple[Tensor, ...]],
    inputs: tuple[Tensor | None, ...],
    grads: tuple[Tensor, ...],
) -> tuple[Tensor | None, ...]:
    """Vector-Jacobian product of ``function`` at ``inputs``, as a differentiable graph.

    The double-backward path of hand-written backward passes: ``grads`` are the gradients of
    ``function(*inputs)``'s outputs; the result holds one gradient per input (None for
    inputs that are None or need no gradient), built with ``create_graph=True`` so that it
    can be differentiated again. Each input gets its partial derivative, even when one input
    was computed from another (a GRU's ``hidden_gates`` from ``h_prev``): ``function`` runs
    on fresh views of the inputs, and the gradients are taken with respect to those views.
    """
    views = tuple(None if x is None else x.view_as(x) for x in inputs)
    outputs = function(*views)
    outputs = (outputs,) if isinstance(outputs, Tensor) else tuple(outputs)
    wanted = [v for v in views if v is not None and v.requires_grad]
    found = iter(torch.autograd.grad(outputs, wanted, grads, create_graph=True, allow_unused=True))
    return tuple(next(found) if v is not None and v.requires_grad else None for v in views)
