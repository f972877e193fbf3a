"""PianoRollModel: next-frame logits from the frames before, the per-step NLL against torch's
own BCE, padding, and sampling with a seed and a temperature."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import rnnkit
from rnnkit.patterns import PianoRollModel

KEYS = 12


def model(cell="gru", hidden=16, **kwargs):
    layer = {"gru": rnnkit.GRU, "lstm": rnnkit.LSTM, "rnn": rnnkit.RNN}[cell](
        KEYS, hidden, batch_first=True
    )
    return PianoRollModel(layer, KEYS, **kwargs).eval()


def rolls(n=3, length=7, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return (torch.rand(n, length, KEYS, generator=generator) < 0.3).float()


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_logits_at_a_step_depend_only_on_earlier_frames(cell):
    net = model(cell)
    frames = rolls()
    logits, _ = net(frames)
    assert logits.shape == (3, 7, KEYS)
    changed = frames.clone()
    changed[:, 4:] = 1 - changed[:, 4:]  # frames 4.. differ: logits 0..4 must not
    again, _ = net(changed)
    torch.testing.assert_close(again[:, :5], logits[:, :5])
    assert not torch.allclose(again[:, 5:], logits[:, 5:])


def test_the_first_step_reads_zeros_and_matches_a_plain_linear_readout():
    net = model()
    frames = rolls(1, 3)
    logits, _ = net(frames)
    layer_out, _ = net.rnn(torch.cat([torch.zeros(1, 1, KEYS), frames[:, :-1]], dim=1))
    torch.testing.assert_close(logits, net.output_layer(layer_out))


def test_step_nll_is_the_bce_summed_over_keys_and_masked():
    net = model()
    frames = rolls()
    lengths = torch.tensor([7, 4, 1])
    logits, _ = net(frames, lengths)
    nll = net.step_nll(logits, frames, lengths)
    assert nll.shape == (3, 7)
    for row, length in enumerate(lengths.tolist()):
        expected = F.binary_cross_entropy(
            torch.sigmoid(logits[row, :length]), frames[row, :length], reduction="none"
        ).sum(-1)
        torch.testing.assert_close(nll[row, :length], expected, rtol=1e-5, atol=1e-5)
        assert not nll[row, length:].any()


def test_padding_does_not_change_a_shorter_piece():
    net = model("lstm")
    frames = rolls(2, 9)
    lengths = torch.tensor([9, 5])
    padded, _ = net(frames, lengths)
    alone, _ = net(frames[1:, :5])
    torch.testing.assert_close(padded[1, :5], alone[0])


def test_sampling_continues_the_seed_reproducibly():
    net = model()
    seed = rolls(2, 4)
    draw = net.sample(6, seed, temperature=1.0, generator=torch.Generator().manual_seed(1))
    assert draw.shape == (2, 10, KEYS)
    assert torch.equal(draw[:, :4], seed)
    assert set(draw.unique().tolist()) <= {0.0, 1.0}
    again = net.sample(6, seed, temperature=1.0, generator=torch.Generator().manual_seed(1))
    assert torch.equal(draw, again)


def test_sampled_frames_follow_the_model_step_by_step():
    # Temperature 0 keeps the keys above probability 0.5: each sampled frame must equal the
    # thresholded logits of the model run over the whole sampled sequence.
    net = model(hidden=8)
    with torch.no_grad():
        net.output_layer.bias.fill_(0.3)
    seed = rolls(1, 3)
    draw = net.sample(5, seed, temperature=0)
    logits, _ = net(draw)
    assert torch.equal(draw[:, 3:], (logits[:, 3:] > 0).float())


def test_sampling_from_nothing_and_temperature_extremes():
    net = model()
    assert net.sample(4, batch_size=3).shape == (3, 4, KEYS)
    assert net.sample(4, torch.zeros(2, 0, KEYS)).shape == (2, 4, KEYS)
    with torch.no_grad():
        net.output_layer.bias.fill_(-1.0)
        net.output_layer.weight.zero_()
    # p = sigmoid(-1 / T): a low temperature silences every key, a high one sounds ~half.
    torch.manual_seed(0)
    assert net.sample(50, temperature=0.05).sum() == 0
    loud = net.sample(200, temperature=100.0).mean()
    assert 0.45 < loud < 0.55


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"steps": 0}, "steps"),
        ({"steps": 2, "temperature": -1.0}, "temperature"),
        ({"steps": 2, "seed": torch.zeros(1, 2, 5)}, "seed: expected"),
    ],
)
def test_bad_sampling_arguments_are_named(arguments, message):
    with pytest.raises(ValueError, match=message):
        model().sample(**arguments)


def test_bad_layers_are_refused():
    with pytest.raises(ValueError, match="unidirectional"):
        PianoRollModel(rnnkit.GRU(KEYS, 4, bidirectional=True), KEYS)
    with pytest.raises(ValueError, match="input_size == num_keys"):
        PianoRollModel(rnnkit.GRU(KEYS + 1, 4), KEYS)
    with pytest.raises(ValueError, match="frames: expected"):
        model()(torch.zeros(2, 3, KEYS + 1))
