"""DropConnect on the recurrent weights (``weight_dropout``): one mask per forward pass shared
by every time step, the fused kernel still used, nothing dropped in eval, gradients reaching
the raw weights, parameters and state_dict unchanged."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import rnnkit
import rnnkit.layers.recurrent as recurrent_module
from rnnkit.cells import FeedForwardCell, PeepholeLSTMCell

P = 0.5
LAYERS = {
    "lstm_fused": lambda **o: rnnkit.LSTM(4, 5, dtype=torch.float64, **o),
    "lstm_loop": lambda **o: rnnkit.LSTM(4, 5, dtype=torch.float64, backend="loop", **o),
    "gru_fused": lambda **o: rnnkit.GRU(4, 5, dtype=torch.float64, **o),
    "rnn_loop": lambda **o: rnnkit.RNN(4, 5, dtype=torch.float64, backend="loop", **o),
    "peephole": lambda **o: rnnkit.Recurrent(PeepholeLSTMCell, 4, 5, **o).double(),
}


def build(kind, **options):
    torch.manual_seed(0)
    return LAYERS[kind](num_layers=2, bidirectional=True, **options)


def dropped_copy(kind, layer, seed, p=P):
    """A layer without weight drop whose recurrent weights are the dropped ones ``layer``
    draws after ``torch.manual_seed(seed)`` (same RNG order: one F.dropout per weight_hh,
    layer by layer and direction by direction)."""
    reference = build(kind)
    reference.load_state_dict(layer.state_dict())
    torch.manual_seed(seed)
    with torch.no_grad():
        for name, parameter in reference.named_parameters():
            if name.startswith("weight_hh"):
                parameter.copy_(F.dropout(parameter, p, training=True))
    return reference


@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_one_mask_serves_every_time_step(kind):
    layer = build(kind, weight_dropout=P)
    x = torch.randn(7, 3, 4, dtype=torch.float64)
    torch.manual_seed(123)
    output, _ = layer(x)
    reference = dropped_copy(kind, layer, seed=123).eval()  # eval: the reference draws nothing more
    expected, _ = reference(x)
    torch.testing.assert_close(output, expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_eval_mode_is_deterministic_and_drops_nothing(kind):
    layer = build(kind, weight_dropout=P).eval()
    plain = build(kind).eval()
    plain.load_state_dict(layer.state_dict())
    x = torch.randn(6, 2, 4, dtype=torch.float64)
    first, second, expected = layer(x)[0], layer(x)[0], plain(x)[0]
    assert torch.equal(first, second)
    assert torch.equal(first, expected)


def test_training_masks_change_between_forward_passes():
    layer = build("lstm_fused", weight_dropout=P)
    x = torch.randn(6, 2, 4, dtype=torch.float64)
    assert not torch.equal(layer(x)[0], layer(x)[0])


def test_the_fused_kernel_runs_on_the_dropped_weights(monkeypatch):
    layer = build("lstm_fused", weight_dropout=P)
    calls = []

    def spy(*args):
        calls.append(args[4])  # flat_weights
        return real(*args)

    real = recurrent_module.run_fused
    monkeypatch.setattr(recurrent_module, "run_fused", spy)
    layer(torch.randn(6, 2, 4, dtype=torch.float64))
    assert len(calls) == 1  # one fused call for all layers, directions and steps
    names = [name for _, _, name in layer._adopted]
    for name, weight in zip(names, calls[0]):
        raw = getattr(layer, name)
        if name.startswith("weight_hh"):
            assert weight is not raw
            kept = weight != 0
            assert 0 < kept.float().mean() < 1
            torch.testing.assert_close(weight[kept], raw[kept] / (1 - P))
        else:
            assert weight is raw


def test_a_custom_cell_steps_with_one_dropped_matrix(monkeypatch):
    layer = rnnkit.Recurrent(PeepholeLSTMCell, 4, 5, weight_dropout=P)
    seen = []
    real_step = PeepholeLSTMCell.step

    def step(cell, projected, state):
        seen.append(cell.weight_hh)
        return real_step(cell, projected, state)

    monkeypatch.setattr(PeepholeLSTMCell, "step", step)
    layer(torch.randn(5, 2, 4))
    assert len(seen) == 5
    assert all(w is seen[0] for w in seen)
    assert seen[0] is not layer.weight_hh_l0 and (seen[0] == 0).any()


@pytest.mark.parametrize("kind", ["lstm_fused", "lstm_loop", "peephole"])
def test_gradients_reach_the_raw_weights_through_the_mask(kind):
    layer = build(kind, weight_dropout=P)
    x = torch.randn(6, 3, 4, dtype=torch.float64)
    torch.manual_seed(7)
    layer(x)[0].pow(2).sum().backward()
    reference = dropped_copy(kind, layer, seed=7)
    reference.eval()
    reference(x)[0].pow(2).sum().backward()
    for name, parameter in layer.named_parameters():
        expected = getattr(reference, name).grad
        if name.startswith("weight_hh"):
            kept = (getattr(reference, name) != 0).to(expected.dtype)
            expected = expected * kept / (1 - P)
            assert (parameter.grad[kept == 0] == 0).all()
        torch.testing.assert_close(parameter.grad, expected, rtol=1e-8, atol=1e-10)


def test_parameters_state_dict_and_cells_are_left_as_they_were():
    layer = rnnkit.LSTM(4, 5, num_layers=2, weight_dropout=P)
    names = [name for name, _ in layer.named_parameters()]
    layer.load_state_dict(torch.nn.LSTM(4, 5, num_layers=2).state_dict())
    layer(torch.randn(3, 2, 4))
    assert [name for name, _ in layer.named_parameters()] == names
    assert "weight_hh_l0" not in layer.__dict__  # the shadow is gone after the forward
    assert layer.cells["l0"].weight_hh is layer.weight_hh_l0
    assert "weight_dropout=0.5" in repr(layer)


def test_the_shadow_is_removed_when_the_forward_fails():
    layer = rnnkit.LSTM(4, 5, weight_dropout=P)
    with pytest.raises(RuntimeError, match="input.size"):  # torch.nn's error for 7 features
        layer(torch.randn(3, 2, 7))
    assert "weight_hh_l0" not in layer.__dict__


def test_bad_settings_are_refused_naming_the_option():
    with pytest.raises(ValueError, match="weight_dropout: .*FeedForwardCell has none"):
        rnnkit.Recurrent(FeedForwardCell, 4, 5, weight_dropout=0.3)
    with pytest.raises(ValueError, match=r"weight_dropout: expected a probability in \[0, 1\)"):
        rnnkit.LSTM(4, 5, weight_dropout=1.0)
