"""Chrono gate biases and spectral-radius rescaling reach every layer and direction."""

from __future__ import annotations

import functools
import math

import pytest
import torch

import rnnkit
from rnnkit.cells import FeedForwardCell, LayerNormLSTMCell, PeepholeLSTMCell, RNNCell
from rnnkit.layers.initialization import chrono_init, rescale_spectral_radius

HIDDEN = 16
LAYERS = {
    "lstm": lambda: rnnkit.LSTM(3, HIDDEN, num_layers=2, bidirectional=True),
    "lstm_projected": lambda: rnnkit.LSTM(3, HIDDEN, num_layers=2, proj_size=4),
    "peephole": lambda: rnnkit.Recurrent(PeepholeLSTMCell, 3, HIDDEN, bidirectional=True),
}


@pytest.mark.parametrize("build", LAYERS.values(), ids=LAYERS)
def test_chrono_opens_the_forget_gate_and_closes_the_input_gate_by_the_same_amount(build):
    torch.manual_seed(0)
    layer = build()
    before = {name: p.detach().clone() for name, p in layer.named_parameters()}
    chrono_init(layer, max_timescale=200)
    suffixes = list(layer.cells)
    assert len(suffixes) >= 2
    forget_biases = []
    for suffix in suffixes:
        bias = getattr(layer, f"bias_ih_{suffix}") + getattr(layer, f"bias_hh_{suffix}")
        i, f, g, o = bias.detach().chunk(4)
        assert f.min() >= 0 and f.max() <= math.log(199) + 1e-6
        torch.testing.assert_close(i, -f)
        for gate in ("bias_ih", "bias_hh"):  # g and o untouched, in both bias vectors
            now = getattr(layer, f"{gate}_{suffix}").detach()
            torch.testing.assert_close(now[2 * HIDDEN :], before[f"{gate}_{suffix}"][2 * HIDDEN :])
        forget_biases.append(f)
    assert not torch.equal(forget_biases[0], forget_biases[1])  # one draw per layer/direction
    assert forget_biases[0].std() > 0.5  # spread over the timescales, not one value
    for name, parameter in layer.named_parameters():
        if not name.startswith("bias_"):
            torch.testing.assert_close(parameter.detach(), before[name], msg=name)


def test_chrono_biases_follow_torchs_generator():
    layers = []
    for _ in range(2):
        layer = rnnkit.LSTM(3, HIDDEN)
        torch.manual_seed(5)
        chrono_init(layer, max_timescale=50)
        layers.append(layer)
    first, second = (layer.bias_ih_l0[: 2 * HIDDEN] for layer in layers)  # i and f
    torch.testing.assert_close(first, second)
    assert layers[0].bias_ih_l0[HIDDEN : 2 * HIDDEN].max() <= math.log(49) + 1e-6


@pytest.mark.parametrize(
    ("build", "received"),
    [
        (lambda: rnnkit.GRU(3, HIDDEN), "GRUCell"),
        (lambda: rnnkit.RNN(3, HIDDEN), "RNNCell"),
        (lambda: rnnkit.LSTM(3, HIDDEN, bias=False), "LSTMCell with bias=False"),
        (lambda: rnnkit.Recurrent(LayerNormLSTMCell, 3, HIDDEN), "LayerNormLSTMCell"),
    ],
    ids=["gru", "rnn", "lstm_without_bias", "layer_norm_lstm"],
)
def test_chrono_names_a_cell_without_lstm_gate_biases(build, received):
    layer = build()
    before = [p.detach().clone() for p in layer.parameters()]
    with pytest.raises(ValueError, match=f"chrono_init needs LSTM cells.*'l0' is {received}$"):
        chrono_init(layer, max_timescale=200)
    for parameter, old in zip(layer.parameters(), before):
        assert torch.equal(parameter, old)


def test_chrono_names_a_bad_timescale():
    with pytest.raises(ValueError, match="max_timescale: expected a number above 2, got 2"):
        chrono_init(rnnkit.LSTM(3, HIDDEN), max_timescale=2)


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
@pytest.mark.parametrize("radius", [0.5, 3.0])
def test_spectral_radius_is_the_target_in_every_layer_and_direction(nonlinearity, radius):
    torch.manual_seed(0)
    layer = rnnkit.RNN(
        3, HIDDEN, num_layers=2, bidirectional=True, nonlinearity=nonlinearity
    ).double()
    weight_ih = layer.weight_ih_l1_reverse.detach().clone()
    rescale_spectral_radius(layer, radius)
    suffixes = list(layer.cells)
    assert suffixes == ["l0", "l0_reverse", "l1", "l1_reverse"]
    for suffix in suffixes:
        weight = getattr(layer, f"weight_hh_{suffix}").detach()
        measured = torch.linalg.eigvals(weight).abs().max().item()
        assert measured == pytest.approx(radius, abs=1e-6), suffix
    assert torch.equal(layer.weight_ih_l1_reverse, weight_ih)


def test_spectral_radius_applies_to_any_cell_with_a_square_recurrent_weight():
    cell = functools.partial(RNNCell, nonlinearity="tanh")
    layer = rnnkit.Recurrent(cell, 3, HIDDEN, backend="loop")
    rescale_spectral_radius(layer, 2.0)
    radius = torch.linalg.eigvals(layer.weight_hh_l0.detach()).abs().max().item()
    assert radius == pytest.approx(2.0, abs=1e-5)  # float32


@pytest.mark.parametrize(
    ("build", "received"),
    [
        (lambda: rnnkit.LSTM(3, HIDDEN), rf"LSTMCell with weight_hh \({4 * HIDDEN}, {HIDDEN}\)"),
        (lambda: rnnkit.GRU(3, HIDDEN), rf"GRUCell with weight_hh \({3 * HIDDEN}, {HIDDEN}\)"),
        (
            lambda: rnnkit.Recurrent(FeedForwardCell, 3, HIDDEN),
            "FeedForwardCell with weight_hh none",
        ),
    ],
    ids=["lstm", "gru", "feedforward"],
)
def test_spectral_radius_names_a_cell_without_a_square_recurrent_weight(build, received):
    layer = build()
    with pytest.raises(ValueError, match=f"needs a square recurrent weight.*'l0' is {received}$"):
        rescale_spectral_radius(layer, 3.0)


def test_spectral_radius_names_a_bad_radius():
    with pytest.raises(ValueError, match="radius: expected a positive number, got 0"):
        rescale_spectral_radius(rnnkit.RNN(3, HIDDEN), 0)
