"""The built-in language-model data: file-disjoint splits, budgets, and the unigram baseline."""

import math
from collections import Counter

import pytest

from rnnkit.data.language_modeling import builtin as language_model

SPLITS = ("train", "val", "test")
BUDGETS = {"train": 1_500_000, "val": 150_000, "test": 150_000}


@pytest.fixture(scope="module")
def data():
    return {split: language_model.load(split) for split in SPLITS}


def test_documents_are_whole_ascii_stdlib_modules(data):
    directory = language_model.stdlib_directory()
    for split in SPLITS:
        assert data[split]
        for document in data[split]:
            assert set(document) == {"name", "text"}
            assert document["text"] == (directory / document["name"]).read_text().replace(
                "\r\n", "\n"
            )
            assert document["text"].isascii()


@pytest.mark.parametrize("split", SPLITS)
def test_sizes_fill_but_respect_the_budgets(data, split):
    size = sum(len(d["text"]) for d in data[split])
    assert 0.8 * BUDGETS[split] <= size <= BUDGETS[split]


def test_splits_are_disjoint_files(data):
    names = [{d["name"] for d in data[split]} for split in SPLITS]
    assert sum(map(len, names)) == sum(len(data[split]) for split in SPLITS)
    assert not names[0] & names[1] and not names[0] & names[2] and not names[1] & names[2]


def test_deterministic_per_seed_and_different_across_seeds(data):
    assert language_model.load("test") == data["test"]
    assert [d["name"] for d in language_model.load("test", seed=1)] != [
        d["name"] for d in data["test"]
    ]


def test_unigram_bits_per_char_matches_brute_force():
    train, test = ["aab"], ["ab", "c"]
    probability = {c: (Counter("aab")[c] + 1) / (3 + language_model.ALPHABET_SIZE) for c in "abc"}
    expected = -sum(math.log2(probability[c]) for c in "abc") / 3
    assert language_model.unigram_bits_per_char(train, test) == pytest.approx(expected)
    with pytest.raises(ValueError, match="test"):
        language_model.unigram_bits_per_char(train, [""])


def _bigram_bits_per_char(train, test):
    """Add-one bigram model (one character of context), the simplest order-aware model."""
    pairs, contexts = Counter(), Counter()
    for text in train:
        pairs.update(zip("\n" + text, text))
        contexts.update(("\n" + text)[:-1])
    test_pairs = Counter(pair for text in test for pair in zip("\n" + text, text))
    bits = -sum(
        count * math.log2((pairs[pair] + 1) / (contexts[pair[0]] + language_model.ALPHABET_SIZE))
        for pair, count in test_pairs.items()
    )
    characters = sum(test_pairs.values())
    return bits / characters


def test_order_blind_unigram_is_far_from_what_context_gives(data):
    train = [d["text"] for d in data["train"]]
    test = [d["text"] for d in data["test"]]
    unigram = language_model.unigram_bits_per_char(train, test)
    bigram = _bigram_bits_per_char(train, test)
    assert 4.0 <= unigram <= math.log2(language_model.ALPHABET_SIZE)
    assert bigram <= unigram - 0.7


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"split": "dev"}, "split"),
        ({"split": "train", "max_train_chars": 1000}, "max_train_chars"),
        ({"split": "train", "max_val_chars": 1.5e6}, "max_val_chars"),
        ({"split": "train", "max_test_chars": None}, "max_test_chars"),
    ],
)
def test_bad_arguments_are_named(kwargs, argument):
    with pytest.raises(ValueError, match=argument):
        language_model.load(**kwargs)
