"""rnnkit's standard cells, one step at a time, against torch.nn.RNNCell/LSTMCell/GRUCell.

Both faces of a cell are checked: its call, which is torch.nn's (``h`` or ``(h, c)``), and
rnnkit's step contract ``cell.advance(x, state) -> (output, state_tuple)``; the numbers must be
the same as torch's (weights copied with load_state_dict), gradients included.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

import rnnkit

INPUT_SIZE, HIDDEN_SIZE, PROJ_SIZE, BATCH, STEPS = 4, 5, 3, 3, 4
TOLERANCES = {torch.float64: 1e-10, torch.float32: 1e-5}

# name -> (torch cell, rnnkit cell, shared keyword arguments)
KINDS = {
    "rnn_tanh": (nn.RNNCell, rnnkit.RNNCell, {"nonlinearity": "tanh"}),
    "rnn_relu": (nn.RNNCell, rnnkit.RNNCell, {"nonlinearity": "relu"}),
    "lstm": (nn.LSTMCell, rnnkit.LSTMCell, {}),
    "gru": (nn.GRUCell, rnnkit.GRUCell, {}),
}


def make_twins(kind: str, bias: bool, dtype: torch.dtype):
    torch_cell, rnnkit_cell, options = KINDS[kind]
    reference = torch_cell(INPUT_SIZE, HIDDEN_SIZE, bias=bias, dtype=dtype, **options)
    ours = rnnkit_cell(INPUT_SIZE, HIDDEN_SIZE, bias=bias, dtype=dtype, **options)
    ours.load_state_dict(reference.state_dict(), strict=True)
    return reference, ours


def torch_step(cell: nn.Module, x: torch.Tensor, state):
    """A cell called as torch.nn's, in rnnkit's convention: ``(output, state_tuple)``."""
    if isinstance(cell, (nn.LSTMCell, rnnkit.LSTMCell)):
        h, c = cell(x, state)
        return h, (h, c)
    h = cell(x, None if state is None else state[0])
    return h, (h,)


def advance_step(cell: rnnkit.RecurrentCell, x: torch.Tensor, state):
    """rnnkit's seam: the ``(output, state)`` step of any cell."""
    return cell.advance(x, state)


FACES = {"torch_call": torch_step, "advance": advance_step}


def leaves(tensors):
    return None if tensors is None else tuple(t.detach().clone().requires_grad_() for t in tensors)


def unroll(step, cell: nn.Module, inputs: torch.Tensor, state):
    """Feed the state back for ``STEPS`` steps; return a scalar touching every output."""
    loss = 0.0
    for t, x_t in enumerate(inputs):
        output, state = step(cell, x_t, state)
        probe = torch.cos(torch.arange(output.numel(), dtype=output.dtype)).view_as(output)
        loss = loss + ((t + 1) * output * probe).sum()
    for k, component in enumerate(state):
        loss = loss + (k + 2) * component.sum()
    return loss, state


@pytest.mark.parametrize("face", FACES)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("with_state", [False, True], ids=["zero_state", "given_state"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no_bias"])
@pytest.mark.parametrize("kind", KINDS)
def test_cell_matches_torch(kind, bias, with_state, dtype, face):
    reference, ours = make_twins(kind, bias, dtype)
    components = 2 if kind == "lstm" else 1
    inputs = torch.randn(STEPS, BATCH, INPUT_SIZE, dtype=dtype)
    state = (
        tuple(torch.randn(BATCH, HIDDEN_SIZE, dtype=dtype) for _ in range(components))
        if with_state
        else None
    )
    results = []
    for cell, step in ((reference, torch_step), (ours, FACES[face])):
        x, s = leaves((inputs,))[0], leaves(state)
        loss, final = unroll(step, cell, x, s)
        grads = torch.autograd.grad(loss, [x, *(s or ()), *cell.parameters()], allow_unused=False)
        results.append((final, grads, [n for n, _ in cell.named_parameters()]))
    (expected_final, expected_grads, torch_names), (final, grads, names) = results
    assert names == torch_names
    tolerance = TOLERANCES[dtype]
    assert len(final) == components
    for a, e in zip(final, expected_final, strict=True):
        torch.testing.assert_close(a, e, atol=tolerance, rtol=tolerance)
    for a, e in zip(grads, expected_grads, strict=True):
        torch.testing.assert_close(a, e, atol=tolerance, rtol=tolerance)


@pytest.mark.parametrize("kind", ["rnn_tanh", "gru"])
def test_single_tensor_state_is_accepted_by_advance(kind):
    _, ours = make_twins(kind, True, torch.float64)
    x, h = (
        torch.randn(BATCH, INPUT_SIZE, dtype=torch.float64),
        torch.randn(BATCH, HIDDEN_SIZE, dtype=torch.float64),
    )
    assert torch.equal(ours.advance(x, h)[0], ours.advance(x, (h,))[0])
    assert torch.equal(ours(x, h), ours.advance(x, h)[0])


@pytest.mark.parametrize("kind", KINDS)
def test_zero_default_state_and_sizes(kind):
    _, ours = make_twins(kind, True, torch.float64)
    components = 2 if kind == "lstm" else 1
    assert ours.state_size == (HIDDEN_SIZE,) * components
    assert ours.output_size == HIDDEN_SIZE
    zeros = ours.initial_state(BATCH, dtype=torch.float64)
    assert [tuple(z.shape) for z in zeros] == [(BATCH, HIDDEN_SIZE)] * components
    assert all(torch.all(z == 0) for z in zeros)
    x = torch.randn(BATCH, INPUT_SIZE, dtype=torch.float64)
    output, state = ours.advance(x)
    assert len(state) == components
    torch.testing.assert_close(output, ours.advance(x, zeros)[0], atol=0, rtol=0)


@pytest.mark.parametrize("kind", KINDS)
def test_project_input_then_step_equals_advance(kind):
    """The split the runner uses: project all steps at once, then step through them."""
    _, ours = make_twins(kind, True, torch.float64)
    inputs = torch.randn(STEPS, BATCH, INPUT_SIZE, dtype=torch.float64)
    projected = ours.project_input(inputs)  # (L, N, P): one matmul for every step
    state_split = state_forward = None
    for t in range(STEPS):
        output_split, state_split = ours.step(
            projected[t], state_split or ours.initial_state(BATCH, dtype=torch.float64)
        )
        output_forward, state_forward = ours.advance(inputs[t], state_forward)
        torch.testing.assert_close(output_split, output_forward, atol=1e-12, rtol=1e-12)


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no_bias"])
def test_lstm_cell_with_projection_matches_torch_lstm_step(bias):
    """torch has no LSTMCell(proj_size=...); one step of a 1-layer torch.nn.LSTM is the oracle."""
    dtype = torch.float64
    reference = nn.LSTM(INPUT_SIZE, HIDDEN_SIZE, bias=bias, proj_size=PROJ_SIZE, dtype=dtype)
    ours = rnnkit.LSTMCell(INPUT_SIZE, HIDDEN_SIZE, bias=bias, proj_size=PROJ_SIZE, dtype=dtype)
    ours.load_state_dict({k.removesuffix("_l0"): v for k, v in reference.state_dict().items()})
    assert ours.state_size == (PROJ_SIZE, HIDDEN_SIZE) and ours.output_size == PROJ_SIZE
    x = torch.randn(BATCH, INPUT_SIZE, dtype=dtype)
    h0 = torch.randn(BATCH, PROJ_SIZE, dtype=dtype)
    c0 = torch.randn(BATCH, HIDDEN_SIZE, dtype=dtype)
    expected_output, (expected_h, expected_c) = reference(x[None], (h0[None], c0[None]))
    output, (h, c) = ours.advance(x, (h0, c0))
    torch.testing.assert_close(output, expected_output[0], atol=1e-10, rtol=1e-10)
    assert all(torch.equal(a, b) for a, b in zip(ours(x, (h0, c0)), (h, c)))
    torch.testing.assert_close(h, expected_h[0], atol=1e-10, rtol=1e-10)
    torch.testing.assert_close(c, expected_c[0], atol=1e-10, rtol=1e-10)
