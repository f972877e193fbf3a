"""Variational (locked) dropout: one mask per sequence shared over time, as a module on
``(N, L, F)`` tensors and between the layers of a Recurrent layer (fused and loop), checked
against torch.nn layers run one by one with the same mask."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import rnnkit
import rnnkit.layers.locked_dropout as locked
import rnnkit.layers.recurrent as recurrent_module
from rnnkit.layers.locked_dropout import LockedDropout

P = 0.4


@pytest.mark.parametrize("batch_first", [True, False])
def test_the_module_shares_one_mask_over_time(batch_first):
    module = LockedDropout(P, batch_first=batch_first)
    x = torch.ones(64, 9, 16) if batch_first else torch.ones(9, 64, 16)
    out = module(x)
    per_step = out if batch_first else out.transpose(0, 1)  # (N, L, F)
    assert torch.equal(per_step, per_step[:, :1].expand_as(per_step))  # same at every step
    assert torch.equal(per_step.unique(), torch.tensor([0.0, 1 / (1 - P)]))
    dropped = (per_step[:, 0] == 0).float().mean()
    assert abs(dropped - P) < 0.1  # 1024 draws: 6 standard errors
    assert not torch.equal(per_step[0, 0], per_step[1, 0])  # one mask per sequence
    assert torch.equal(module.eval()(x), x)


def test_the_module_refuses_bad_settings_and_shapes():
    with pytest.raises(ValueError, match=r"p: expected a probability in \[0, 1\)"):
        LockedDropout(1.0)
    with pytest.raises(ValueError, match=r"input: expected a 3-d sequence batch"):
        LockedDropout(P)(torch.ones(3, 4))


TORCH = {"lstm": nn.LSTM, "gru": nn.GRU}
OURS = {"lstm": rnnkit.LSTM, "gru": rnnkit.GRU}


def torch_layers(ours, kind, bidirectional):
    """One single-layer torch.nn layer per layer of ``ours``, with its weights."""
    layers = []
    directions = 2 if bidirectional else 1
    for k in range(ours.num_layers):
        size = ours.input_size if k == 0 else directions * ours.hidden_size
        layer = TORCH[kind](size, ours.hidden_size, bidirectional=bidirectional).double()
        state = {
            name.replace(f"_l{k}", "_l0"): value
            for name, value in ours.state_dict().items()
            if f"_l{k}" in name
        }
        layer.load_state_dict(state)
        layers.append(layer)
    return layers


@pytest.mark.parametrize("with_lengths", [False, True], ids=["padded", "lengths"])
@pytest.mark.parametrize("backend", ["auto", "loop"])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("kind", sorted(TORCH))
def test_between_layers_one_mask_per_sequence(
    monkeypatch, kind, bidirectional, backend, with_lengths
):
    torch.manual_seed(0)
    ours = OURS[kind](
        3, 4, num_layers=3, dropout=P, bidirectional=bidirectional, backend=backend,
        dtype=torch.float64, variational_dropout=True,
    )  # fmt: skip
    features = (2 if bidirectional else 1) * 4
    masks = [
        torch.bernoulli(torch.full((5, features), 1 - P, dtype=torch.float64)) / (1 - P)
        for _ in range(ours.num_layers - 1)
    ]
    drawn = iter(masks)
    monkeypatch.setattr(locked, "sequence_mask", lambda *args: next(drawn))
    fused_calls = []
    real = locked.run_fused
    monkeypatch.setattr(locked, "run_fused", lambda *a: fused_calls.append(a[6]) or real(*a))
    x = torch.randn(6, 5, 3, dtype=torch.float64)
    lengths = torch.tensor([6, 2, 5, 6, 1]) if with_lengths else None

    output, final = ours(x, lengths=lengths)

    expected_calls = 3 if backend == "auto" else 0
    assert fused_calls == [1] * expected_calls  # the fused kernel, one layer per call
    hidden = x
    finals = []
    order = torch.arange(5)
    if with_lengths:  # packed rows are sequences sorted by length: row j is sorted_indices[j]
        order = torch.empty_like(order).scatter_(
            0, torch.sort(lengths, descending=True, stable=True).indices, torch.arange(5)
        )
    for k, layer in enumerate(torch_layers(ours, kind, bidirectional)):
        if k > 0:
            hidden = hidden * masks[k - 1][order].unsqueeze(0)  # the same mask at every step
        if with_lengths:
            packed = nn.utils.rnn.pack_padded_sequence(hidden, lengths, enforce_sorted=False)
            packed, state = layer(packed)
            hidden, _ = nn.utils.rnn.pad_packed_sequence(packed, total_length=6)
        else:
            hidden, state = layer(hidden)
        finals.append(state)
    torch.testing.assert_close(output, hidden, rtol=1e-10, atol=1e-10)
    if kind == "lstm":
        torch.testing.assert_close(final[0], torch.cat([s[0] for s in finals]))
        torch.testing.assert_close(final[1], torch.cat([s[1] for s in finals]))
    else:
        torch.testing.assert_close(final, torch.cat(finals))


def test_eval_mode_and_one_layer_run_the_usual_fused_call(monkeypatch):
    calls = []
    real = recurrent_module.run_fused
    monkeypatch.setattr(recurrent_module, "run_fused", lambda *a: calls.append(a) or real(*a))
    torch.manual_seed(0)
    ours = rnnkit.LSTM(3, 4, num_layers=2, dropout=P, variational_dropout=True).eval()
    reference = nn.LSTM(3, 4, num_layers=2, dropout=P).eval()
    reference.load_state_dict(ours.state_dict())
    x = torch.randn(5, 2, 3)
    torch.testing.assert_close(ours(x)[0], reference(x)[0])
    assert len(calls) == 1 and calls[0][6] == 2  # all layers in one call
    assert "variational_dropout=True" in repr(ours)
