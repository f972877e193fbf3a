"""IBM Model 1: a dictionary implementation of Brown et al.'s EM as the oracle, a corpus whose
word translations it must find, and the word-by-word translation of padded batches."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest
import torch

from rnnkit.data.translation import word_table
from rnnkit.data.translation.builtin import BuiltinTranslationDataModule
from rnnkit.data.translation.word_table import WordTranslationTable

NULL = "NULL"


def dictionary_model_one(pairs: list[tuple[list[int], list[int]]], iterations: int) -> dict:
    """t(e | f) by EM, written with dictionaries from the textbook's pseudo-code."""
    t: dict = defaultdict(lambda: 1.0)
    for _ in range(iterations):
        count: dict = defaultdict(float)
        total: dict = defaultdict(float)
        for source, target in pairs:
            words = [NULL, *source]
            for e in target:
                norm = sum(t[(e, f)] for f in words)
                for f in words:
                    share = t[(e, f)] / norm
                    count[(e, f)] += share
                    total[f] += share
        t = defaultdict(float, {(e, f): c / total[f] for (e, f), c in count.items()})
    return t


def flat(sentences: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    offsets = np.concatenate([[0], np.cumsum([len(s) for s in sentences])]).astype(np.int64)
    values = np.array([w for s in sentences for w in s], dtype=np.int64)
    return values, offsets


def test_probabilities_equal_the_dictionary_implementation(monkeypatch):
    monkeypatch.setattr(word_table, "CHUNK_PAIRS", 3)  # expected counts summed over chunks
    rng = np.random.default_rng(0)
    pairs = []
    for _ in range(40):
        source = rng.integers(1, 8, size=rng.integers(0, 5)).tolist()
        target = [(w * 3) % 7 + 1 for w in source] + rng.integers(1, 9, size=1).tolist()
        pairs.append((source, target))
    table = WordTranslationTable(8, 9, iterations=4).fit(
        *flat([s for s, _ in pairs]), *flat([t for _, t in pairs])
    )
    oracle = dictionary_model_one(pairs, 4)
    for (e, f), p in oracle.items():
        f_id = table.null if f == NULL else f
        assert table.probability_of(f_id, e) == pytest.approx(p, rel=1e-12, abs=1e-15)
    assert len(table.codes) == len(oracle)
    for f in range(1, 8):  # every word's distribution sums to one
        total = sum(table.probability_of(f, e) for e in range(9))
        assert total == pytest.approx(1.0) or total == 0.0


def test_it_learns_a_word_substitution_and_translates_padded_batches():
    lexicon = {1: 5, 2: 6, 3: 7, 4: 8}
    rng = np.random.default_rng(1)
    sources = [rng.permutation([1, 2, 3, 4])[: rng.integers(1, 5)].tolist() for _ in range(200)]
    targets = [[lexicon[w] for w in s][::-1] for s in sources]  # reordered: Model 1 ignores order
    table = WordTranslationTable(6, 9, iterations=10).fit(*flat(sources), *flat(targets))
    assert table.best[1:5].tolist() == [5, 6, 7, 8]
    assert table.best[0] == -1 and table.best[5] == -1  # never seen in training
    source = torch.tensor([[3, 1, 5, 0], [2, 4, 1, 1]])
    translated = table.translate(source, torch.tensor([3, 2]), pad_index=0)
    assert translated.tolist() == [[7, 5, 0, 0], [6, 8, 0, 0]]


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="one per source"):
        WordTranslationTable(3, 3).fit(*flat([[1]]), *flat([[1], [2]]))
    with pytest.raises(ValueError, match="no target word"):
        WordTranslationTable(3, 3).fit(*flat([[1]]), *flat([[]]))
    with pytest.raises(ValueError, match="iterations"):
        WordTranslationTable(3, 3, iterations=0)


def test_the_datamodule_fits_it_on_its_training_pairs():
    datamodule = BuiltinTranslationDataModule(batch_size=16)
    datamodule.setup("fit")
    table = datamodule.word_table()
    assert datamodule.word_table() is table
    assert table.best.shape == (len(datamodule.source_vocab),)
    # Number words translate word by word: most seen source words get a real target word.
    seen = table.best[table.best >= 0]
    assert len(seen) > 0.5 * len(datamodule.source_vocab)
