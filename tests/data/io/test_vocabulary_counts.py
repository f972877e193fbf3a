"""Vocabulary.from_counts: the vocabulary fit would build, from counts gathered elsewhere."""

from __future__ import annotations

from collections import Counter

import pytest

from rnnkit.data.io.vocabulary import PAD, UNK, Vocabulary

SEQUENCES = [["b", "a", "c", "a"], ["d", "b", "a", UNK], ["e"]]


@pytest.mark.parametrize(
    "options",
    [{}, {"min_frequency": 2}, {"max_size": 4}, {"max_size": 2}, {"specials": (PAD,)}],
)
def test_from_counts_equals_fit(options):
    counts = Counter(token for sequence in SEQUENCES for token in sequence)
    before = dict(counts)
    assert Vocabulary.from_counts(counts, **options).tokens == (
        Vocabulary.fit(SEQUENCES, **options).tokens
    )
    assert dict(counts) == before  # the counts are not changed


def test_from_counts_ranks_by_count_then_alphabetically():
    vocab = Vocabulary.from_counts({"z": 3, "b": 2, "a": 2, "<pad>": 9}, max_size=4)
    assert vocab.tokens == [PAD, UNK, "z", "a"]


def test_from_counts_rejects_a_minimum_below_one_and_a_cap_below_the_specials():
    with pytest.raises(ValueError, match="min_frequency: expected >= 1, got 0"):
        Vocabulary.from_counts({"a": 1}, min_frequency=0)
    with pytest.raises(ValueError, match="max_vocab_size: expected at least 2"):
        Vocabulary.from_counts({"a": 1}, max_size=1)
