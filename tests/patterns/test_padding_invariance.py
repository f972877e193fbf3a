"""Padding and layout never change an output of ManyToOne or SequenceTagger.

A padded batch is compared with the same sequences alone (no padding at all) and with a shorter
padded batch, the padding being random values (float64, 1e-10); then PackedSequence inputs, the
encoder's own batch_first flag and lengths=None against full lengths.
"""

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from rnnkit.patterns._sequence import check_lengths, mask_from_lengths
from rnnkit.patterns.many_to_one import ManyToOne
from rnnkit.patterns.pooling import POOLINGS
from rnnkit.patterns.sequence_tagger import PADDING_TAG, SequenceTagger

pytestmark = pytest.mark.usefixtures("single_thread")

INPUT_SIZE, HIDDEN_SIZE, NUM_OUTPUTS, NUM_TAGS = 3, 4, 2, 3
PATTERNS = [*POOLINGS, "tagger", "tagger-crf"]
LENGTHS = torch.tensor([5, 2, 4, 1])
TOLERANCE = {"rtol": 0, "atol": 1e-10}


def build(pattern: str, rnn: nn.Module, input_layer: nn.Module | None = None) -> nn.Module:
    if pattern.startswith("tagger"):
        model = SequenceTagger(rnn, NUM_TAGS, input_layer, crf=pattern == "tagger-crf")
    else:
        model = ManyToOne(rnn, NUM_OUTPUTS, pattern, input_layer)
    if isinstance(model, SequenceTagger) and model.crf is not None:
        with torch.no_grad():
            for parameter in model.crf.parameters():
                parameter.normal_()  # transitions that matter to Viterbi
    return model.double().eval()


def every_output(model: nn.Module, inputs, lengths, tags) -> dict[str, torch.Tensor]:
    """Everything the pattern computes: batch-level rows and per-step ``(N, L, ...)`` values."""
    if isinstance(model, ManyToOne):
        logits, weights = model(inputs, lengths, return_weights=True)
        outputs = {"logits": logits, "pooled": model.encode(inputs, lengths).pooled}
        if weights is not None:
            outputs["step:weights"] = weights
        return outputs
    return {
        "step:emissions": model(inputs, lengths),
        "step:decoded": model.decode(inputs, lengths),
        "loss": model.loss(inputs, tags, lengths),
    }


def padded_batch(real: torch.Tensor, lengths: torch.Tensor, max_length: int) -> torch.Tensor:
    """``real`` kept at real steps, fresh random values everywhere else, ``max_length`` steps."""
    shape = (real.shape[0], max_length, *real.shape[2:])
    if real.dtype.is_floating_point:
        junk = torch.randn(shape, dtype=real.dtype)
    else:
        junk = torch.randint(-1000, 1000, shape)
    mask = mask_from_lengths(lengths, max_length).view(*junk.shape[:2], *[1] * (junk.dim() - 2))
    grown = torch.cat((real, junk[:, real.shape[1] :]), dim=1)
    return torch.where(mask, grown, junk)


def assert_same_real_steps(padded: torch.Tensor, reference: torch.Tensor, lengths) -> None:
    for n, length in enumerate(lengths.tolist()):
        torch.testing.assert_close(padded[n, :length], reference[n, :length], **TOLERANCE)
    beyond = ~mask_from_lengths(lengths, padded.shape[1])
    fill = PADDING_TAG if padded.dtype == torch.long else 0
    assert (padded[beyond] == fill).all(), "padded steps must hold the padding value"


@pytest.mark.parametrize("pattern", PATTERNS)
def test_padding_changes_no_output(encoder_options, pattern):
    model = build(pattern, encoder_options.build(INPUT_SIZE, HIDDEN_SIZE))
    shortest = int(LENGTHS.max())
    real = torch.randn(len(LENGTHS), shortest, INPUT_SIZE, dtype=torch.float64)
    real_tags = torch.randint(0, NUM_TAGS, (len(LENGTHS), shortest))
    short = every_output(
        model,
        padded_batch(real, LENGTHS, shortest),
        LENGTHS,
        padded_batch(real_tags, LENGTHS, shortest),
    )
    long = every_output(
        model,
        padded_batch(real, LENGTHS, shortest + 3),
        LENGTHS,
        padded_batch(real_tags, LENGTHS, shortest + 3),
    )
    alone = [
        every_output(model, real[n : n + 1, :length], None, real_tags[n : n + 1, :length])
        for n, length in enumerate(LENGTHS.tolist())
    ]
    for key, value in long.items():
        if key.startswith("step:"):
            assert value.shape[1] == shortest + 3
            assert_same_real_steps(value, short[key], LENGTHS)
            for n, length in enumerate(LENGTHS.tolist()):
                torch.testing.assert_close(value[n, :length], alone[n][key][0], **TOLERANCE)
        elif key == "loss":  # mean over the batch's real tokens
            torch.testing.assert_close(value, short[key], **TOLERANCE)
            token_sum = sum(single[key] * length for single, length in zip(alone, LENGTHS))
            torch.testing.assert_close(value, token_sum / LENGTHS.sum(), **TOLERANCE)
        else:
            torch.testing.assert_close(value, short[key], **TOLERANCE)
            torch.testing.assert_close(value, torch.cat([a[key] for a in alone]), **TOLERANCE)


@pytest.mark.parametrize("pattern", PATTERNS)
@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru", "custom"])
def test_packed_sequence_of_token_ids_equals_padded_ids_with_lengths(kind, pattern, make_encoder):
    rnn = make_encoder(kind, INPUT_SIZE, HIDDEN_SIZE, num_layers=2, bidirectional=True)
    model = build(pattern, rnn, input_layer=nn.Embedding(11, INPUT_SIZE))
    token_ids = padded_batch(torch.randint(0, 11, (4, 5)), LENGTHS, 5).clamp(0, 10)
    tags = torch.randint(0, NUM_TAGS, (4, 5))
    packed = pack_padded_sequence(token_ids, LENGTHS, batch_first=True, enforce_sorted=False)
    from_padded = every_output(model, token_ids, LENGTHS, tags)
    from_packed = every_output(model, packed, None, tags)
    for key, value in from_padded.items():
        torch.testing.assert_close(from_packed[key], value, **TOLERANCE)


@pytest.mark.parametrize("pattern", PATTERNS)
@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru", "custom"])
def test_encoder_batch_first_flag_does_not_matter(kind, pattern, make_encoder):
    torch.manual_seed(3)
    batch_first = build(pattern, make_encoder(kind, INPUT_SIZE, HIDDEN_SIZE, 2, True, True))
    time_major = build(pattern, make_encoder(kind, INPUT_SIZE, HIDDEN_SIZE, 2, True, False))
    time_major.load_state_dict(batch_first.state_dict())
    inputs = torch.randn(4, 5, INPUT_SIZE, dtype=torch.float64)
    tags = torch.randint(0, NUM_TAGS, (4, 5))
    expected = every_output(batch_first, inputs, LENGTHS, tags)
    for key, value in every_output(time_major, inputs, LENGTHS, tags).items():
        torch.testing.assert_close(value, expected[key], **TOLERANCE)


@pytest.mark.parametrize("pattern", PATTERNS)
def test_no_lengths_means_full_lengths(pattern, make_encoder):
    model = build(pattern, make_encoder("gru", INPUT_SIZE, HIDDEN_SIZE, 1, True))
    inputs = torch.randn(4, 5, INPUT_SIZE, dtype=torch.float64)
    tags = torch.randint(0, NUM_TAGS, (4, 5))
    full = every_output(model, inputs, torch.full((4,), 5), tags)
    for key, value in every_output(model, inputs, None, tags).items():
        torch.testing.assert_close(value, full[key], **TOLERANCE)


def test_mask_from_lengths_marks_the_real_steps():
    mask = mask_from_lengths(LENGTHS, 6)
    expected = [[t < length for t in range(6)] for length in LENGTHS.tolist()]
    assert mask.dtype == torch.bool and mask.tolist() == expected


def test_check_lengths_accepts_integer_sequences():
    assert torch.equal(check_lengths([3, 1], 2, 3), torch.tensor([3, 1]))
    assert check_lengths(torch.tensor([2, 2], dtype=torch.int32), 2, 3).dtype == torch.long
    with pytest.raises(ValueError, match="lengths: expected an integer tensor, got torch.bool"):
        check_lengths(torch.tensor([True, False]), 2, 3)
