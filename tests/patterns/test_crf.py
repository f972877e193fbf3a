"""CRF tests against brute-force enumeration of every tag sequence on tiny cases."""

import itertools
import math

import pytest
import torch
from torch.func import functional_call

from rnnkit.patterns.crf import CRF, FORBIDDEN_SCORE, allowed_transitions

LABELS_BIO = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
LABELS_BIOES = ["O", "B-PER", "I-PER", "E-PER", "S-PER", "B-LOC", "I-LOC", "E-LOC", "S-LOC"]


def random_crf(num_tags: int, seed: int, constrained: bool) -> CRF:
    """A float64 CRF with large random scores (and, if asked, a random set of forbidden moves)."""
    generator = torch.Generator().manual_seed(seed)
    masks = {}
    if constrained:
        masks = {
            "allowed_transitions": torch.rand(num_tags, num_tags, generator=generator) > 0.3,
            "allowed_start": torch.rand(num_tags, generator=generator) > 0.3,
            "allowed_end": torch.rand(num_tags, generator=generator) > 0.3,
        }
    crf = CRF(num_tags, **masks).double()
    with torch.no_grad():
        for parameter in crf.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator, dtype=torch.float64))
    return crf


def random_batch(num_tags: int, lengths: list[int], seed: int):
    """Emissions (N, L, T), tags (N, L) and a prefix mask (N, L) for the given lengths."""
    generator = torch.Generator().manual_seed(seed)
    N, L = len(lengths), max(lengths)
    emissions = torch.randn(N, L, num_tags, generator=generator, dtype=torch.float64) * 2
    tags = torch.randint(num_tags, (N, L), generator=generator)
    mask = torch.arange(L).unsqueeze(0) < torch.tensor(lengths).unsqueeze(1)
    return emissions, tags, mask


def path_score(crf: CRF, emissions: torch.Tensor, path: tuple[int, ...]) -> float:
    """Score of one tag path, written out step by step (forbidden moves score FORBIDDEN_SCORE)."""

    def allowed_or_forbidden(is_allowed, value):
        return float(value.detach()) if bool(is_allowed) else FORBIDDEN_SCORE

    score = allowed_or_forbidden(crf.start_mask[path[0]], crf.start_transitions[path[0]])
    for t, tag in enumerate(path):
        score += float(emissions[t, tag])
        if t > 0:
            previous = path[t - 1]
            score += allowed_or_forbidden(
                crf.transition_mask[previous, tag], crf.transitions[previous, tag]
            )
    return score + allowed_or_forbidden(crf.end_mask[path[-1]], crf.end_transitions[path[-1]])


def all_path_scores(crf: CRF, emissions: torch.Tensor, length: int) -> dict[tuple, float]:
    paths = itertools.product(range(crf.num_tags), repeat=length)
    return {path: path_score(crf, emissions[:length], path) for path in paths}


CASES = [(3, [1]), (3, [4, 2, 3, 1]), (4, [2, 4, 1]), (4, [3, 3])]


@pytest.mark.parametrize("constrained", [False, True])
@pytest.mark.parametrize(("num_tags", "lengths"), CASES)
def test_log_likelihood_matches_enumeration(num_tags, lengths, constrained):
    crf = random_crf(num_tags, seed=num_tags + len(lengths), constrained=constrained)
    emissions, tags, mask = random_batch(num_tags, lengths, seed=sum(lengths))
    log_likelihood = crf(emissions, tags, mask, reduction="none")
    log_partition = crf.log_partition(emissions, mask)
    for n, length in enumerate(lengths):
        scores = all_path_scores(crf, emissions[n], length)
        expected_log_z = math.log(sum(math.exp(s - max(scores.values())) for s in scores.values()))
        expected_log_z += max(scores.values())
        gold = scores[tuple(tags[n, :length].tolist())]
        assert log_partition[n].item() == pytest.approx(expected_log_z, abs=1e-9)
        assert log_likelihood[n].item() == pytest.approx(gold - expected_log_z, abs=1e-9)


@pytest.mark.parametrize("constrained", [False, True])
@pytest.mark.parametrize(("num_tags", "lengths"), CASES)
def test_viterbi_matches_enumeration(num_tags, lengths, constrained):
    crf = random_crf(num_tags, seed=10 + num_tags, constrained=constrained)
    emissions, _, mask = random_batch(num_tags, lengths, seed=20 + sum(lengths))
    best_tags, best_scores = crf.decode(emissions, mask)
    assert best_tags.shape == mask.shape and best_tags.dtype == torch.long
    for n, length in enumerate(lengths):
        scores = all_path_scores(crf, emissions[n], length)
        best_path = max(scores, key=scores.get)
        assert tuple(best_tags[n, :length].tolist()) == best_path
        assert best_tags[n, length:].eq(0).all()
        assert best_scores[n].item() == pytest.approx(scores[best_path], abs=1e-9)


def test_batch_first_false_transposes_everything():
    crf = random_crf(4, seed=0, constrained=True)
    emissions, tags, mask = random_batch(4, [3, 1, 2], seed=1)
    time_first = CRF(4, batch_first=False).double()
    time_first.load_state_dict(crf.state_dict())
    expected = crf(emissions, tags, mask, reduction="none")
    got = time_first(emissions.transpose(0, 1), tags.T, mask.T, reduction="none")
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-12)
    best_tags, best_scores = time_first.decode(emissions.transpose(0, 1), mask.T)
    expected_tags, expected_scores = crf.decode(emissions, mask)
    assert torch.equal(best_tags, expected_tags.T)
    torch.testing.assert_close(best_scores, expected_scores, rtol=0, atol=1e-12)


def test_padding_never_changes_a_result():
    crf = random_crf(4, seed=3, constrained=True)
    emissions, tags, mask = random_batch(4, [3, 1, 2], seed=4)
    # Two more padded steps holding garbage: NaN emissions and an ignore-index tag.
    padded_emissions = torch.cat(
        [emissions, torch.full((3, 2, 4), float("nan"), dtype=torch.float64)], dim=1
    )
    padded_tags = torch.cat([tags, torch.full((3, 2), -100)], dim=1)
    padded_mask = torch.cat([mask, torch.zeros(3, 2, dtype=torch.bool)], dim=1)
    padded_emissions.requires_grad_(True)
    emissions.requires_grad_(True)

    expected = crf(emissions, tags, mask, reduction="none")
    got = crf(padded_emissions, padded_tags, padded_mask, reduction="none")
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-12)
    got.sum().backward()
    expected.sum().backward()
    assert padded_emissions.grad[:, 3:].eq(0).all()
    torch.testing.assert_close(padded_emissions.grad[:, :3], emissions.grad, rtol=0, atol=1e-12)

    best_tags, best_scores = crf.decode(padded_emissions, padded_mask)
    expected_tags, expected_scores = crf.decode(emissions, mask)
    assert torch.equal(best_tags[:, :3], expected_tags) and best_tags[:, 3:].eq(0).all()
    torch.testing.assert_close(best_scores, expected_scores, rtol=0, atol=1e-12)

    # Padding the batch with another sequence leaves the first ones unchanged.
    more_emissions, more_tags, more_mask = random_batch(4, [3, 1, 2, 3], seed=4)
    more_emissions[:3], more_tags[:3], more_mask[:3] = emissions.detach(), tags, mask
    got = crf(more_emissions, more_tags, more_mask, reduction="none")[:3]
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-12)


def test_reductions_and_loss():
    crf = random_crf(3, seed=5, constrained=False)
    emissions, tags, mask = random_batch(3, [4, 2, 3], seed=6)
    per_sequence = crf(emissions, tags, mask, reduction="none")
    assert per_sequence.shape == (3,)
    assert (per_sequence < 0).all()  # log-probabilities
    torch.testing.assert_close(crf(emissions, tags, mask, reduction="sum"), per_sequence.sum())
    torch.testing.assert_close(crf(emissions, tags, mask), per_sequence.mean())
    token_mean = crf(emissions, tags, mask, reduction="token_mean")
    torch.testing.assert_close(token_mean, per_sequence.sum() / 9)
    torch.testing.assert_close(crf.neg_log_likelihood(emissions, tags, mask), -per_sequence.mean())
    all_on = crf(emissions[:1], tags[:1], reduction="none")
    torch.testing.assert_close(all_on, per_sequence[:1])  # mask=None: every step is real


def test_gradcheck_float64():
    crf = random_crf(3, seed=7, constrained=True)
    emissions, tags, mask = random_batch(3, [3, 1, 2], seed=8)
    names = ("start_transitions", "end_transitions", "transitions")
    parameters = tuple(getattr(crf, name).detach().clone().requires_grad_() for name in names)

    def log_likelihood(emissions, *parameters):
        return functional_call(
            crf, dict(zip(names, parameters)), (emissions, tags, mask), {"reduction": "sum"}
        )

    assert torch.autograd.gradcheck(log_likelihood, (emissions.requires_grad_(), *parameters))


def is_valid_sequence(labels: list[str], scheme: str) -> bool:
    """Independent check: read the labels left to right as a span parser would."""
    open_entity = None  # the entity type of the span currently open, if any
    for label in labels:
        prefix, _, entity = label.partition("-")
        if scheme == "BIO":
            if prefix == "I" and open_entity != entity:
                return False
            open_entity = entity if prefix in ("B", "I") else None
        elif prefix in ("I", "E"):
            if open_entity != entity:
                return False
            open_entity = entity if prefix == "I" else None
        else:  # O, B or S may only come outside a span
            if open_entity is not None:
                return False
            open_entity = entity if prefix == "B" else None
    return scheme == "BIO" or open_entity is None


def is_allowed_by_masks(path, allowed, allowed_start, allowed_end) -> bool:
    transitions_ok = all(bool(allowed[a, b]) for a, b in itertools.pairwise(path))
    return bool(allowed_start[path[0]]) and bool(allowed_end[path[-1]]) and transitions_ok


@pytest.mark.parametrize(("labels", "scheme"), [(LABELS_BIO, "BIO"), (LABELS_BIOES, "BIOES")])
def test_allowed_transitions_agree_with_a_span_parser(labels, scheme):
    allowed, allowed_start, allowed_end = allowed_transitions(labels, scheme)
    T = len(labels)
    assert allowed.shape == (T, T) and allowed_start.shape == allowed_end.shape == (T,)
    assert allowed.dtype == allowed_start.dtype == allowed_end.dtype == torch.bool
    for length in (1, 2, 3):
        for path in itertools.product(range(T), repeat=length):
            expected = is_valid_sequence([labels[i] for i in path], scheme)
            assert is_allowed_by_masks(path, allowed, allowed_start, allowed_end) == expected


def test_named_forbidden_transitions():
    allowed, allowed_start, allowed_end = allowed_transitions(LABELS_BIO, "IOB2")
    index = {label: i for i, label in enumerate(LABELS_BIO)}
    assert not allowed[index["O"], index["I-PER"]]
    assert not allowed[index["B-PER"], index["I-LOC"]]
    assert not allowed_start[index["I-PER"]]
    assert allowed[index["B-PER"], index["I-PER"]] and allowed_end[index["B-PER"]]

    allowed, allowed_start, allowed_end = allowed_transitions(LABELS_BIOES, "BIOES")
    index = {label: i for i, label in enumerate(LABELS_BIOES)}
    assert not allowed[index["B-PER"], index["O"]]
    assert not allowed[index["I-PER"], index["S-LOC"]]
    assert not allowed_end[index["B-PER"]] and not allowed_end[index["I-PER"]]
    assert not allowed_start[index["E-PER"]]
    assert allowed[index["B-PER"], index["E-PER"]] and allowed[index["E-PER"], index["S-LOC"]]


@pytest.mark.parametrize(("labels", "scheme"), [(LABELS_BIO, "BIO"), (LABELS_BIOES, "BIOES")])
def test_constrained_decoding_never_emits_an_invalid_sequence(labels, scheme):
    generator = torch.Generator().manual_seed(9)
    T = len(labels)
    inside = torch.tensor([label[0] in "IE" for label in labels])
    # Emissions strongly favour I-/E- tags, which start no valid sequence.
    emissions = torch.randn(64, 6, T, generator=generator) * 3 + 20.0 * inside
    lengths = torch.randint(1, 7, (64,), generator=generator)
    mask = torch.arange(6).unsqueeze(0) < lengths.unsqueeze(1)

    unconstrained = CRF(T)
    tags, _ = unconstrained.decode(emissions, mask)
    invalid = [
        not is_valid_sequence([labels[i] for i in tags[n, : lengths[n]]], scheme) for n in range(64)
    ]
    assert sum(invalid) > 32  # the emissions do push towards invalid sequences

    constrained = CRF.with_constraints(labels, scheme)
    with torch.no_grad():  # same scores; only the masks differ
        for name, parameter in unconstrained.named_parameters():
            getattr(constrained, name).copy_(parameter)
    tags, _ = constrained.decode(emissions, mask)
    for n in range(64):
        assert is_valid_sequence([labels[i] for i in tags[n, : lengths[n]]], scheme)


def test_with_constraints_uses_the_scheme_masks():
    crf = CRF.with_constraints(LABELS_BIOES, scheme="BIOES", batch_first=False)
    allowed, allowed_start, allowed_end = allowed_transitions(LABELS_BIOES, "BIOES")
    assert crf.num_tags == len(LABELS_BIOES) and not crf.batch_first
    assert torch.equal(crf.transition_mask, allowed)
    assert torch.equal(crf.start_mask, allowed_start) and torch.equal(crf.end_mask, allowed_end)
    assert "constrained=True" in repr(crf) and "constrained=False" in repr(CRF(3))
    restored = CRF(len(LABELS_BIOES))
    restored.load_state_dict(crf.state_dict())  # the constraints travel with the checkpoint
    assert torch.equal(restored.transition_mask, allowed)


@pytest.mark.slow
def test_compiles_without_graph_breaks():
    crf = CRF.with_constraints(LABELS_BIO, "BIO")
    emissions, tags, mask = random_batch(len(LABELS_BIO), [4, 2, 3], seed=12)
    emissions = emissions.float()
    compiled = torch.compile(crf, backend="aot_eager", fullgraph=True)
    torch.testing.assert_close(compiled(emissions, tags, mask), crf(emissions, tags, mask))
    compiled_decode = torch.compile(crf.decode, backend="aot_eager", fullgraph=True)
    assert torch.equal(compiled_decode(emissions, mask)[0], crf.decode(emissions, mask)[0])


@pytest.mark.parametrize(
    ("labels", "scheme", "match"),
    [
        (["O", "B-PER"], "BILOU", "scheme"),
        (["O", "E-PER"], "BIO", "E-PER"),
        (["O", "PER"], "BIOES", "'PER'"),
        (["O", "B-"], "BIO", "'B-'"),
        (["O", "X-PER"], "BIOES", "X-PER"),
    ],
)
def test_allowed_transitions_rejects_bad_labels(labels, scheme, match):
    with pytest.raises(ValueError, match=match):
        allowed_transitions(labels, scheme)


def test_bad_inputs_raise_value_errors():
    crf = CRF(3)
    emissions = torch.randn(2, 4, 3)
    tags = torch.zeros(2, 4, dtype=torch.long)
    with pytest.raises(ValueError, match=r"emissions: expected .*T=3.*got \(2, 4, 5\)"):
        crf(torch.randn(2, 4, 5), tags)
    with pytest.raises(ValueError, match=r"emissions: expected .*got \(4, 3\)"):
        crf.decode(torch.randn(4, 3))
    with pytest.raises(ValueError, match=r"tags: expected shape \(2, 4\).*got \(2, 3\)"):
        crf(emissions, tags[:, :3])
    with pytest.raises(ValueError, match=r"mask: expected shape \(2, 4\)"):
        crf(emissions, tags, torch.ones(2, 3, dtype=torch.bool))
    first_off = torch.ones(2, 4, dtype=torch.bool)
    first_off[1, 0] = False
    with pytest.raises(ValueError, match="mask: expected the first step"):
        crf(emissions, tags, first_off)
    with pytest.raises(ValueError, match="mask: expected the first step"):
        crf.decode(emissions, first_off)
    gap = torch.tensor([[True, False, True, True], [True, True, True, True]])
    with pytest.raises(ValueError, match="mask: expected a prefix"):
        crf(emissions, tags, gap)
    with pytest.raises(ValueError, match=r"tags: expected values in \[0, 3\)"):
        crf(emissions, tags + 3)
    with pytest.raises(ValueError, match="reduction"):
        crf(emissions, tags, reduction="average")
    with pytest.raises(ValueError, match="num_tags"):
        CRF(0)
    with pytest.raises(ValueError, match=r"allowed_transitions: expected .*\(3, 3\)"):
        CRF(3, allowed_transitions=torch.ones(3, 2, dtype=torch.bool))
    with pytest.raises(ValueError, match="allowed_start"):
        CRF(3, allowed_start=torch.ones(3))
