"""SequenceTagger with and without a CRF: shapes and gradients over the encoder matrix, loss and
decoding against brute force (every tag path enumerated), label constraints, learning, and bad
configuration / input."""

import itertools

import pytest
import torch
from torch import nn

import rnnkit
from rnnkit.patterns._sequence import mask_from_lengths
from rnnkit.patterns.sequence_tagger import PADDING_TAG, SequenceTagger

pytestmark = pytest.mark.usefixtures("single_thread")

INPUT_SIZE, HIDDEN_SIZE, NUM_TAGS = 3, 4, 3
LENGTHS = torch.tensor([4, 1, 3])
LABELS_BIO = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


def features(lengths=LENGTHS, max_length=None, dtype=torch.float32):
    max_length = max_length or int(lengths.max())
    return torch.randn(len(lengths), max_length, INPUT_SIZE, dtype=dtype)


def random_tags(lengths=LENGTHS, num_tags=NUM_TAGS, max_length=None):
    max_length = max_length or int(lengths.max())
    tags = torch.randint(0, num_tags, (len(lengths), max_length))
    return tags.masked_fill(~mask_from_lengths(lengths, max_length), PADDING_TAG)


def assert_every_parameter_has_gradient(model: nn.Module) -> None:
    """In float64, where a gradient that is zero in exact arithmetic is at most ~1e-16."""
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None, f"{name} received no gradient"
        assert parameter.grad.abs().max() > 1e-10, f"{name} received an all-zero gradient"


def crf_path_score(crf, emissions, path):
    """Score of one tag path, summed term by term (unconstrained CRF)."""
    score = crf.start_transitions[path[0]] + crf.end_transitions[path[-1]]
    for t, tag in enumerate(path):
        score = score + emissions[t, tag]
        if t:
            score = score + crf.transitions[path[t - 1], tag]
    return score


# ---- the option matrix -----------------------------------------------------------------


@pytest.mark.parametrize("crf", [False, True], ids=["softmax", "crf"])
def test_forward_backward(encoder_options, crf):
    rnn = encoder_options.build(INPUT_SIZE, HIDDEN_SIZE)
    model = SequenceTagger(rnn, NUM_TAGS, crf=crf).double()
    inputs = features(max_length=6, dtype=torch.float64)
    tags = random_tags(max_length=6)
    mask = mask_from_lengths(LENGTHS, 6)
    emissions = model(inputs, LENGTHS)
    assert emissions.shape == (3, 6, NUM_TAGS)
    assert torch.isfinite(emissions).all()
    assert (emissions[~mask] == 0).all()
    loss = model.loss(inputs, tags, LENGTHS)
    assert loss.shape == () and torch.isfinite(loss)
    loss.backward()
    assert_every_parameter_has_gradient(model)
    decoded = model.decode(inputs, LENGTHS)
    assert decoded.shape == (3, 6) and decoded.dtype == torch.long
    assert (decoded[~mask] == PADDING_TAG).all()
    assert ((decoded[mask] >= 0) & (decoded[mask] < NUM_TAGS)).all()


# ---- loss and decoding against brute force ----------------------------------------------


def test_softmax_loss_is_cross_entropy_averaged_over_real_tokens():
    model = SequenceTagger(rnnkit.LSTM(INPUT_SIZE, HIDDEN_SIZE), NUM_TAGS).double()
    inputs, tags = features(dtype=torch.float64), random_tags()
    tags[0, 2] = PADDING_TAG  # a real step tagged PADDING_TAG is ignored too
    emissions = model(inputs, LENGTHS)
    terms = [
        -torch.log_softmax(emissions[n, t], 0)[tags[n, t]]
        for n, length in enumerate(LENGTHS.tolist())
        for t in range(length)
        if tags[n, t] != PADDING_TAG
    ]
    expected = torch.stack(terms).mean()
    torch.testing.assert_close(model.loss(inputs, tags, LENGTHS), expected, rtol=0, atol=1e-12)
    torch.testing.assert_close(
        model.loss_from_emissions(emissions, tags, LENGTHS), expected, rtol=0, atol=1e-12
    )


def test_crf_loss_is_negative_log_likelihood_per_real_token():
    model = SequenceTagger(rnnkit.GRU(INPUT_SIZE, HIDDEN_SIZE), NUM_TAGS, crf=True).double()
    with torch.no_grad():
        for parameter in model.crf.parameters():
            parameter.normal_()
    inputs, tags = features(dtype=torch.float64), random_tags()
    emissions = model(inputs, LENGTHS)
    total = 0.0
    for n, length in enumerate(LENGTHS.tolist()):
        paths = itertools.product(range(NUM_TAGS), repeat=length)
        log_z = torch.logsumexp(
            torch.stack([crf_path_score(model.crf, emissions[n], p) for p in paths]), 0
        )
        gold = crf_path_score(model.crf, emissions[n], tags[n, :length].tolist())
        total = total + log_z - gold
    expected = total / LENGTHS.sum()
    torch.testing.assert_close(model.loss(inputs, tags, LENGTHS), expected, rtol=0, atol=1e-10)


@pytest.mark.parametrize("crf", [False, True], ids=["argmax", "viterbi"])
def test_decode_finds_the_best_path(crf):
    model = SequenceTagger(rnnkit.RNN(INPUT_SIZE, HIDDEN_SIZE), NUM_TAGS, crf=crf).double()
    if crf:
        with torch.no_grad():
            for parameter in model.crf.parameters():
                parameter.normal_()
    inputs = features(dtype=torch.float64)
    emissions = model(inputs, LENGTHS)
    decoded = model.decode(inputs, LENGTHS)
    assert torch.equal(decoded, model.decode_from_emissions(emissions, LENGTHS))
    for n, length in enumerate(LENGTHS.tolist()):
        if crf:
            paths = list(itertools.product(range(NUM_TAGS), repeat=length))
            scores = torch.stack([crf_path_score(model.crf, emissions[n], p) for p in paths])
            best = list(paths[int(scores.argmax())])
        else:
            best = [int(emissions[n, t].argmax()) for t in range(length)]
        assert decoded[n, :length].tolist() == best
        assert (decoded[n, length:] == PADDING_TAG).all()


def test_bio_constrained_crf_decodes_only_valid_sequences():
    model = SequenceTagger(
        rnnkit.GRU(INPUT_SIZE, HIDDEN_SIZE),
        len(LABELS_BIO),
        crf=True,
        crf_labels=LABELS_BIO,
        crf_scheme="BIO",
    )
    with torch.no_grad():
        model.output_layer.weight.mul_(20)  # emissions that alone would pick invalid paths
    lengths = torch.randint(1, 8, (64,))
    decoded = model.decode(torch.randn(64, 7, INPUT_SIZE), lengths)
    for n, length in enumerate(lengths.tolist()):
        labels = ["O"] + [LABELS_BIO[tag] for tag in decoded[n, :length].tolist()]
        for previous, current in itertools.pairwise(labels):
            if current.startswith("I-"):
                assert previous[2:] == current[2:], f"{previous} -> {current} in {labels}"
    unconstrained = SequenceTagger(model.rnn, len(LABELS_BIO), crf=True)
    assert bool(model.crf.transition_mask.all()) is False
    assert bool(unconstrained.crf.transition_mask.all()) is True


# ---- learning --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "crf_options, kind",
    [
        ({}, "custom"),
        ({"crf": True}, "lstm"),
        ({"crf": True, "crf_labels": LABELS_BIO, "crf_scheme": "BIO"}, "gru"),
    ],
    ids=["softmax-custom", "crf-lstm", "bio-crf-gru"],
)
def test_overfits_a_small_batch_and_trains_every_parameter(crf_options, kind, make_encoder):
    lengths = torch.tensor([6, 3, 5, 2, 6, 4, 1, 5])
    token_ids = torch.randint(0, 12, (8, 6))
    tags = random_tags(lengths, num_tags=2, max_length=6)  # O or B-PER: valid in BIO
    model = SequenceTagger(
        make_encoder(kind, 5, 8, num_layers=2, bidirectional=True),
        len(LABELS_BIO),
        input_layer=nn.Embedding(12, 5),
        **crf_options,
    )
    initial = {name: p.detach().clone() for name, p in model.named_parameters()}
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(300):
        optimizer.zero_grad()
        loss = model.loss(token_ids, tags, lengths)
        if loss.item() < 0.02:
            break
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.02
    assert torch.equal(model.decode(token_ids, lengths), tags)
    frozen = [n for n, p in model.named_parameters() if torch.equal(p.detach(), initial[n])]
    assert not frozen, f"never updated: {frozen}"


def test_dropout_acts_in_training_only(make_encoder):
    model = SequenceTagger(make_encoder("lstm", INPUT_SIZE, 16), NUM_TAGS, dropout=0.5)
    inputs = features()
    assert not torch.equal(model(inputs, LENGTHS), model(inputs, LENGTHS))
    model.eval()
    assert torch.equal(model(inputs, LENGTHS), model(inputs, LENGTHS))


# ---- bad configuration and input -------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"num_tags": 0}, "num_tags: expected a positive integer, got 0"),
        ({"num_tags": 2.5}, "num_tags: expected a positive integer"),
        (
            {"crf": True, "crf_labels": LABELS_BIO[:3], "crf_scheme": "BIO"},
            r"crf_labels: expected num_tags=5 labels, one per tag, got 3",
        ),
        ({"crf_labels": LABELS_BIO, "crf_scheme": "BIO"}, "crf: .* need crf=True"),
        ({"crf": True, "crf_labels": LABELS_BIO}, "crf_scheme: expected crf_labels and"),
        ({"crf": True, "crf_scheme": "BIO"}, "crf_labels: expected crf_labels and"),
        ({"crf": True, "crf_labels": LABELS_BIO, "crf_scheme": "XYZ"}, "scheme: expected one"),
        ({"crf": "yes"}, "crf: expected True or False"),
        ({"dropout": 1.5}, "dropout: expected a probability"),
        ({"rnn": nn.GRU(INPUT_SIZE, HIDDEN_SIZE)}, "rnn: expected a built rnnkit.Recurrent"),
        ({"input_layer": nn.Linear(2, 4)}, "input_layer: its out_features=4 must equal"),
    ],
)
def test_bad_configuration_raises(kwargs, message):
    arguments = {"rnn": rnnkit.GRU(INPUT_SIZE, HIDDEN_SIZE), "num_tags": len(LABELS_BIO)}
    with pytest.raises(ValueError, match=message):
        SequenceTagger(**{**arguments, **kwargs})


@pytest.mark.parametrize("crf", [False, True], ids=["softmax", "crf"])
@pytest.mark.parametrize(
    "tags, message",
    [
        (torch.zeros(3, 5, dtype=torch.long), r"tags: expected shape \(3, 4\)"),
        (torch.zeros(3, 4), "tags: expected an integer tensor"),
        (torch.full((3, 4), NUM_TAGS), r"tags: expected values in \[0, 3\)"),
        (torch.full((3, 4), -1), r"tags: expected values in \[0, 3\)"),
    ],
)
def test_bad_tags_raise(crf, tags, message):
    model = SequenceTagger(rnnkit.GRU(INPUT_SIZE, HIDDEN_SIZE), NUM_TAGS, crf=crf)
    with pytest.raises(ValueError, match=message):
        model.loss(features(), tags, LENGTHS)


def test_crf_refuses_padding_tag_at_a_real_step():
    model = SequenceTagger(rnnkit.GRU(INPUT_SIZE, HIDDEN_SIZE), NUM_TAGS, crf=True)
    tags = random_tags()
    tags[0, 1] = PADDING_TAG
    with pytest.raises(ValueError, match=r"tags: expected values in \[0, 3\) at real steps"):
        model.loss(features(), tags, LENGTHS)


def test_bad_emissions_raise():
    model = SequenceTagger(rnnkit.GRU(INPUT_SIZE, HIDDEN_SIZE), NUM_TAGS)
    with pytest.raises(ValueError, match=r"emissions: expected shape \(N, L, 3\)"):
        model.decode_from_emissions(torch.randn(3, 4, 2))
