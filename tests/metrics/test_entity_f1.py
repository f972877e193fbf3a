"""EntityF1 equals seqeval's f1_score (default mode for IOB1/BIO, strict for BIOES)."""

from __future__ import annotations

import random

import pytest
import torch

from rnnkit.data.tagging.tag_schemes import PREFIXES
from rnnkit.metrics.entity_f1 import EntityF1, entity_chunks

seqeval_metrics = pytest.importorskip("seqeval.metrics")
seqeval_scheme = pytest.importorskip("seqeval.scheme")

TYPES = ("PER", "LOC", "ORG")


def labels_of(scheme: str) -> list[str]:
    return ["O"] + [f"{p}-{t}" for t in TYPES for p in PREFIXES[scheme]]


def seqeval_f1(gold: list[list[str]], predicted: list[list[str]], scheme: str) -> float:
    if scheme == "BIOES":
        return seqeval_metrics.f1_score(
            gold, predicted, mode="strict", scheme=seqeval_scheme.IOBES, zero_division=0
        )
    return seqeval_metrics.f1_score(gold, predicted, zero_division=0)


def random_sentences(rng: random.Random, labels: list[str], count: int) -> list[list[str]]:
    """Random tags, ill-formed ones included (I- after O, E- without B-...), mostly O."""
    return [
        [rng.choice(labels) if rng.random() < 0.6 else "O" for _ in range(rng.randint(1, 9))]
        for _ in range(count)
    ]


def corrupt(rng: random.Random, sentences: list[list[str]], labels: list[str]) -> list[list[str]]:
    return [[rng.choice(labels) if rng.random() < 0.25 else t for t in s] for s in sentences]


def as_ids(sentences: list[list[str]], labels: list[str], width: int) -> torch.Tensor:
    ids = torch.full((len(sentences), width), -100, dtype=torch.long)
    for row, sentence in enumerate(sentences):
        ids[row, : len(sentence)] = torch.tensor([labels.index(t) for t in sentence])
    return ids


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("scheme", ["IOB1", "BIO", "BIOES"])
def test_equals_seqeval_on_random_tag_ids_over_several_batches(scheme, seed):
    rng = random.Random(seed)
    labels = labels_of(scheme)
    gold = random_sentences(rng, labels, 40)
    predicted = corrupt(rng, gold, labels)
    metric = EntityF1(labels, scheme)
    for start in range(0, 40, 16):  # accumulated over batches, not averaged per batch
        rows = slice(start, start + 16)
        target = as_ids(gold[rows], labels, 9)
        preds = as_ids(predicted[rows], labels, 9).masked_fill(target == -100, 0)
        metric.update(preds, target)
    assert metric.compute().item() == pytest.approx(
        seqeval_f1(gold, predicted, scheme), rel=1e-12, abs=1e-15
    )


# Fixtures written by hand: seqeval's documented example (IOB2), CoNLL-style IOB1 with adjacent
# chunks of one type, and BIOES with ill-formed chunks that strict mode drops.
FIXTURES = {
    "IOB2": (
        [["O", "O", "O", "B-MISC", "I-MISC", "I-MISC", "O"], ["B-PER", "I-PER", "O"]],
        [["O", "O", "B-MISC", "I-MISC", "I-MISC", "I-MISC", "O"], ["B-PER", "I-PER", "O"]],
    ),
    "IOB1": (
        [["I-PER", "I-PER", "B-PER", "O", "I-LOC"], ["I-ORG", "I-ORG", "O"]],
        [["I-PER", "I-PER", "I-PER", "O", "I-LOC"], ["I-ORG", "B-ORG", "O"]],
    ),
    "BIOES": (
        [["B-PER", "E-PER", "O", "S-LOC"], ["B-ORG", "I-ORG", "E-ORG", "S-PER"]],
        [["B-PER", "E-PER", "O", "B-LOC"], ["I-ORG", "I-ORG", "E-ORG", "S-PER"]],
    ),
}


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_equals_seqeval_on_hand_written_fixtures(name):
    gold, predicted = FIXTURES[name]
    scheme = {"IOB2": "BIO"}.get(name, name)
    labels = sorted({t for s in gold + predicted for t in s})
    metric = EntityF1(labels, name)
    metric.update(predicted, gold)
    expected = seqeval_f1(gold, predicted, scheme)
    assert 0 < expected < 1
    assert metric.compute().item() == pytest.approx(expected, rel=1e-12)


def test_strict_bioes_drops_ill_formed_chunks():
    assert entity_chunks(["B-PER", "O", "S-LOC", "I-ORG", "E-ORG"], "BIOES") == [("LOC", 2, 2)]
    assert entity_chunks(["O", "I-PER", "I-PER"], "BIO") == [("PER", 1, 2)]


def test_nothing_to_find_scores_zero_and_reset_clears():
    metric = EntityF1(["O", "B-PER", "I-PER"], "BIO")
    metric.update(torch.tensor([[0, 0]]), torch.tensor([[0, 0]]))
    assert metric.compute().item() == 0.0
    metric.update(torch.tensor([[1, 2]]), torch.tensor([[1, 2]]))
    assert metric.compute().item() == 1.0
    metric.reset()
    assert metric.scores() == {"precision": 0.0, "recall": 0.0, "f1": 0.0}


@pytest.mark.parametrize(
    ("labels", "scheme", "message"),
    [
        (["NOUN", "VERB"], "BIO", "labels: 'NOUN' is not a BIO entity tag"),
        (["O", "S-PER"], "BIO", "labels: 'S-PER' is not a BIO entity tag"),
        (["O", "E-PER"], "IOB1", "labels: 'E-PER' is not a IOB1 entity tag"),
        (["NOUN"], "none", "scheme: entity F1 needs entity tags"),
        (["O"], "BILOU", "scheme: expected one of"),
        ([], "BIO", "labels: expected a non-empty list"),
    ],
)
def test_a_scheme_that_does_not_match_the_labels_is_an_error(labels, scheme, message):
    with pytest.raises(ValueError, match=message):
        EntityF1(labels, scheme)


def test_bad_updates_are_named():
    metric = EntityF1(["O", "B-PER", "I-PER"], "BIO")
    with pytest.raises(ValueError, match="preds: expected"):
        metric.update(torch.zeros(2, 3, dtype=torch.long), torch.zeros(2, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="preds: tag id 7"):
        metric.update(torch.tensor([[7]]), torch.tensor([[0]]))
