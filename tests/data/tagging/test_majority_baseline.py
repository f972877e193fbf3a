"""The per-word majority tagger: a hand-counted case, and a Counter over the built-in data's
encoded sentences as the oracle."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch

from rnnkit.data.tagging.builtin import BuiltinTaggingDataModule
from rnnkit.data.tagging.majority_baseline import MajorityTagger

UNKNOWN = 1


def test_each_word_gets_its_most_frequent_tag_and_unknown_words_the_unknowns_tag():
    # word 2: tags 0, 1, 1 -> 1; word 3: 2, 0 -> 0 (a tie: the lower id); <unk>: 2, 2, 0 -> 2.
    tokens = np.array([2, 2, 2, 3, 3, UNKNOWN, UNKNOWN, UNKNOWN])
    tags = np.array([0, 1, 1, 2, 0, 2, 2, 0])
    tagger = MajorityTagger(vocab_size=5, num_tags=3, unknown_index=UNKNOWN).fit(tokens, tags)
    # Word 4 and the padding id 0 never occur with a tag: the unknown words' tag.
    assert tagger.table.tolist() == [2, 2, 1, 0, 2]
    assert tagger.predict(torch.tensor([[2, 3, 4], [1, 0, 2]])).tolist() == [[1, 0, 2], [2, 2, 1]]


def test_without_unknown_training_tokens_unseen_words_get_the_most_frequent_tag():
    tokens, tags = np.array([2, 3, 3, 4]), np.array([1, 0, 0, 0])
    tagger = MajorityTagger(vocab_size=6, num_tags=2, unknown_index=UNKNOWN).fit(tokens, tags)
    assert tagger.table.tolist() == [0, 0, 1, 0, 0, 0]


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="one per token"):
        MajorityTagger(4, 2, UNKNOWN).fit(np.array([2, 3]), np.array([0]))
    with pytest.raises(ValueError, match="no tagged token"):
        MajorityTagger(4, 2, UNKNOWN).fit(np.array([], int), np.array([], int))


def test_the_datamodule_counts_the_training_split_as_a_counter_does():
    datamodule = BuiltinTaggingDataModule(batch_size=8)
    datamodule.setup("fit")
    tagger = datamodule.majority_baseline()
    assert datamodule.majority_baseline() is tagger
    counts: dict[int, Counter] = {}
    for example in datamodule.datasets["train"]:
        for word, tag in zip(np.asarray(example["tokens"]).tolist(), example["tags"]):
            counts.setdefault(word, Counter())[tag] += 1
    for word, tag_counts in counts.items():
        best = max(tag_counts.values())
        assert tagger.table[word] == min(t for t, n in tag_counts.items() if n == best)
