"""Bad arguments and inputs: the layers refuse what torch.nn refuses, as torch.nn does.

torch.nn is the oracle. For each bad construction or call that torch.nn checks, the same code
runs on ``torch.nn`` and on ``rnnkit``: both must raise the same exception type, and rnnkit's
message must begin with torch.nn's (rnnkit may go on with what it received). The rows of
issue 18's table are here: L1 (sizes), L2 (bool flags), L3 (input dtype), L4 (hx shape),
L5 (proj_size outside LSTM), L6 (nonlinearity). Where torch.nn fails only by accident (a list
as input, one tensor for an LSTM's ``(h_0, c_0)``) and for rnnkit's own arguments (``backend``,
``lengths``, ``cell``), rnnkit raises a ValueError that names the argument.
"""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

import rnnkit
from rnnkit.cells.lstm import LSTMCell

INPUT_SIZE, HIDDEN_SIZE, STEPS, BATCH = 4, 5, 6, 3


class TinyCell(rnnkit.RecurrentCell):
    """A minimal custom cell: h_t = tanh(W [x_t, h_{t-1}])."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        self.linear = nn.Linear(input_size + hidden_size, hidden_size)

    def forward(self, input, state=None):  # noqa: A002
        (h,) = self.resolve_state(input, state)
        h = torch.tanh(self.linear(torch.cat((input, h), dim=1)))
        return h, (h,)


class SubclassedLSTMCell(LSTMCell):
    """Subclasses may change the step, so they never take the fused kernel."""


def raised(call):
    """The exception ``call()`` raises (warnings silenced), or fail the test."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            call()
        except Exception as error:  # noqa: BLE001 - any type: it is what we compare
            return error
    raise AssertionError("expected an exception, none was raised")


def assert_same_error(ours: Exception, theirs: Exception) -> None:
    assert type(ours) is type(theirs), f"rnnkit raised {ours!r}, torch.nn raised {theirs!r}"
    assert str(ours).startswith(str(theirs)), f"rnnkit: {ours}\ntorch.nn: {theirs}"


# name -> build(module), with module = torch.nn or rnnkit
CONSTRUCTORS = {
    # L1: sizes
    "L1_hidden_size_zero": lambda m: m.LSTM(10, 0),
    "L1_input_size_float": lambda m: m.LSTM(3.0, 5),
    "hidden_size_negative": lambda m: m.LSTM(4, -3),
    "hidden_size_float": lambda m: m.GRU(4, 5.0),
    "input_size_zero": lambda m: m.GRU(0, 5),
    "input_size_string": lambda m: m.RNN("10", 5),
    "num_layers_zero": lambda m: m.LSTM(4, 5, num_layers=0),
    "num_layers_negative": lambda m: m.RNN(4, 5, num_layers=-1),
    # L2: bool flags
    "L2_batch_first_string": lambda m: m.LSTM(3, 4, batch_first="False"),
    "L2_bias_int": lambda m: m.GRU(3, 4, bias=0),
    "bias_string": lambda m: m.RNN(3, 4, bias="True"),
    "batch_first_int": lambda m: m.GRU(3, 4, batch_first=1),
    # L5: proj_size
    "L5_proj_size_gru": lambda m: m.GRU(30, 20, 2, proj_size=10),
    "proj_size_rnn_zero": lambda m: m.RNN(30, 20, proj_size=0),
    "proj_size_equal_hidden": lambda m: m.LSTM(4, 5, proj_size=5),
    "proj_size_above_hidden": lambda m: m.LSTM(4, 5, proj_size=7),
    "proj_size_negative": lambda m: m.LSTM(4, 5, proj_size=-1),
    # L6: nonlinearity
    "L6_nonlinearity_unknown": lambda m: m.RNN(1, 10, nonlinearity="garbage"),
    "nonlinearity_positional": lambda m: m.RNN(1, 10, 1, "sigmoid"),
    # dropout
    "dropout_above_one": lambda m: m.GRU(4, 5, num_layers=2, dropout=1.5),
    "dropout_negative": lambda m: m.GRU(4, 5, num_layers=2, dropout=-0.1),
    "dropout_string": lambda m: m.GRU(4, 5, num_layers=2, dropout="0.5"),
    "dropout_bool": lambda m: m.LSTM(4, 5, num_layers=2, dropout=True),
}


@pytest.mark.parametrize("build", CONSTRUCTORS.values(), ids=CONSTRUCTORS.keys())
def test_constructor_errors_are_torch_nn_errors(build):
    assert_same_error(raised(lambda: build(rnnkit)), raised(lambda: build(nn)))


def test_messages_say_what_was_received():
    with pytest.raises(ValueError, match=r"hidden_size must be greater than zero, got 0"):
        rnnkit.LSTM(10, 0)
    with pytest.raises(ValueError, match=r"proj_size has to be smaller.*got proj_size=7"):
        rnnkit.LSTM(4, 5, proj_size=7)
    with pytest.raises(ValueError, match=r"dropout should be a number.*got '0.5'"):
        rnnkit.GRU(4, 5, dropout="0.5")


def test_flags_that_torch_nn_accepts_are_accepted():
    """dropout=1 (every inter-layer activation dropped) and dropout=0 with one layer."""
    for module in (nn, rnnkit):
        module.GRU(4, 5, num_layers=2, dropout=1)
        module.LSTM(4, 5, num_layers=2, dropout=0.0, bias=False, batch_first=True)


def test_dropout_with_one_layer_warns_as_torch_nn():
    messages = []
    for module in (nn, rnnkit):
        with pytest.warns(UserWarning) as caught:
            module.LSTM(4, 5, dropout=0.5)
        messages.append(str(caught[0].message))
    assert messages[0] == messages[1]


RNNKIT_CONSTRUCTORS = {
    "backend_unknown": (lambda: rnnkit.LSTM(4, 5, backend="cudnn"), "backend"),
    "backend_fused_custom_cell": (
        lambda: rnnkit.Recurrent(TinyCell, 4, 5, backend="fused"),
        "backend",
    ),
    "backend_fused_subclassed_cell": (
        lambda: rnnkit.Recurrent(SubclassedLSTMCell, 4, 5, backend="fused"),
        "backend",
    ),
    "cell_not_a_cell": (lambda: rnnkit.Recurrent(nn.Linear, 4, 5), "cell"),
}


@pytest.mark.parametrize("build, argument", RNNKIT_CONSTRUCTORS.values(), ids=RNNKIT_CONSTRUCTORS)
def test_rnnkit_arguments_are_checked(build, argument):
    with pytest.raises(ValueError, match=rf"\b{argument}\b") as error:
        build()
    assert "expected" in str(error.value) or "needs" in str(error.value)


def test_generic_layer_checks_its_arguments_as_torch_nn():
    """rnnkit.Recurrent over any cell goes through the same checks as rnnkit.LSTM."""
    assert_same_error(
        raised(lambda: rnnkit.Recurrent(TinyCell, 4, 0)), raised(lambda: nn.LSTM(4, 0))
    )
    assert_same_error(
        raised(lambda: rnnkit.Recurrent(TinyCell, 4, 5, batch_first=1)),
        raised(lambda: nn.LSTM(4, 5, batch_first=1)),
    )


def test_auto_backend_runs_the_loop_for_custom_and_subclassed_cells():
    assert not rnnkit.Recurrent(TinyCell, 4, 5).uses_fused_kernel
    assert not rnnkit.Recurrent(SubclassedLSTMCell, 4, 5).uses_fused_kernel
    assert rnnkit.Recurrent(LSTMCell, 4, 5).uses_fused_kernel


def x(*shape, dtype=torch.float32):
    return torch.randn(*shape).to(dtype)


def zeros(*shape, dtype=torch.float32):
    return torch.zeros(*shape, dtype=dtype)


def packed(lengths=(6, 4, 2), features=INPUT_SIZE):
    return pack_padded_sequence(x(STEPS, len(lengths), features), list(lengths))


# name -> (layer name, call arguments): the same arguments go to torch.nn's layer and ours
H = HIDDEN_SIZE
CALLS = {
    # L3: input dtype against the weights
    "L3_input_float64": ("LSTM", lambda: (x(2, 4, INPUT_SIZE, dtype=torch.float64),)),
    "input_integer": ("GRU", lambda: (torch.zeros(STEPS, BATCH, INPUT_SIZE, dtype=torch.long),)),
    "input_integer_ids_unbatched": ("GRU", lambda: (torch.zeros(STEPS, BATCH, dtype=torch.long),)),
    "input_float64_packed": ("GRU", lambda: (packed().double(),)),
    # L4: hx shape
    "L4_h0_wrong_size": ("GRU", lambda: (x(STEPS, BATCH, INPUT_SIZE), zeros(2, BATCH, H - 1))),
    "h0_wrong_layers": ("GRU", lambda: (x(STEPS, BATCH, INPUT_SIZE), zeros(1, BATCH, H))),
    "h0_wrong_batch": ("RNN", lambda: (x(STEPS, BATCH, INPUT_SIZE), zeros(2, BATCH + 1, H))),
    "h0_2d_for_batched": ("GRU", lambda: (x(STEPS, BATCH, INPUT_SIZE), zeros(2, H))),
    "h0_3d_for_unbatched": ("GRU", lambda: (x(STEPS, INPUT_SIZE), zeros(2, 1, H))),
    "h0_unbatched_wrong_size": ("RNN", lambda: (x(STEPS, INPUT_SIZE), zeros(2, H + 1))),
    "lstm_c0_wrong_shape": (
        "LSTM",
        lambda: (x(STEPS, BATCH, INPUT_SIZE), (zeros(2, BATCH, H), zeros(2, BATCH, H + 1))),
    ),
    "lstm_h0_wrong_shape": (
        "LSTM",
        lambda: (x(STEPS, BATCH, INPUT_SIZE), (zeros(2, BATCH, H - 1), zeros(2, BATCH, H))),
    ),
    "lstm_c0_2d_for_batched": (
        "LSTM",
        lambda: (x(STEPS, BATCH, INPUT_SIZE), (zeros(2, BATCH, H), zeros(2, H))),
    ),
    "lstm_h0_3d_for_unbatched": (
        "LSTM",
        lambda: (x(STEPS, INPUT_SIZE), (zeros(2, 1, H), zeros(2, H))),
    ),
    "packed_h0_wrong_batch": ("GRU", lambda: (packed(), zeros(2, BATCH - 1, H))),
    # rank, features, length
    "input_rank_0": ("LSTM", lambda: (torch.tensor(1.0),)),
    "input_rank_1": ("LSTM", lambda: (x(INPUT_SIZE),)),
    "input_rank_4": ("RNN", lambda: (x(2, STEPS, BATCH, INPUT_SIZE),)),
    "input_features": ("LSTM", lambda: (x(STEPS, BATCH, INPUT_SIZE + 1),)),
    "input_features_unbatched": ("GRU", lambda: (x(STEPS, INPUT_SIZE - 1),)),
    "input_features_packed": ("RNN", lambda: (packed(features=INPUT_SIZE + 2),)),
    "input_length_zero": ("GRU", lambda: (x(0, BATCH, INPUT_SIZE),)),
    "input_length_zero_unbatched": ("LSTM", lambda: (x(0, INPUT_SIZE),)),
}


@pytest.mark.parametrize("backend", ["auto", "loop"])
@pytest.mark.parametrize("layer, arguments", CALLS.values(), ids=CALLS.keys())
def test_forward_errors_are_torch_nn_errors(layer, arguments, backend):
    torch.manual_seed(0)
    reference = getattr(nn, layer)(INPUT_SIZE, HIDDEN_SIZE, num_layers=2)
    ours = getattr(rnnkit, layer)(INPUT_SIZE, HIDDEN_SIZE, num_layers=2, backend=backend)
    call = arguments()
    assert_same_error(raised(lambda: ours(*call)), raised(lambda: reference(*call)))


@pytest.mark.parametrize("backend", ["auto", "loop"])
def test_initial_state_of_another_dtype_is_a_runtime_error_naming_hx(backend):
    """torch.nn's kernels fail inside a matmul (RuntimeError); rnnkit says which argument."""
    call = (x(STEPS, BATCH, INPUT_SIZE), zeros(2, BATCH, H, dtype=torch.float64))
    theirs = raised(lambda: nn.GRU(INPUT_SIZE, HIDDEN_SIZE, 2)(*call))
    ours = raised(lambda: rnnkit.GRU(INPUT_SIZE, HIDDEN_SIZE, 2, backend=backend)(*call))
    assert type(ours) is type(theirs) is RuntimeError
    assert str(ours).startswith("hx dtype (torch.float64) does not match input dtype")


def test_generic_layer_checks_its_inputs_as_torch_nn():
    layer = rnnkit.Recurrent(TinyCell, INPUT_SIZE, HIDDEN_SIZE)
    reference = nn.GRU(INPUT_SIZE, HIDDEN_SIZE)
    for call in (
        (x(STEPS, BATCH, INPUT_SIZE, dtype=torch.float64),),
        (x(STEPS, BATCH, INPUT_SIZE), zeros(1, BATCH, H + 1)),
        (x(STEPS, BATCH, INPUT_SIZE + 1),),
    ):
        assert_same_error(raised(lambda c=call: layer(*c)), raised(lambda c=call: reference(*c)))


LSTM_STATE = (torch.zeros(2, BATCH, HIDDEN_SIZE), torch.zeros(2, BATCH, HIDDEN_SIZE))
RNNKIT_CALLS = {
    # torch.nn fails here by accident (AttributeError, IndexError); rnnkit names the argument
    "input_not_a_tensor": ("GRU", lambda: ([[0.0] * INPUT_SIZE] * STEPS,), "input"),
    "lstm_bare_tensor": ("LSTM", lambda: (x(STEPS, BATCH, INPUT_SIZE), LSTM_STATE[0]), "hx"),
    "lstm_three_tensors": (
        "LSTM",
        lambda: (x(STEPS, BATCH, INPUT_SIZE), (*LSTM_STATE, LSTM_STATE[0])),
        "hx",
    ),
    "gru_tuple_of_two": ("GRU", lambda: (x(STEPS, BATCH, INPUT_SIZE), LSTM_STATE), "hx"),
}


@pytest.mark.parametrize("backend", ["loop", "auto"])
@pytest.mark.parametrize("layer, arguments, argument", RNNKIT_CALLS.values(), ids=RNNKIT_CALLS)
def test_accidental_torch_failures_name_the_argument(layer, arguments, argument, backend):
    module = getattr(rnnkit, layer)(INPUT_SIZE, HIDDEN_SIZE, num_layers=2, backend=backend)
    with pytest.raises(ValueError, match=rf"\b{argument}\b"):
        module(*arguments())


LENGTHS_CALLS = {
    "longer_than_sequence": torch.tensor([STEPS + 1, 2, 3]),
    "zero": torch.tensor([STEPS, 0, 3]),
    "negative": torch.tensor([STEPS, -1, 3]),
    "too_few": torch.tensor([STEPS, 2]),
    "too_many": torch.tensor([STEPS, 2, 3, 1]),
    "two_dimensional": torch.tensor([[STEPS, 2, 3]]),
    "float": torch.tensor([6.0, 2.0, 3.0]),
}


@pytest.mark.parametrize("batch_first", [False, True], ids=["time_major", "batch_first"])
@pytest.mark.parametrize("lengths", LENGTHS_CALLS.values(), ids=LENGTHS_CALLS.keys())
def test_bad_lengths(lengths, batch_first):
    module = rnnkit.GRU(INPUT_SIZE, HIDDEN_SIZE, batch_first=batch_first)
    shape = (BATCH, STEPS, INPUT_SIZE) if batch_first else (STEPS, BATCH, INPUT_SIZE)
    with pytest.raises(ValueError, match=r"\blengths\b"):
        module(torch.randn(shape), lengths=lengths)


def test_lengths_rejected_with_packed_or_unbatched_input():
    module = rnnkit.GRU(INPUT_SIZE, HIDDEN_SIZE)
    packed_input = pack_padded_sequence(torch.randn(STEPS, BATCH, INPUT_SIZE), [6, 4, 2])
    with pytest.raises(ValueError, match=r"\blengths\b"):
        module(packed_input, lengths=torch.tensor([6, 4, 2]))
    with pytest.raises(ValueError, match=r"\blengths\b"):
        module(torch.randn(STEPS, INPUT_SIZE), lengths=torch.tensor([STEPS]))


def test_lengths_input_is_checked_as_torch_nn_checks_packed_input():
    module = rnnkit.GRU(INPUT_SIZE, HIDDEN_SIZE)
    with pytest.raises(RuntimeError, match=r"input_size. Expected 4, got 5"):
        module(torch.randn(STEPS, BATCH, INPUT_SIZE + 1), lengths=torch.tensor([6, 4, 2]))
    with pytest.raises(RuntimeError, match=r"Expected hidden size \(1, 3, 5\), got \[1, 2, 5\]"):
        module(torch.randn(STEPS, BATCH, INPUT_SIZE), zeros(1, 2, H), torch.tensor([6, 4, 2]))
