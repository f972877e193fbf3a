"""Hand-written gradients against autograd on the plain formulation.

* The gate-arithmetic kernels of :mod:`rnnkit.cells.pointwise` (``lstm_forward`` /
  ``lstm_backward``, ``gru_forward`` / ``gru_backward``) against autograd through
  :func:`lstm_pointwise` / :func:`gru_pointwise`, on contiguous and non-contiguous inputs.
* The custom autograd Functions that run a whole direction of a standard cell as one node
  (:func:`rnnkit.layers.standard_loop.run_standard_direction`) against the generic runner
  loop :func:`rnnkit.layers.time_loop.loop_steps` over the cell's own ``step`` (ordinary
  autograd), and with ``gradcheck`` / ``gradgradcheck`` in float64: values, first- and
  second-order gradients, for every standard cell, with and without bias, equal lengths and
  packed batches, both directions.
* When layers take that node and when they keep the generic loop: subclasses, user cells,
  instrumented cells, autocast, ``torch.func`` transforms, ``torch.export``.

(torch.nn parity of the layers on either path is tests/layers/test_parity.py's subject.)
"""

from __future__ import annotations

import warnings

import pytest
import torch
from torch.autograd import gradcheck, gradgradcheck

import rnnkit
from rnnkit.cells import GRUCell, LSTMCell, RecurrentCell, RNNCell
from rnnkit.cells.pointwise import (
    gru_backward,
    gru_forward,
    gru_pointwise,
    lstm_backward,
    lstm_forward,
    lstm_pointwise,
    partial_gradients,
)
from rnnkit.layers.standard_loop import has_standard_loop, run_standard_direction
from rnnkit.layers.time_loop import loop_steps

BATCH, HIDDEN = 3, 4
TOLERANCE = {torch.float64: 1e-12, torch.float32: 1e-5}
DTYPES = pytest.mark.parametrize(
    "dtype", [torch.float64, torch.float32], ids=["float64", "float32"]
)
LAYOUTS = ("contiguous", "transposed", "every_other_column")


def make(columns: int, dtype: torch.dtype, layout: str, requires_grad: bool = True):
    """A random ``(BATCH, columns)`` tensor with the given memory layout."""
    if layout == "contiguous":
        values = torch.randn(BATCH, columns, dtype=dtype)
    elif layout == "transposed":
        values = torch.randn(columns, BATCH, dtype=dtype).t()
    else:
        values = torch.randn(BATCH, 2 * columns, dtype=dtype)[:, ::2]
    assert (layout == "contiguous") == values.is_contiguous()
    return values.requires_grad_(requires_grad)


def as_tuple(state) -> tuple[torch.Tensor, ...]:
    return (state,) if isinstance(state, torch.Tensor) else tuple(state)


def empty(columns: int, dtype: torch.dtype) -> torch.Tensor:
    return torch.full((BATCH, columns), float("nan"), dtype=dtype)


def assert_all_close(actual, expected, dtype: torch.dtype, what: str) -> None:
    assert len(actual) == len(expected), what
    for k, (a, e) in enumerate(zip(actual, expected)):
        if e is None:
            assert a is None, f"{what} {k}: expected None"
            continue
        tolerance = TOLERANCE[dtype]
        torch.testing.assert_close(
            a, e, atol=tolerance, rtol=tolerance, msg=lambda m, k=k: f"{what} {k}: {m}"
        )


# ---- the one-step kernels -----------------------------------------------------------------


@pytest.mark.parametrize("with_grad_c", [True, False], ids=["grad_c", "no_grad_c"])
@pytest.mark.parametrize("layout", LAYOUTS)
@DTYPES
def test_lstm_kernels_match_autograd(dtype, layout, with_grad_c):
    gates, c_prev = make(4 * HIDDEN, dtype, layout), make(HIDDEN, dtype, layout)
    grad_h = make(HIDDEN, dtype, layout, requires_grad=False)
    grad_c = make(HIDDEN, dtype, layout, requires_grad=False) if with_grad_c else None
    h, c = lstm_pointwise(gates, c_prev)
    expected_grads = torch.autograd.grad(
        (h, c), (gates, c_prev), (grad_h, torch.zeros_like(c) if grad_c is None else grad_c)
    )

    activated, kernel_c, tanh_c, kernel_h = (empty(w * HIDDEN, dtype) for w in (4, 1, 1, 1))
    with torch.no_grad():
        lstm_forward(gates, c_prev, activated, kernel_c, tanh_c, kernel_h)
    assert_all_close((kernel_h, kernel_c), (h, c), dtype, "h_t, c_t")
    grad_gates, grad_c_prev = empty(4 * HIDDEN, dtype), empty(HIDDEN, dtype)
    lstm_backward(activated, c_prev.detach(), tanh_c, grad_h, grad_c, grad_gates, grad_c_prev)
    assert_all_close((grad_gates, grad_c_prev), expected_grads, dtype, "gradient")


@DTYPES
def test_lstm_backward_may_write_grad_c_prev_over_grad_c(dtype):
    gates, c_prev = make(4 * HIDDEN, dtype, "contiguous"), make(HIDDEN, dtype, "contiguous")
    grad_h, grad_c = (
        torch.randn(BATCH, HIDDEN, dtype=dtype),
        torch.randn(BATCH, HIDDEN, dtype=dtype),
    )
    expected = torch.autograd.grad(lstm_pointwise(gates, c_prev), (gates, c_prev), (grad_h, grad_c))
    activated, c, tanh_c, h = (empty(w * HIDDEN, dtype) for w in (4, 1, 1, 1))
    with torch.no_grad():
        lstm_forward(gates, c_prev, activated, c, tanh_c, h)
    grad_gates = empty(4 * HIDDEN, dtype)
    lstm_backward(activated, c_prev.detach(), tanh_c, grad_h, grad_c, grad_gates, grad_c)
    assert_all_close((grad_gates, grad_c), expected, dtype, "gradient")


@DTYPES
def test_lstm_forward_in_place(dtype):
    """Activating the gates where they are and updating ``c`` over ``c_prev`` (the one-node
    loop does both) gives the same numbers."""
    gates, c_prev = (
        torch.randn(BATCH, 4 * HIDDEN, dtype=dtype),
        torch.randn(BATCH, HIDDEN, dtype=dtype),
    )
    expected = [empty(w * HIDDEN, dtype) for w in (4, 1, 1, 1)]
    lstm_forward(gates, c_prev, *expected)
    in_place_gates, in_place_c = gates.clone(), c_prev.clone()
    tanh_c, h = empty(HIDDEN, dtype), empty(HIDDEN, dtype)
    lstm_forward(in_place_gates, in_place_c, in_place_gates, in_place_c, tanh_c, h)
    actual = (in_place_gates, in_place_c, tanh_c, h)
    assert_all_close(actual, expected, dtype, "activated, c_t, tanh(c_t), h_t")


@pytest.mark.parametrize("layout", LAYOUTS)
@DTYPES
def test_gru_kernels_match_autograd(dtype, layout):
    input_gates, hidden_gates = make(3 * HIDDEN, dtype, layout), make(3 * HIDDEN, dtype, layout)
    h_prev = make(HIDDEN, dtype, layout)
    grad_h = make(HIDDEN, dtype, layout, requires_grad=False)
    h = gru_pointwise(input_gates, hidden_gates, h_prev)
    expected_grads = torch.autograd.grad(h, (input_gates, hidden_gates, h_prev), grad_h)

    rz, n, kernel_h = (empty(w * HIDDEN, dtype) for w in (2, 1, 1))
    with torch.no_grad():
        gru_forward(input_gates, hidden_gates, h_prev, rz, n, kernel_h)
    assert_all_close((kernel_h,), (h,), dtype, "h_t")
    grad_input_gates, grad_hidden_gates = empty(3 * HIDDEN, dtype), empty(3 * HIDDEN, dtype)
    hidden_n = hidden_gates.detach()[:, 2 * HIDDEN :]
    direct = gru_backward(
        hidden_n, h_prev.detach(), rz, n, grad_h, grad_input_gates, grad_hidden_gates
    )
    actual = (grad_input_gates, grad_hidden_gates, direct)
    assert_all_close(actual, expected_grads, dtype, "gradient")


def test_partial_gradients_differentiate_each_input_on_its_own():
    """``b`` is computed from ``a``, yet the result is the partial derivative in ``a``; and
    that result can be differentiated again."""
    a = torch.randn(5, dtype=torch.float64, requires_grad=True)
    b = 2 * a
    grad = torch.randn(5, dtype=torch.float64)
    grad_a, grad_b = partial_gradients(lambda x, y: x * y, (a, b), (grad,))
    torch.testing.assert_close(grad_a, grad * b, rtol=0, atol=0)
    torch.testing.assert_close(grad_b, grad * a, rtol=0, atol=0)
    (second,) = torch.autograd.grad(grad_a.sum() + grad_b.sum(), a)
    torch.testing.assert_close(second, 3 * grad, rtol=0, atol=1e-15)
    assert partial_gradients(lambda x, y: x, (a, None), (grad,))[1] is None


# ---- a whole direction of a standard cell as one autograd node ----------------------------

INPUT_SIZE = 3
CELLS = {
    "rnn_tanh": lambda bias, dtype: RNNCell(INPUT_SIZE, HIDDEN, bias, "tanh", dtype=dtype),
    "rnn_relu": lambda bias, dtype: RNNCell(INPUT_SIZE, HIDDEN, bias, "relu", dtype=dtype),
    "lstm": lambda bias, dtype: LSTMCell(INPUT_SIZE, HIDDEN, bias, dtype=dtype),
    "lstm_proj": lambda bias, dtype: LSTMCell(INPUT_SIZE, HIDDEN, bias, proj_size=2, dtype=dtype),
    "gru": lambda bias, dtype: GRUCell(INPUT_SIZE, HIDDEN, bias, dtype=dtype),
}
# sequences alive at each step: equal lengths; a packed batch of lengths 4, 3, 1
BATCH_SIZES = {"equal_lengths": [3, 3, 3], "packed": [3, 2, 2, 1]}


def direction_case(kind: str, bias: bool, dtype: torch.dtype, batch_sizes: list[int]):
    cell = CELLS[kind](bias, dtype)
    with torch.no_grad():  # larger weights: fewer dead relu units, less saturated gates
        for parameter in cell.parameters():
            parameter.add_(0.3 * torch.randn_like(parameter))
    inputs = torch.randn(sum(batch_sizes), INPUT_SIZE, dtype=dtype, requires_grad=True)
    state = tuple(
        torch.randn(batch_sizes[0], size, dtype=dtype, requires_grad=True)
        for size in cell.state_size
    )
    return cell, inputs, state


def run_one_node(cell, batch_sizes, reverse, inputs, *state):
    output, final = run_standard_direction(cell, inputs, batch_sizes, state, reverse)
    return (output, *final)


def run_generic(cell, batch_sizes, reverse, inputs, *state):
    """The oracle: the runner's loop over ``cell.step``, recorded op by op by autograd."""
    output, final = loop_steps(cell.step, cell.project_input(inputs), batch_sizes, state, reverse)
    return (output, *final)


def leaves_of(cell, inputs, state) -> tuple[torch.Tensor, ...]:
    return (inputs, *state, *cell.parameters())


DIRECTION_MATRIX = [
    pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reverse"]),
    pytest.mark.parametrize("batch_sizes", BATCH_SIZES),
    pytest.mark.parametrize("bias", [True, False], ids=["bias", "no_bias"]),
    pytest.mark.parametrize("kind", CELLS),
]


def over_directions(test):
    for mark in DIRECTION_MATRIX:
        test = mark(test)
    return test


@over_directions
@DTYPES
def test_one_node_loop_matches_generic_loop(dtype, kind, bias, batch_sizes, reverse):
    sizes = BATCH_SIZES[batch_sizes]
    cell, inputs, state = direction_case(kind, bias, dtype, sizes)
    actual = run_one_node(cell, sizes, reverse, inputs, *state)
    expected = run_generic(cell, sizes, reverse, inputs, *state)
    assert_all_close(actual, expected, dtype, "output and final state")
    grads = tuple(torch.randn_like(t) for t in expected)
    leaves = leaves_of(cell, inputs, state)
    assert_all_close(
        torch.autograd.grad(actual, leaves, grads),
        torch.autograd.grad(expected, leaves, grads),
        dtype,
        "gradient of input, initial state, parameter",
    )


@over_directions
def test_one_node_loop_gradcheck(kind, bias, batch_sizes, reverse):
    sizes = BATCH_SIZES[batch_sizes]
    cell, inputs, state = direction_case(kind, bias, torch.float64, sizes)

    # The parameters are passed so that gradcheck perturbs and differentiates them; the cell
    # reads the very same tensors.
    def function(inputs, *rest):
        return run_one_node(cell, sizes, reverse, inputs, *rest[: len(state)])

    assert gradcheck(function, leaves_of(cell, inputs, state))


@pytest.mark.parametrize("kind", CELLS)
def test_one_node_loop_with_non_contiguous_inputs(kind):
    sizes = BATCH_SIZES["packed"]
    cell, _, state = direction_case(kind, True, torch.float64, sizes)
    wide = torch.randn(sum(sizes), 2 * INPUT_SIZE, dtype=torch.float64, requires_grad=True)
    inputs = wide[:, ::2]
    actual = run_one_node(cell, sizes, True, inputs, *state)
    expected = run_generic(cell, sizes, True, inputs, *state)
    assert_all_close(actual, expected, torch.float64, "output and final state")
    grads = tuple(torch.randn_like(t) for t in expected)
    leaves = (wide, *state, *cell.parameters())
    assert_all_close(
        torch.autograd.grad(actual, leaves, grads),
        torch.autograd.grad(expected, leaves, grads),
        torch.float64,
        "gradient",
    )


@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reverse"])
@pytest.mark.parametrize("kind", CELLS)
def test_one_node_loop_gradgradcheck(kind, reverse):
    sizes = BATCH_SIZES["packed"]
    cell, inputs, state = direction_case(kind, True, torch.float64, sizes)

    def function(inputs, *rest):
        return run_one_node(cell, sizes, reverse, inputs, *rest[: len(state)])

    assert gradgradcheck(function, leaves_of(cell, inputs, state))


@pytest.mark.parametrize("kind", CELLS)
def test_one_node_loop_double_backward_matches_generic_loop(kind):
    """Second-order gradients where the inputs depend on the initial state: each input of
    the Function must get its partial derivative."""
    sizes = BATCH_SIZES["packed"]
    cell, raw, _ = direction_case(kind, True, torch.float64, sizes)
    mixing = torch.randn(INPUT_SIZE, HIDDEN, dtype=torch.float64, requires_grad=True)
    leaves = (raw, mixing, *cell.parameters())
    results = []
    for run in (run_one_node, run_generic):
        h0 = torch.tanh(raw[: sizes[0]] @ mixing)
        state = tuple(h0[:, :size] for size in cell.state_size)
        inputs = raw + state[0].mean()
        outputs = run(cell, sizes, True, inputs, *state)
        loss = sum(o.pow(2).sum() for o in outputs)
        first = torch.autograd.grad(loss, leaves, create_graph=True)
        second = torch.autograd.grad(sum(g.sin().sum() for g in first), leaves)
        results.append((first, second))
    assert_all_close(results[0][0], results[1][0], torch.float64, "gradient (create_graph)")
    assert_all_close(results[0][1], results[1][1], torch.float64, "second-order gradient")


@pytest.mark.parametrize("trained", ["input", "initial_state", "weight_ih", "weight_hh", "bias_hh"])
@pytest.mark.parametrize("kind", CELLS)
def test_one_node_loop_with_one_part_trained(kind, trained):
    """Gradients reach the one part that requires them, everything else frozen."""
    sizes = BATCH_SIZES["packed"]
    cell, inputs, state = direction_case(kind, True, torch.float64, sizes)
    for name, parameter in cell.named_parameters():
        parameter.requires_grad_(name == trained)
    inputs.requires_grad_(trained == "input")
    for component in state:
        component.requires_grad_(trained == "initial_state")
    parts = {"input": (inputs,), "initial_state": state}
    wanted = parts[trained] if trained in parts else (getattr(cell, trained),)
    grads, results = None, []
    for run in (run_one_node, run_generic):
        outputs = run(cell, sizes, False, inputs, *state)
        grads = grads or tuple(torch.randn_like(t) for t in outputs)
        results.append(torch.autograd.grad(outputs, wanted, grads))
    assert_all_close(results[0], results[1], torch.float64, "gradient")


@pytest.mark.parametrize("kind", CELLS)
def test_one_node_loop_leaves_incoming_gradients_unchanged(kind):
    sizes = BATCH_SIZES["packed"]
    cell, inputs, state = direction_case(kind, True, torch.float64, sizes)
    outputs = run_one_node(cell, sizes, False, inputs, *state)
    grads = tuple(torch.randn_like(t) for t in outputs)
    copies = tuple(g.clone() for g in grads)
    torch.autograd.grad(outputs, leaves_of(cell, inputs, state), grads)
    for grad, copy in zip(grads, copies):
        assert torch.equal(grad, copy)


@pytest.mark.parametrize("kind", CELLS)
def test_one_node_loop_without_grad_matches_generic_loop(kind):
    sizes = BATCH_SIZES["packed"]
    cell, inputs, state = direction_case(kind, True, torch.float64, sizes)
    with torch.no_grad():
        actual = run_one_node(cell, sizes, True, inputs, *state)
        expected = run_generic(cell, sizes, True, inputs, *state)
    assert not any(t.requires_grad for t in actual)
    assert_all_close(actual, expected, torch.float64, "output and final state")


class _TwoStepLSTMCell(LSTMCell):
    """A subclass that changes the step: it must keep the generic loop."""

    def step(self, projected_input, state):
        _, state = super().step(projected_input, state)
        return super().step(projected_input, state)


class _CounterCell(RecurrentCell):
    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size

    def forward(self, input, state=None):  # noqa: A002
        (h,) = self.resolve_state(input, state)
        return h + 1, (h + 1,)


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        (RNNCell(2, 3, nonlinearity="relu"), True),
        (LSTMCell(2, 3, proj_size=1), True),
        (GRUCell(2, 3, bias=False), True),
        (_TwoStepLSTMCell(2, 3), False),
        (_CounterCell(2, 3), False),
    ],
    ids=["rnn_relu", "lstm_proj", "gru_no_bias", "lstm_subclass", "user_cell"],
)
def test_only_exact_standard_cells_take_the_one_node_loop(cell, expected):
    assert has_standard_loop(cell) is expected


@pytest.mark.parametrize("method", ["project_input", "step"])
@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_layer_calls_methods_replaced_on_a_cell(kind, method):
    """Instrumenting a standard cell's instance (as a test or a debugging session may) sends
    its direction through the generic loop, which calls the replacement."""
    layer = getattr(rnnkit, kind)(INPUT_SIZE, HIDDEN, num_layers=2, backend="loop")
    inputs = torch.randn(4, BATCH, INPUT_SIZE)
    expected, _ = layer(inputs)
    cell = layer.cells["l1"]
    calls = []
    original = getattr(cell, method)

    def recording(*args):
        calls.append(args[0].shape)
        return original(*args)

    setattr(cell, method, recording)
    assert not has_standard_loop(cell) and has_standard_loop(layer.cells["l0"])
    actual, _ = layer(inputs)
    assert calls, f"the replaced {method} was not called"
    assert_all_close((actual,), (expected,), torch.float32, "output")


def test_one_node_loop_rejects_other_cells():
    cell = _TwoStepLSTMCell(2, 3)
    state = cell.initial_state(1)
    with pytest.raises(ValueError, match=r"^cell: expected an RNNCell, LSTMCell or GRUCell"):
        run_standard_direction(cell, torch.randn(2, 2), [1, 1], state)


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_layer_trains_the_recurrent_weight_alone(kind):
    """In a layer (whose cells hold adopted parameters), a frozen input projection and an
    input without gradient still leave ``weight_hh`` its gradient, equal to torch.nn's."""
    reference = getattr(torch.nn, kind)(INPUT_SIZE, HIDDEN, dtype=torch.float64)
    ours = getattr(rnnkit, kind)(INPUT_SIZE, HIDDEN, dtype=torch.float64, backend="loop")
    ours.load_state_dict(reference.state_dict())
    inputs = torch.randn(4, BATCH, INPUT_SIZE, dtype=torch.float64)
    grads = []
    for layer in (ours, reference):
        for name, parameter in layer.named_parameters():
            parameter.requires_grad_(name == "weight_hh_l0")
        output, _ = layer(inputs)
        grads.append(torch.autograd.grad(output.pow(2).sum(), layer.weight_hh_l0))
    assert_all_close(grads[0], grads[1], torch.float64, "gradient of weight_hh_l0")


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_layer_under_autocast_computes_what_the_generic_loop_computes(kind):
    """Autocast casts op by op; the loop backend then keeps the generic loop, whose result
    (dtypes included) is the reference."""
    cell = {"RNN": RNNCell, "LSTM": LSTMCell, "GRU": GRUCell}[kind]
    ours = getattr(rnnkit, kind)(INPUT_SIZE, HIDDEN, backend="loop")
    generic = rnnkit.Recurrent(type("Subclass", (cell,), {}), INPUT_SIZE, HIDDEN, backend="loop")
    generic.load_state_dict(ours.state_dict())
    inputs = torch.randn(4, BATCH, INPUT_SIZE)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        runs = [layer(inputs) for layer in (ours, generic)]
    actual, expected = ((output, *as_tuple(final)) for output, final in runs)
    for a, e in zip(actual, expected, strict=True):
        assert a.dtype == e.dtype
        assert torch.equal(a, e)


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_layer_under_torch_func_transforms(kind):
    """torch.func.grad and vmap see the generic loop and agree with eager autograd."""
    layer = getattr(rnnkit, kind)(INPUT_SIZE, HIDDEN, dtype=torch.float64, backend="loop")
    parameters = dict(layer.named_parameters())
    inputs = torch.randn(4, BATCH, INPUT_SIZE, dtype=torch.float64)

    def loss(parameters, inputs):
        output, _ = torch.func.functional_call(layer, parameters, (inputs,))
        return output.pow(2).sum()

    transformed = torch.func.grad(loss)(parameters, inputs)
    eager = torch.autograd.grad(loss(parameters, inputs), list(parameters.values()))
    assert_all_close(tuple(transformed.values()), eager, torch.float64, "gradient")
    stacked = torch.stack([inputs, 2 * inputs])
    mapped = torch.func.vmap(lambda x: layer(x)[0])(stacked)
    assert_all_close(tuple(mapped), tuple(layer(x)[0] for x in stacked), torch.float64, "output")


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_layer_exports(kind):
    """torch.export traces the generic loop's plain operations."""
    layer = getattr(rnnkit, kind)(INPUT_SIZE, HIDDEN, backend="loop")
    inputs = torch.randn(4, BATCH, INPUT_SIZE)
    with warnings.catch_warnings():  # about the layer binding its cells' parameters
        warnings.simplefilter("ignore", UserWarning)
        exported = torch.export.export(layer, (inputs,)).module()
    actual, expected = exported(inputs), layer(inputs)
    actual = (actual[0], *as_tuple(actual[1]))
    expected = (expected[0], *as_tuple(expected[1]))
    assert_all_close(actual, expected, torch.float32, "output and final state")
