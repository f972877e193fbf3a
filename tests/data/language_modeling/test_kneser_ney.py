"""The interpolated Kneser-Ney baseline: a dictionary implementation of Chen & Goodman's
formulas as the oracle, distributions that sum to one, context carried across batches."""

from __future__ import annotations

import math
from collections import Counter, defaultdict

import numpy as np
import pytest
import torch

from rnnkit.data.language_modeling import kneser_ney
from rnnkit.data.language_modeling.builtin import BuiltinLanguageModelDataModule
from rnnkit.data.language_modeling.kneser_ney import KneserNeyModel

PAD = 0


class DictionaryKneserNey:
    """Interpolated Kneser-Ney written with tuples and dictionaries, straight from the formulas."""

    def __init__(self, text: list[int], order: int, vocab_size: int) -> None:
        self.order, self.vocab_size = order, vocab_size
        grams = Counter(tuple(text[i : i + order]) for i in range(len(text) - order + 1))
        self.counts = {order: grams}
        for k in range(order - 1, 0, -1):  # continuation counts: distinct left neighbours
            self.counts[k] = Counter(gram[1:] for gram in self.counts[k + 1])
        self.discount = {}
        for k, counts in self.counts.items():
            n1 = sum(1 for c in counts.values() if c == 1)
            n2 = sum(1 for c in counts.values() if c == 2)
            self.discount[k] = n1 / (n1 + 2 * n2) if n1 else 0.5
        self.totals = {k: defaultdict(int) for k in self.counts}
        self.types = {k: defaultdict(int) for k in self.counts}
        for k, counts in self.counts.items():
            for gram, count in counts.items():
                self.totals[k][gram[:-1]] += count
                self.types[k][gram[:-1]] += 1

    def probability(self, context: tuple[int, ...], word: int) -> float:
        counts, d = self.counts[1], self.discount[1]
        total = sum(counts.values())
        p = (max(counts[(word,)] - d, 0) + d * len(counts) / (self.vocab_size - 1)) / total
        for k in range(2, self.order + 1):
            if len(context) < k - 1:
                break
            h = context[len(context) - (k - 1) :]
            total = self.totals[k].get(h, 0)
            if total:
                d = self.discount[k]
                p = (max(self.counts[k][h + (word,)] - d, 0) + d * self.types[k][h] * p) / total
        return p


def random_text(seed: int, length: int, vocab_size: int) -> list[int]:
    """A Markov chain over 1..V-1 with a few likely successors per token (0 is padding)."""
    rng = np.random.default_rng(seed)
    successors = rng.integers(1, vocab_size, size=(vocab_size, 3))
    text = [1]
    for _ in range(length - 1):
        text.append(
            int(successors[text[-1], rng.integers(3)])
            if rng.random() < 0.8
            else int(rng.integers(1, vocab_size))
        )
    return text


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_log_probabilities_equal_the_dictionary_implementation(order, monkeypatch):
    monkeypatch.setattr(kneser_ney, "CHUNK_TOKENS", 97)  # counted in many chunks
    vocab_size = 9
    train = random_text(0, 2000, vocab_size)
    model = KneserNeyModel(vocab_size, order, excluded=(PAD,)).fit(np.array(train, np.uint8))
    oracle = DictionaryKneserNey(train, order, vocab_size)
    held_out = random_text(1, 3 * 41, vocab_size)
    rows = torch.tensor(held_out).reshape(3, 41)
    tokens, targets = rows[:, :-1], rows[:, 1:]
    ours = model.log_probs(tokens, targets)
    for r in range(3):
        row = rows[r].tolist()
        for j in range(40):
            expected = math.log(oracle.probability(tuple(row[: j + 1]), row[j + 1]))
            assert ours[r, j].item() == pytest.approx(expected, abs=1e-12)


def test_every_distribution_sums_to_one_and_unseen_tokens_keep_a_probability():
    vocab_size = 7
    train = [t for t in random_text(2, 500, vocab_size) if t != 6]  # token 6 never seen
    model = KneserNeyModel(vocab_size, 3, excluded=(PAD,)).fit(np.array(train))
    contexts = torch.tensor([[1, 2], [3, 3], [6, 6], [5, 1]])
    for context in contexts:
        words = torch.arange(vocab_size)
        tokens = context.repeat(vocab_size, 1)
        targets = torch.cat([context[1:].repeat(vocab_size, 1), words[:, None]], 1)
        p = model.log_probs(tokens, targets)[:, -1].exp()
        assert p[PAD] == 0
        assert p.sum().item() == pytest.approx(1.0, abs=1e-12)
        assert p[6] > 0


def test_context_carried_from_the_batch_before_equals_one_long_batch():
    vocab_size = 9
    model = KneserNeyModel(vocab_size, 4, excluded=(PAD,)).fit(
        np.array(random_text(3, 3000, vocab_size))
    )
    text = torch.tensor(random_text(4, 2 * 61, vocab_size)).reshape(2, 61)
    whole = model.log_probs(text[:, :-1], text[:, 1:])
    first = model.log_probs(text[:, :30], text[:, 1:31])
    second = model.log_probs(text[:, 30:60], text[:, 31:61], previous=text[:, 27:30])
    assert torch.equal(torch.cat([first, second], 1), whole)
    cut = model.log_probs(text[:, 30:60], text[:, 31:61])  # without it: shorter contexts
    assert not torch.equal(cut[:, :3], whole[:, 30:33])
    assert torch.equal(cut[:, 3:], whole[:, 33:])


def test_the_order_is_lowered_until_codes_fit_and_bad_input_is_refused():
    assert KneserNeyModel(10_000, 5).order == 4  # 10^20 > 2^62 > 10^16
    with pytest.raises(ValueError, match="order"):
        KneserNeyModel(10, 0)
    with pytest.raises(ValueError, match="fewer than the order"):
        KneserNeyModel(10, 3).fit(np.array([1, 2]))


def test_on_the_built_in_text_it_beats_the_unigram_model():
    datamodule = BuiltinLanguageModelDataModule(batch_size=8, sequence_length=64)
    datamodule.setup("fit")
    model = datamodule.ngram_model()
    assert datamodule.ngram_model() is model and model.order == 6
    batch = next(iter(datamodule.val_dataloader()))
    ngram = -model.log_probs(batch["tokens"], batch["targets"]).mean()
    unigram = -datamodule.unigram_log_probs()[batch["targets"]].mean()
    assert ngram < 0.7 * unigram
