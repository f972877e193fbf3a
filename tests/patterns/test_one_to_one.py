"""OneToOne: one recurrent step from the zero state is a feed-forward layer (checked against
explicit nn.Linear + activation and the gated formulas), learning, and bad configuration."""

import functools

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from rnnkit.cells import GRUCell, LSTMCell, RNNCell
from rnnkit.patterns.one_to_one import OneToOne

pytestmark = pytest.mark.usefixtures("single_thread")

INPUT_SIZE, HIDDEN_SIZE, NUM_OUTPUTS = 3, 5, 2
CELL_KINDS = ("rnn", "lstm", "gru", "custom")


def cell_class(kind: str, custom_cell: type) -> type:
    return {"rnn": RNNCell, "lstm": LSTMCell, "gru": GRUCell, "custom": custom_cell}[kind]


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_rnn_step_from_zero_state_is_linear_plus_activation(nonlinearity):
    model = OneToOne(
        "rnn", NUM_OUTPUTS, INPUT_SIZE, HIDDEN_SIZE, nonlinearity=nonlinearity
    ).double()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.normal_()  # W_hh included: it must not matter
    linear = nn.Linear(INPUT_SIZE, HIDDEN_SIZE).double()
    with torch.no_grad():
        linear.weight.copy_(model.cell.weight_ih)
        linear.bias.copy_(model.cell.bias_ih + model.cell.bias_hh)
    activation = {"tanh": torch.tanh, "relu": torch.relu}[nonlinearity]
    x = torch.randn(7, INPUT_SIZE, dtype=torch.float64)
    expected = model.output_layer(activation(linear(x)))
    torch.testing.assert_close(model(x), expected, rtol=0, atol=1e-12)


def test_lstm_and_gru_steps_from_zero_state_are_gated_feed_forward_layers():
    x = torch.randn(7, INPUT_SIZE, dtype=torch.float64)
    lstm = OneToOne("lstm", NUM_OUTPUTS, INPUT_SIZE, HIDDEN_SIZE).double()
    cell = lstm.cell
    i, _, g, o = (x @ cell.weight_ih.t() + cell.bias_ih + cell.bias_hh).chunk(4, dim=1)
    hidden = torch.sigmoid(o) * torch.tanh(torch.sigmoid(i) * torch.tanh(g))
    torch.testing.assert_close(lstm(x), lstm.output_layer(hidden), rtol=0, atol=1e-12)

    gru = OneToOne("gru", NUM_OUTPUTS, INPUT_SIZE, HIDDEN_SIZE).double()
    cell = gru.cell
    x_r, x_z, x_n = (x @ cell.weight_ih.t() + cell.bias_ih).chunk(3, dim=1)
    b_r, b_z, b_n = cell.bias_hh.chunk(3)
    n = torch.tanh(x_n + torch.sigmoid(x_r + b_r) * b_n)
    hidden = (1 - torch.sigmoid(x_z + b_z)) * n
    torch.testing.assert_close(gru(x), gru.output_layer(hidden), rtol=0, atol=1e-12)


@pytest.mark.parametrize("kind", CELL_KINDS)
def test_only_the_recurrent_weight_gets_no_gradient(kind, custom_cell):
    model = OneToOne(cell_class(kind, custom_cell), NUM_OUTPUTS, INPUT_SIZE, HIDDEN_SIZE)
    logits = model(torch.randn(6, INPUT_SIZE))
    assert logits.shape == (6, NUM_OUTPUTS) and torch.isfinite(logits).all()
    F.cross_entropy(logits, torch.tensor([0, 1, 1, 0, 1, 0])).backward()
    for name, parameter in model.named_parameters():
        if name == "cell.weight_hh":  # it multiplies h_0 = 0
            assert torch.equal(parameter.grad, torch.zeros_like(parameter))
        else:
            assert parameter.grad.abs().sum() > 0, f"{name} received an all-zero gradient"


def test_built_cell_factory_and_name_are_equivalent():
    torch.manual_seed(1)
    from_name = OneToOne("gru", NUM_OUTPUTS, INPUT_SIZE, HIDDEN_SIZE)
    torch.manual_seed(1)
    from_factory = OneToOne(functools.partial(GRUCell), NUM_OUTPUTS, INPUT_SIZE, HIDDEN_SIZE)
    torch.manual_seed(1)
    from_cell = OneToOne(GRUCell(INPUT_SIZE, HIDDEN_SIZE), NUM_OUTPUTS)
    x = torch.randn(4, INPUT_SIZE)
    assert torch.equal(from_name(x), from_factory(x))
    assert torch.equal(from_name(x), from_cell(x))


def test_input_layer_embeds_token_ids():
    model = OneToOne("lstm", NUM_OUTPUTS, INPUT_SIZE, HIDDEN_SIZE, input_layer=nn.Embedding(9, 3))
    assert model(torch.tensor([0, 4, 8])).shape == (3, NUM_OUTPUTS)


def test_dropout_acts_in_training_only():
    model = OneToOne("rnn", NUM_OUTPUTS, INPUT_SIZE, 16, dropout=0.5)
    x = torch.randn(4, INPUT_SIZE)
    assert not torch.equal(model(x), model(x))
    model.eval()
    assert torch.equal(model(x), model(x))


@pytest.mark.parametrize("kind", CELL_KINDS)
def test_overfits_a_small_batch(kind, custom_cell):
    x = torch.randn(8, INPUT_SIZE)
    labels = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
    model = OneToOne(cell_class(kind, custom_cell), 3, INPUT_SIZE, 16)
    initial = {name: p.detach().clone() for name, p in model.named_parameters()}
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(300):
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), labels)
        if loss.item() < 0.02:
            break
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.02
    unchanged = {n for n, p in model.named_parameters() if torch.equal(p.detach(), initial[n])}
    assert unchanged == {"cell.weight_hh"}


@pytest.mark.parametrize(
    "args, kwargs, message",
    [
        (("elman", 2, 3, 5), {}, "cell: expected one of rnn, lstm, gru"),
        (("rnn", 2), {}, "input_size: expected a positive integer, got None"),
        (("rnn", 2, 3), {}, "hidden_size: expected a positive integer, got None"),
        (("rnn", 0, 3, 5), {}, "num_outputs: expected a positive integer, got 0"),
        (("rnn", 2, 3, 5), {"dropout": 1}, "dropout: expected a probability"),
        ((RNNCell(3, 5), 2, 3, 5), {}, "cell: a built cell carries its own sizes"),
        ((RNNCell(3, 5), 2), {"nonlinearity": "relu"}, "cell: a built cell carries its own"),
        ((nn.Linear, 2, 3, 5), {}, "cell: expected a factory of rnnkit.cells.RecurrentCell"),
        ((42, 2, 3, 5), {}, "cell: expected a RecurrentCell, a cell name or factory"),
        (("rnn", 2, 3, 5), {"input_layer": nn.Embedding(9, 4)}, "input_layer: its embedding_dim"),
    ],
)
def test_bad_configuration_raises(args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        OneToOne(*args, **kwargs)


@pytest.mark.parametrize(
    "inputs, message",
    [
        (torch.randn(4, 2, INPUT_SIZE), r"inputs: expected inputs to be float \(N, 3\)"),
        (torch.randn(4, 2), r"inputs: expected inputs to be float \(N, 3\)"),
        (torch.ones(4, INPUT_SIZE, dtype=torch.long), "inputs: expected inputs to be float"),
    ],
)
def test_bad_input_raises(inputs, message):
    model = OneToOne("rnn", NUM_OUTPUTS, INPUT_SIZE, HIDDEN_SIZE)
    with pytest.raises(ValueError, match=message):
        model(inputs)
