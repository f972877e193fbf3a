"""Tag scheme conversions: chunks survive every conversion (seqeval reads them as oracle)."""

from __future__ import annotations

import random

import pytest

from rnnkit.data.tagging.tag_schemes import (
    bio_to_bioes,
    bio_to_iob1,
    bioes_to_bio,
    check_tags,
    convert_tags,
    iob1_to_bio,
    normalize_scheme,
)

seqeval_metrics = pytest.importorskip("seqeval.metrics.sequence_labeling")
seqeval_scheme = pytest.importorskip("seqeval.scheme")

TYPES = ("PER", "LOC", "ORG")


def random_bio(rng: random.Random, length: int) -> list[str]:
    """Well-formed BIO: chunks of 1-3 tokens, often adjacent and of the same type."""
    tags: list[str] = []
    while len(tags) < length:
        if rng.random() < 0.35:
            tags.append("O")
            continue
        entity = rng.choice(TYPES[:2])  # few types: adjacent same-type chunks are common
        tags += [f"B-{entity}"] + [f"I-{entity}"] * rng.randrange(3)
    return tags[:length]


def seqeval_chunks(tags: list[str], scheme: str) -> set:
    if scheme == "BIOES":
        entities = seqeval_scheme.Entities([tags], seqeval_scheme.IOBES).entities[0]
        return {(e.tag, e.start, e.end - 1) for e in entities}
    return set(seqeval_metrics.get_entities(tags))


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize("target", ["IOB1", "BIO", "BIOES"])
def test_conversion_keeps_the_chunks(seed, target):
    bio = random_bio(random.Random(seed), 12)
    converted = convert_tags(bio, "BIO", target)
    check_tags(converted, target)
    assert seqeval_chunks(converted, target) == seqeval_chunks(bio, "BIO")
    assert convert_tags(converted, target, "BIO") == bio


@pytest.mark.parametrize("seed", range(10))
def test_iob1_round_trip(seed):
    iob1 = bio_to_iob1(random_bio(random.Random(seed), 15))
    assert all(not t.startswith("B-") or iob1[i - 1][2:] == t[2:] for i, t in enumerate(iob1))
    assert bio_to_iob1(iob1_to_bio(iob1)) == iob1


@pytest.mark.parametrize(
    ("tags", "bio", "bioes"),
    [
        ("I-PER I-PER O I-LOC B-LOC", "B-PER I-PER O B-LOC B-LOC", "B-PER E-PER O S-LOC S-LOC"),
        ("I-ORG I-LOC I-LOC", "B-ORG B-LOC I-LOC", "S-ORG B-LOC E-LOC"),
        ("O O", "O O", "O O"),
    ],
)
def test_known_conversions(tags, bio, bioes):
    assert iob1_to_bio(tags.split()) == bio.split()
    assert bio_to_bioes(bio.split()) == bioes.split()
    assert bioes_to_bio(bioes.split()) == bio.split()
    assert convert_tags(tags.split(), "IOB1", "BIOES") == bioes.split()


def test_bio_conversion_tolerates_an_i_that_starts_a_chunk():
    assert bio_to_bioes(["O", "I-PER", "I-PER"]) == ["O", "B-PER", "E-PER"]


@pytest.mark.parametrize(
    ("alias", "canonical"), [("IOB2", "BIO"), ("iobes", "BIOES"), ("none", "none")]
)
def test_aliases(alias, canonical):
    assert normalize_scheme(alias) == canonical


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: normalize_scheme("BILOU"), "tag_scheme: expected one of"),
        (lambda: check_tags(["O", "S-PER"], "BIO"), "'S-PER' is not a BIO tag"),
        (lambda: check_tags(["NOUN"], "BIOES"), "'NOUN' is not a BIOES tag"),
        (lambda: convert_tags(["B-"], "BIO", "BIOES"), "'B-' is not a BIO tag"),
        (lambda: convert_tags(["NOUN"], "none", "BIO"), "cannot convert plain labels"),
        (lambda: iob1_to_bio(["E-PER"]), "'E-PER' is not a IOB1 tag"),
    ],
)
def test_bad_tags_and_schemes_are_named(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_plain_labels_pass_through():
    assert convert_tags(["NOUN", "VERB"], "none", "none") == ["NOUN", "VERB"]
    assert convert_tags(["B-PER", "I-PER"], "BIO", "none") == ["B-PER", "I-PER"]
