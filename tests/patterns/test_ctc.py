"""The CTC pattern: shapes over the encoder matrix, time subsampling, the loss against torch's
CTCLoss and against brute force, greedy and prefix beam decoding against a decoder that
enumerates every path, learning a tiny synthetic set, and bad configuration / input."""

import itertools
import math

import pytest
import torch

import rnnkit
from rnnkit.patterns.ctc import CTC, CTCOutput
from rnnkit.patterns.ctc_decoding import (
    CTCLexicon,
    collapse,
    ctc_greedy_decode,
    ctc_prefix_beam_search,
)

pytestmark = pytest.mark.usefixtures("single_thread")

FEATURES, HIDDEN, LABELS = 3, 5, 4


def brute_force(log_probs: torch.Tensor, blank: int = 0) -> dict[tuple[int, ...], float]:
    """Every labelling's probability: the sum over all ``C ** T`` paths that collapse to it."""
    steps, labels = log_probs.shape
    probabilities: dict[tuple[int, ...], float] = {}
    for path in itertools.product(range(labels), repeat=steps):
        p = math.exp(sum(float(log_probs[t, c]) for t, c in enumerate(path)))
        key = tuple(collapse(list(path), blank))
        probabilities[key] = probabilities.get(key, 0.0) + p
    return probabilities


def best_path(log_probs: torch.Tensor) -> list[int]:
    """The most probable single path, by enumerating every path."""
    steps, labels = log_probs.shape
    return list(
        max(
            itertools.product(range(labels), repeat=steps),
            key=lambda path: sum(float(log_probs[t, c]) for t, c in enumerate(path)),
        )
    )


def random_log_probs(batch, steps, labels, seed, peaked=1.0):
    generator = torch.Generator().manual_seed(seed)
    scores = torch.randn(batch, steps, labels, generator=generator, dtype=torch.float64) * peaked
    return scores.log_softmax(-1)


# ---- shapes ------------------------------------------------------------------------------


@pytest.mark.parametrize("subsampling", [1, 2, 3])
def test_shapes_over_the_encoder_matrix(encoder_options, subsampling):
    rnn = encoder_options.build(FEATURES * subsampling, HIDDEN)
    model = CTC(rnn, LABELS, subsampling=subsampling)
    lengths = torch.tensor([7, 1, 5])
    output = model(torch.randn(3, 7, FEATURES), lengths)
    steps = math.ceil(7 / subsampling)
    assert isinstance(output, CTCOutput)
    assert output.log_probs.shape == (3, steps, LABELS)
    assert output.lengths.tolist() == [math.ceil(n / subsampling) for n in lengths.tolist()]
    for row, length in enumerate(output.lengths.tolist()):
        real = output.log_probs[row, :length]
        torch.testing.assert_close(real.exp().sum(-1), torch.ones(length))
        assert (output.log_probs[row, length:] == 0).all()
    targets = torch.tensor([[1, 2], [3, 0], [1, 0]])
    loss = model.loss_from_output(output, targets, torch.tensor([2, 1, 1]))
    loss.backward()
    assert loss.ndim == 0 and torch.isfinite(loss)
    assert all(p.grad is not None for p in model.parameters())


def test_stacking_puts_consecutive_frames_side_by_side_and_pads_the_last_group():
    model = CTC(rnnkit.GRU(2 * 3, 4, batch_first=True), LABELS, subsampling=3)
    frames = torch.arange(2 * 7 * 2, dtype=torch.float32).view(2, 7, 2)
    stacked = model.stack_frames(frames)
    assert stacked.shape == (2, 3, 6)
    torch.testing.assert_close(stacked[0, 0], frames[0, :3].reshape(-1))
    torch.testing.assert_close(stacked[1, 1], frames[1, 3:6].reshape(-1))
    torch.testing.assert_close(stacked[0, 2], torch.cat([frames[0, 6], torch.zeros(4)]))


def test_padding_does_not_change_the_output():
    torch.manual_seed(0)
    model = CTC(rnnkit.LSTM(FEATURES * 2, HIDDEN, bidirectional=True), LABELS, subsampling=2)
    features = torch.randn(1, 5, FEATURES)
    alone = model(features, torch.tensor([5]))
    padded = model(torch.cat([features, torch.randn(1, 4, FEATURES)], 1), torch.tensor([5]))
    torch.testing.assert_close(padded.log_probs[:, :3], alone.log_probs)


# ---- the loss ----------------------------------------------------------------------------


def test_loss_is_torch_ctc_loss_and_the_brute_force_labelling_probability():
    torch.manual_seed(1)
    model = CTC(rnnkit.GRU(FEATURES, HIDDEN, batch_first=True), 3).double()
    features = torch.randn(2, 4, FEATURES, dtype=torch.float64)
    lengths, targets, target_lengths = torch.tensor([4, 3]), torch.tensor([[1, 2], [2, 0]]), [2, 1]
    output = model(features, lengths)
    loss = model.loss_from_output(output, targets, torch.tensor(target_lengths))
    reference = torch.nn.CTCLoss(blank=0)(
        output.log_probs.transpose(0, 1), targets, lengths, torch.tensor(target_lengths)
    )
    torch.testing.assert_close(loss, reference)
    by_hand = []
    for row in range(2):
        probabilities = brute_force(output.log_probs[row, : lengths[row]])
        target = tuple(targets[row, : target_lengths[row]].tolist())
        by_hand.append(-math.log(probabilities[target]) / target_lengths[row])
    assert loss.item() == pytest.approx(sum(by_hand) / 2, rel=1e-9)


def test_a_target_too_long_for_the_output_gives_zero_loss_not_infinity():
    model = CTC(rnnkit.GRU(FEATURES * 4, HIDDEN, batch_first=True), LABELS, subsampling=4)
    output = model(torch.randn(1, 4, FEATURES))  # one output step
    loss = model.loss_from_output(output, torch.tensor([[1, 2, 3]]), torch.tensor([3]))
    assert loss.item() == 0.0


def test_loss_falls_on_a_tiny_synthetic_set():
    """Each label is a burst of its own feature direction: learnable only by counting bursts
    in order, which needs the recurrence, and the loss must fall far."""
    torch.manual_seed(0)
    examples, targets = [], []
    for _ in range(16):
        labels = torch.randint(1, LABELS, (3,))
        frames = [torch.zeros(2, FEATURES)]
        for label in labels.tolist():
            burst = torch.zeros(3, FEATURES)
            burst[:, label - 1] = 1.0
            frames += [burst, torch.zeros(2, FEATURES)]
        examples.append(torch.cat(frames) + 0.05 * torch.randn(17, FEATURES))
        targets.append(labels)
    features, targets = torch.stack(examples), torch.stack(targets)
    target_lengths = torch.full((16,), 3)
    model = CTC(rnnkit.GRU(FEATURES, 16, bidirectional=True, batch_first=True), LABELS)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    losses = []
    for _ in range(150):
        loss = model.loss(features, targets, target_lengths)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.1 * losses[0]
    decoded = [h.labels for h in model.decode(model(features), "greedy")]
    assert decoded == targets.tolist()


# ---- decoding ----------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(6))
def test_greedy_collapses_the_best_path_found_by_enumeration(seed):
    log_probs = random_log_probs(2, 5, 3, seed, peaked=2.0)
    lengths = torch.tensor([5, 3])
    hypotheses = ctc_greedy_decode(log_probs, lengths)
    for row, hypothesis in enumerate(hypotheses):
        path = best_path(log_probs[row, : lengths[row]])
        assert hypothesis.labels == collapse(path)
        score = sum(float(log_probs[row, t, c]) for t, c in enumerate(path))
        assert hypothesis.log_prob == pytest.approx(score)


@pytest.mark.parametrize("seed", range(8))
def test_wide_beam_finds_the_most_probable_labelling_with_its_exact_probability(seed):
    log_probs = random_log_probs(1, 5, 3, seed, peaked=1.5)[0]
    probabilities = brute_force(log_probs)
    best = max(probabilities, key=probabilities.get)
    (hypothesis,) = ctc_prefix_beam_search(log_probs[None], beam_size=100)
    assert tuple(hypothesis.labels) == best
    assert math.exp(hypothesis.log_prob) == pytest.approx(probabilities[best], rel=1e-9)


def test_beam_search_can_beat_the_best_path():
    """The classic case: the best single path collapses to the blank labelling, but the many
    paths of "1" together are more probable; greedy misses it, the beam finds it."""
    p = torch.tensor([[0.55, 0.45, 1e-9], [0.55, 0.45, 1e-9]])
    log_probs = p.log()[None]
    probabilities = brute_force(log_probs[0])
    assert probabilities[()] == pytest.approx(0.55**2)
    assert probabilities[(1,)] == pytest.approx(1 - 0.55**2, rel=1e-6)
    assert ctc_greedy_decode(log_probs)[0].labels == []
    assert ctc_prefix_beam_search(log_probs, beam_size=4)[0].labels == [1]


# Labels: 0 blank, 1 and 2 letters, 3 the space; words "1 2", "2", "1 1".
LEXICON = CTCLexicon([(1, 2), (2,), (1, 1)], separator=3)


def spells_words(labelling: tuple[int, ...]) -> bool:
    """Whole words of LEXICON separated by single spaces (or nothing), by splitting."""
    if not labelling:
        return True
    words, word = [], []
    for label in labelling:
        if label == 3:
            words.append(tuple(word))
            word = []
        else:
            word.append(label)
    return all(w in LEXICON.words for w in [*words, tuple(word)])


@pytest.mark.parametrize("seed", range(8))
def test_a_wide_beam_with_a_lexicon_finds_the_most_probable_labelling_of_its_words(seed):
    log_probs = random_log_probs(1, 6, 4, seed, peaked=1.5)[0]
    probabilities = brute_force(log_probs)
    valid = {labels: p for labels, p in probabilities.items() if spells_words(labels)}
    best = max(valid, key=valid.get)
    (hypothesis,) = ctc_prefix_beam_search(log_probs[None], beam_size=5000, lexicon=LEXICON)
    assert tuple(hypothesis.labels) == best
    assert math.exp(hypothesis.log_prob) == pytest.approx(valid[best], rel=1e-9)


def test_a_lexicon_turns_a_spelling_slip_into_a_word():
    # "1" (p = 0.54) is no word; "1 2" (0.36) is the most probable labelling that is one.
    p = torch.tensor([[0.05, 0.9, 0.05, 0.0], [0.6, 0.0, 0.4, 0.0]])
    log_probs = p.clamp_min(1e-12).log()[None]
    assert ctc_prefix_beam_search(log_probs, beam_size=16)[0].labels == [1]
    (hypothesis,) = ctc_prefix_beam_search(log_probs, beam_size=16, lexicon=LEXICON)
    assert hypothesis.labels == [1, 2]
    assert math.exp(hypothesis.log_prob) == pytest.approx(0.36, rel=1e-6)


def test_a_beam_that_ends_inside_a_word_gives_the_whole_words_before_it():
    assert LEXICON.whole_words((2, 3, 1)) == (2,)
    assert LEXICON.whole_words((1,)) == ()
    assert LEXICON.whole_words((2, 3, 1, 2)) == (2, 3, 1, 2)
    # Only "2 1..." survives a beam of one; "1" alone is no word, so "2" comes out.
    p = torch.tensor([[0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0], [0.0, 1.0, 0.0, 0.0]])
    log_probs = p.clamp_min(1e-12).log()[None]
    assert ctc_prefix_beam_search(log_probs, beam_size=1, lexicon=LEXICON)[0].labels == [2]


@pytest.mark.parametrize(
    ("words", "message"),
    [([(), ()], "at least one non-empty word"), ([(1, 3)], "contains the separator label 3")],
)
def test_a_bad_lexicon_is_refused(words, message):
    with pytest.raises(ValueError, match=message):
        CTCLexicon(words, separator=3)


def test_doubled_labels_need_a_blank_between_them():
    one = torch.tensor([[0.0, 1.0], [0.0, 1.0]]).clamp_min(1e-9).log()  # "1 1" -> one label
    split = torch.tensor([[0.0, 1.0], [1.0, 0.0], [0.0, 1.0]]).clamp_min(1e-9).log()
    assert ctc_prefix_beam_search(one[None])[0].labels == [1]
    assert ctc_prefix_beam_search(split[None])[0].labels == [1, 1]
    assert ctc_greedy_decode(split[None])[0].labels == [1, 1]


def test_beam_of_a_batch_respects_lengths_and_decode_dispatches():
    model = CTC(rnnkit.GRU(FEATURES, HIDDEN, batch_first=True), LABELS)
    output = model(torch.randn(3, 6, FEATURES), torch.tensor([6, 2, 4]))
    beam = model.decode(output, "beam", beam_size=50)
    for row in range(3):
        length = int(output.lengths[row])
        (alone,) = ctc_prefix_beam_search(output.log_probs[row : row + 1, :length], beam_size=50)
        assert beam[row] == alone
    with pytest.raises(ValueError, match="method"):
        model.decode(output, "viterbi")


# ---- bad configuration and input --------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"num_labels": 1}, "num_labels"),
        ({"blank": 4}, "blank"),
        ({"subsampling": 0}, "subsampling"),
        ({"subsampling": 2}, "subsampling"),  # input_size 3 not divisible by 2
        ({"dropout": 1.5}, "dropout"),
    ],
)
def test_bad_configuration_is_refused_with_its_name(arguments, message):
    with pytest.raises(ValueError, match=message):
        CTC(rnnkit.GRU(FEATURES, HIDDEN), **{"num_labels": LABELS, **arguments})


def test_bad_inputs_are_refused_with_their_name():
    model = CTC(rnnkit.GRU(FEATURES, HIDDEN, batch_first=True), LABELS)
    with pytest.raises(ValueError, match="features"):
        model(torch.randn(2, 5, FEATURES + 1))
    with pytest.raises(ValueError, match="lengths"):
        model(torch.randn(2, 5, FEATURES), torch.tensor([6, 2]))
    output = model(torch.randn(2, 5, FEATURES))
    with pytest.raises(ValueError, match="target_lengths"):
        model.loss_from_output(output, torch.tensor([[1], [2]]), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="beam_size"):
        ctc_prefix_beam_search(output.log_probs, beam_size=0)
