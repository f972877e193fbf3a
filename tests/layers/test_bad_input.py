"""Bad arguments fail early with a ValueError that names the argument at fault."""

from __future__ import annotations

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


CONSTRUCTORS = {
    "proj_size_equal_hidden": (lambda: rnnkit.LSTM(4, 5, proj_size=5), "proj_size"),
    "proj_size_above_hidden": (lambda: rnnkit.LSTM(4, 5, proj_size=7), "proj_size"),
    "proj_size_negative": (lambda: rnnkit.LSTM(4, 5, proj_size=-1), "proj_size"),
    "dropout_one": (lambda: rnnkit.GRU(4, 5, num_layers=2, dropout=1.0), "dropout"),
    "dropout_negative": (lambda: rnnkit.GRU(4, 5, num_layers=2, dropout=-0.1), "dropout"),
    "dropout_string": (lambda: rnnkit.GRU(4, 5, num_layers=2, dropout="0.5"), "dropout"),
    "hidden_size_zero": (lambda: rnnkit.RNN(4, 0), "hidden_size"),
    "hidden_size_negative": (lambda: rnnkit.LSTM(4, -3), "hidden_size"),
    "hidden_size_float": (lambda: rnnkit.GRU(4, 5.0), "hidden_size"),
    "input_size_zero": (lambda: rnnkit.GRU(0, 5), "input_size"),
    "num_layers_zero": (lambda: rnnkit.LSTM(4, 5, num_layers=0), "num_layers"),
    "num_layers_negative": (lambda: rnnkit.RNN(4, 5, num_layers=-1), "num_layers"),
    "nonlinearity_unknown": (lambda: rnnkit.RNN(4, 5, nonlinearity="sigmoid"), "nonlinearity"),
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


@pytest.mark.parametrize("build, argument", CONSTRUCTORS.values(), ids=CONSTRUCTORS.keys())
def test_bad_constructor_argument(build, argument):
    with pytest.raises(ValueError, match=rf"\b{argument}\b") as error:
        build()
    assert "expected" in str(error.value) or "needs" in str(error.value)


def test_auto_backend_runs_the_loop_for_custom_and_subclassed_cells():
    assert not rnnkit.Recurrent(TinyCell, 4, 5).uses_fused_kernel
    assert not rnnkit.Recurrent(SubclassedLSTMCell, 4, 5).uses_fused_kernel
    assert rnnkit.Recurrent(LSTMCell, 4, 5).uses_fused_kernel


def lstm() -> rnnkit.LSTM:
    return rnnkit.LSTM(INPUT_SIZE, HIDDEN_SIZE, num_layers=2)


def gru() -> rnnkit.GRU:
    return rnnkit.GRU(INPUT_SIZE, HIDDEN_SIZE, num_layers=2)


def x(*shape, dtype=torch.float32):
    return torch.randn(*shape).to(dtype)


LSTM_STATE = (torch.zeros(2, BATCH, HIDDEN_SIZE), torch.zeros(2, BATCH, HIDDEN_SIZE))
CALLS = {
    "input_rank_0": (lstm, lambda: (torch.tensor(1.0),), "input"),
    "input_rank_1": (lstm, lambda: (x(INPUT_SIZE),), "input"),
    "input_rank_4": (lstm, lambda: (x(2, STEPS, BATCH, INPUT_SIZE),), "input"),
    "input_features": (lstm, lambda: (x(STEPS, BATCH, INPUT_SIZE + 1),), "input"),
    "input_features_unbatched": (gru, lambda: (x(STEPS, INPUT_SIZE - 1),), "input"),
    "input_integer": (
        gru,
        lambda: (torch.zeros(STEPS, BATCH, INPUT_SIZE, dtype=torch.long),),
        "input",
    ),
    "input_integer_ids": (gru, lambda: (torch.zeros(STEPS, BATCH, dtype=torch.long),), "input"),
    "input_not_a_tensor": (gru, lambda: ([[0.0] * INPUT_SIZE] * STEPS,), "input"),
    "input_length_zero": (gru, lambda: (x(0, BATCH, INPUT_SIZE),), "input"),
    "h0_wrong_layers": (gru, lambda: (x(STEPS, BATCH, INPUT_SIZE), x(1, BATCH, HIDDEN_SIZE)), "hx"),
    "h0_wrong_batch": (
        gru,
        lambda: (x(STEPS, BATCH, INPUT_SIZE), x(2, BATCH + 1, HIDDEN_SIZE)),
        "hx",
    ),
    "h0_wrong_size": (
        gru,
        lambda: (x(STEPS, BATCH, INPUT_SIZE), x(2, BATCH, HIDDEN_SIZE + 1)),
        "hx",
    ),
    "h0_2d_for_batched": (gru, lambda: (x(STEPS, BATCH, INPUT_SIZE), x(2, HIDDEN_SIZE)), "hx"),
    "h0_3d_for_unbatched": (gru, lambda: (x(STEPS, INPUT_SIZE), x(2, 1, HIDDEN_SIZE)), "hx"),
    "h0_dtype": (
        gru,
        lambda: (x(STEPS, BATCH, INPUT_SIZE), x(2, BATCH, HIDDEN_SIZE, dtype=torch.float64)),
        "hx",
    ),
    "lstm_bare_tensor": (lstm, lambda: (x(STEPS, BATCH, INPUT_SIZE), LSTM_STATE[0]), "hx"),
    "lstm_three_tensors": (
        lstm,
        lambda: (x(STEPS, BATCH, INPUT_SIZE), (*LSTM_STATE, LSTM_STATE[0])),
        "hx",
    ),
    "lstm_c0_wrong_shape": (
        lstm,
        lambda: (x(STEPS, BATCH, INPUT_SIZE), (LSTM_STATE[0], x(2, BATCH, HIDDEN_SIZE + 1))),
        "hx",
    ),
    "lstm_packed_h0_wrong_batch": (
        lstm,
        lambda: (
            pack_padded_sequence(x(STEPS, BATCH, INPUT_SIZE), [6, 4, 2]),
            (x(2, BATCH - 1, HIDDEN_SIZE), x(2, BATCH - 1, HIDDEN_SIZE)),
        ),
        "hx",
    ),
}

LENGTHS_CALLS = {
    "longer_than_sequence": torch.tensor([STEPS + 1, 2, 3]),
    "zero": torch.tensor([STEPS, 0, 3]),
    "negative": torch.tensor([STEPS, -1, 3]),
    "too_few": torch.tensor([STEPS, 2]),
    "too_many": torch.tensor([STEPS, 2, 3, 1]),
    "two_dimensional": torch.tensor([[STEPS, 2, 3]]),
    "float": torch.tensor([6.0, 2.0, 3.0]),
}


@pytest.mark.parametrize("backend", ["loop", "auto"])
@pytest.mark.parametrize("layer, arguments, argument", CALLS.values(), ids=CALLS.keys())
def test_bad_forward_argument(layer, arguments, argument, backend):
    module = layer()
    module.backend = backend
    with pytest.raises(ValueError, match=rf"\b{argument}\b"):
        module(*arguments())


@pytest.mark.parametrize("batch_first", [False, True], ids=["time_major", "batch_first"])
@pytest.mark.parametrize("lengths", LENGTHS_CALLS.values(), ids=LENGTHS_CALLS.keys())
def test_bad_lengths(lengths, batch_first):
    module = rnnkit.GRU(INPUT_SIZE, HIDDEN_SIZE, batch_first=batch_first)
    shape = (BATCH, STEPS, INPUT_SIZE) if batch_first else (STEPS, BATCH, INPUT_SIZE)
    with pytest.raises(ValueError, match=r"\blengths\b"):
        module(torch.randn(shape), lengths=lengths)


def test_lengths_rejected_with_packed_or_unbatched_input():
    module = rnnkit.GRU(INPUT_SIZE, HIDDEN_SIZE)
    packed = pack_padded_sequence(torch.randn(STEPS, BATCH, INPUT_SIZE), [6, 4, 2])
    with pytest.raises(ValueError, match=r"\blengths\b"):
        module(packed, lengths=torch.tensor([6, 4, 2]))
    with pytest.raises(ValueError, match=r"\blengths\b"):
        module(torch.randn(STEPS, INPUT_SIZE), lengths=torch.tensor([STEPS]))


def test_messages_say_what_was_received():
    with pytest.raises(ValueError, match=r"proj_size.*got 7"):
        rnnkit.LSTM(4, 5, proj_size=7)
    with pytest.raises(ValueError, match=r"input.*4 features.*\(6, 3, 5\)"):
        lstm()(torch.randn(STEPS, BATCH, INPUT_SIZE + 1))
    with pytest.raises(ValueError, match=r"lengths.*\[1, 6\].*max 7"):
        gru()(torch.randn(STEPS, BATCH, INPUT_SIZE), lengths=torch.tensor([7, 2, 3]))
    with pytest.raises(ValueError, match=r"hx.*\(2, 3, 5\).*\(1, 3, 5\)"):
        gru()(torch.randn(STEPS, BATCH, INPUT_SIZE), torch.zeros(1, BATCH, HIDDEN_SIZE))
