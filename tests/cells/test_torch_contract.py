"""The standard cells' two faces: torch.nn's call, and rnnkit's step through ``advance``.

torch.nn's cells are the oracle for the call: the rows C1-C4 of issue 18's table (return
values, unbatched input, zero hidden size, batch-size checks) and every other check torch.nn
makes, with the same exception type and a message that begins with torch.nn's. rnnkit's own
contract, ``(output, state)``, is ``cell.advance(x, state)`` for every cell, user cells
written to docs/custom_cells.md included (whose ``forward`` is that contract).
"""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

import rnnkit

TWINS = {"RNNCell": {}, "RNNCell_relu": {"nonlinearity": "relu"}, "LSTMCell": {}, "GRUCell": {}}


def twins(name: str, input_size: int, hidden_size: int, **options):
    kind = name.split("_")[0]
    options = {**TWINS[name], **options}
    torch.manual_seed(0)
    reference = getattr(nn, kind)(input_size, hidden_size, **options)
    ours = getattr(rnnkit, kind)(input_size, hidden_size, **options)
    ours.load_state_dict(reference.state_dict(), strict=True)
    return reference, ours


def assert_same_result(ours, theirs):
    if isinstance(theirs, tuple):
        assert isinstance(ours, tuple) and len(ours) == len(theirs)
        for a, b in zip(ours, theirs):
            torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-6)
    else:
        assert isinstance(ours, torch.Tensor)
        torch.testing.assert_close(ours, theirs, atol=1e-6, rtol=1e-6)


def state_for(name: str, *shape):
    if name == "LSTMCell":
        return (torch.randn(*shape), torch.randn(*shape))
    return torch.randn(*shape)


@pytest.mark.parametrize("name", TWINS)
def test_c1_the_call_returns_what_torch_nn_returns(name):
    """C1: h for RNNCell/GRUCell, (h, c) for LSTMCell; with and without a state."""
    reference, ours = twins(name, 10, 20)
    x = torch.randn(3, 10)
    assert_same_result(ours(x), reference(x))
    state = state_for(name, 3, 20)
    assert_same_result(ours(x, state), reference(x, state))


@pytest.mark.parametrize("name", TWINS)
def test_c2_unbatched_input(name):
    """C2: an unbatched (H_in,) input and (H,) state give (H,) results."""
    reference, ours = twins(name, 5, 10)
    x, state = torch.randn(5), state_for(name, 10)
    result = ours(x, state)
    assert_same_result(result, reference(x, state))
    shapes = [r.shape for r in result] if isinstance(result, tuple) else [result.shape]
    assert all(shape == (10,) for shape in shapes)
    assert_same_result(ours(x), reference(x))


@pytest.mark.parametrize("name", TWINS)
def test_c3_zero_hidden_size(name):
    """C3: hidden_size 0 builds (initialisation included) and gives (N, 0) results."""
    reference, ours = twins(name, 10, 0)
    x, state = torch.randn(3, 10), state_for(name, 3, 0)
    assert_same_result(ours(x, state), reference(x, state))
    assert_same_result(ours(x), reference(x))


def raised(call):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            call()
        except Exception as error:  # noqa: BLE001 - any type: it is what we compare
            return error
    raise AssertionError("expected an exception, none was raised")


# name -> (cell kind, constructor arguments, call arguments)
BAD_CALLS = {
    "C4_hidden_batch_1_for_3": (
        "GRUCell",
        (10, 20),
        lambda: (torch.randn(3, 10), torch.randn(1, 20)),
    ),
    "hidden_batch_5_for_3": ("RNNCell", (10, 20), lambda: (torch.randn(3, 10), torch.randn(5, 20))),
    "lstm_hidden_batch": (
        "LSTMCell",
        (10, 20),
        lambda: (torch.randn(3, 10), (torch.randn(5, 20), torch.randn(5, 20))),
    ),
    "lstm_cell_batch": (
        "LSTMCell",
        (10, 20),
        lambda: (torch.randn(3, 10), (torch.randn(3, 20), torch.randn(2, 20))),
    ),
    "input_size": ("GRUCell", (10, 20), lambda: (torch.randn(3, 11), torch.randn(3, 20))),
    "hidden_size": ("RNNCell", (10, 20), lambda: (torch.randn(3, 10), torch.randn(3, 21))),
    "lstm_hidden_size": (
        "LSTMCell",
        (10, 20),
        lambda: (torch.randn(3, 10), (torch.randn(3, 21), torch.randn(3, 21))),
    ),
    "input_3d": ("GRUCell", (10, 20), lambda: (torch.randn(2, 3, 10),)),
    "input_0d": ("RNNCell", (10, 20), lambda: (torch.tensor(1.0),)),
    "hidden_4d": ("RNNCell", (10, 20), lambda: (torch.randn(3, 10), torch.randn(3, 1, 1, 20))),
    "lstm_hx_4d": (
        "LSTMCell",
        (10, 20),
        lambda: (torch.randn(3, 10), (torch.randn(3, 1, 1, 20), torch.randn(3, 1, 1, 20))),
    ),
    "unbatched_input_batched_hidden": (
        "GRUCell",
        (5, 10),
        lambda: (torch.randn(5), torch.randn(1, 10)),
    ),
    "batched_input_unbatched_hidden": (
        "GRUCell",
        (5, 10),
        lambda: (torch.randn(2, 5), torch.randn(10)),
    ),
    "input_dtype": ("LSTMCell", (5, 10), lambda: (torch.randn(2, 5, dtype=torch.float64),)),
}


@pytest.mark.parametrize("kind, sizes, call", BAD_CALLS.values(), ids=BAD_CALLS)
def test_bad_calls_fail_as_in_torch_nn(kind, sizes, call):
    arguments = call()
    theirs = raised(lambda: getattr(nn, kind)(*sizes)(*arguments))
    ours = raised(lambda: getattr(rnnkit, kind)(*sizes)(*arguments))
    assert type(ours) is type(theirs), f"rnnkit raised {ours!r}, torch.nn raised {theirs!r}"
    if "dtype" not in str(theirs):  # a matmul's wording, whichever matmul fails first
        assert str(ours).startswith(str(theirs)), f"rnnkit: {ours}\ntorch.nn: {theirs}"


def test_unknown_nonlinearity_fails_at_the_call_as_in_torch_nn():
    for module in (nn, rnnkit):
        cell = module.RNNCell(3, 4, nonlinearity="garbage")  # builds, as torch.nn's does
        with pytest.raises(RuntimeError, match="^Unknown nonlinearity: garbage$"):
            cell(torch.randn(2, 3))


@pytest.mark.parametrize("bad", [(3.0, 5), (3, -1)], ids=["float_size", "negative_size"])
def test_constructor_failures_as_in_torch_nn(bad):
    for kind in ("RNNCell", "LSTMCell", "GRUCell"):
        theirs, ours = (
            raised(lambda k=kind: getattr(nn, k)(*bad)),
            raised(lambda k=kind: getattr(rnnkit, k)(*bad)),
        )
        assert type(ours) is type(theirs)


@pytest.mark.parametrize("name", TWINS)
def test_attributes_repr_and_state_dict_as_torch_nn(name):
    reference, ours = twins(name, 4, 6, bias=False)
    assert repr(ours) == repr(reference)
    for attribute in ("input_size", "hidden_size", "bias"):
        assert getattr(ours, attribute) == getattr(reference, attribute)
    assert list(ours.state_dict()) == list(reference.state_dict())


def test_rnn_cell_hidden_state_as_tuple_points_to_advance():
    """The old rnnkit call ``cell(x, (h,))`` is not torch.nn's: the error names the seam."""
    cell = rnnkit.GRUCell(3, 4)
    with pytest.raises(ValueError, match=r"hx: expected a Tensor.*cell\.advance"):
        cell(torch.randn(2, 3), (torch.randn(2, 4),))


# ---- the seam: rnnkit's (output, state) step ----------------------------------------------


@pytest.mark.parametrize("name", TWINS)
def test_advance_is_the_call_in_rnnkit_form(name):
    _, ours = twins(name, 5, 7)
    x, state = torch.randn(3, 5), state_for(name, 3, 7)
    output, new_state = ours.advance(x, state if isinstance(state, tuple) else (state,))
    called = ours(x, state)
    expected = called if isinstance(called, tuple) else (called,)
    assert torch.equal(output, expected[0])
    assert all(torch.equal(a, b) for a, b in zip(new_state, expected, strict=True))


class DocumentedCell(rnnkit.RecurrentCell):
    """A user cell written to docs/custom_cells.md: forward is rnnkit's step contract."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        self.input_to_hidden = nn.Linear(input_size, hidden_size)
        self.weight_hh = nn.Parameter(torch.randn(hidden_size, hidden_size) / hidden_size**0.5)

    def forward(self, x_t, state=None):
        (h,) = self.resolve_state(x_t, state)
        h = torch.tanh(self.input_to_hidden(x_t) + h @ self.weight_hh.t())
        return h, (h,)


def test_user_cells_keep_their_contract_and_advance_reaches_it():
    cell = DocumentedCell(4, 6)
    x = torch.randn(3, 4)
    output, (h,) = cell(x)
    advanced, (h_advanced,) = cell.advance(x)
    assert torch.equal(output, advanced) and torch.equal(h, h_advanced)
    layer = rnnkit.Recurrent(DocumentedCell, 4, 6)
    sequence = torch.randn(5, 3, 4)
    outputs, h_n = layer(sequence)
    state = None
    for t in range(5):
        output, state = layer.cells["l0"].advance(sequence[t], state)
        torch.testing.assert_close(outputs[t], output)
    torch.testing.assert_close(h_n[0], state[0])


# ---- TorchScript, tracing, export ----------------------------------------------------------


@pytest.mark.parametrize("build", [lambda: rnnkit.LSTMCell(3, 4), lambda: rnnkit.LSTM(3, 4)])
def test_jit_script_fails_in_one_line_naming_torch_export(build):
    with pytest.raises(RuntimeError) as error:
        torch.jit.script(build())
    message = str(error.value)
    assert "\n" not in message and "torch.export" in message and "jit.script" in message


@pytest.mark.parametrize("kind", ["RNNCell", "LSTMCell", "GRUCell"])
def test_jit_trace_and_torch_export_of_the_cells(kind):
    cell = getattr(rnnkit, kind)(3, 4)
    x = torch.randn(2, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(cell, (x,))
    assert_same_result(traced(x), cell(x))
    exported = torch.export.export(cell, (x,))
    assert_same_result(exported.module()(x), cell(x))
