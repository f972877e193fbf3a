"""The built-in sentiment data: format, sizes, balance, splits, and that word order decides."""

import random
from collections import Counter

import pytest

from rnnkit.data.sentiment import builtin as sentiment

SPLITS = ("train", "val", "test")
SIZES = {"train": 6000, "val": 1000, "test": 1000}


@pytest.fixture(scope="module")
def data():
    return {split: sentiment.load(split) for split in SPLITS}


@pytest.mark.parametrize("split", SPLITS)
def test_sizes_balance_and_format(data, split):
    examples = data[split]
    assert len(examples) == SIZES[split]
    assert Counter(e["label"] for e in examples) == {
        "negative": SIZES[split] // 2,
        "positive": SIZES[split] // 2,
    }
    for example in examples:
        assert set(example) == {"text", "label"}
        text = example["text"]
        assert isinstance(text, str) and text == text.lower() == " ".join(text.split())
        assert 3 <= len(text.split()) <= 25


def test_splits_are_disjoint(data):
    texts = [{e["text"] for e in data[split]} for split in SPLITS]
    assert sum(map(len, texts)) == sum(SIZES.values())  # unique inside each split too
    assert not texts[0] & texts[1] and not texts[0] & texts[2] and not texts[1] & texts[2]


def test_deterministic_per_seed_and_different_across_seeds():
    assert sentiment.load("val", seed=3, num_train=50) == sentiment.load(
        "val", seed=3, num_train=50
    )
    assert sentiment.load("val", seed=3, num_train=50) != sentiment.load(
        "val", seed=4, num_train=50
    )


@pytest.mark.parametrize("size", [1, 7, 10])
def test_custom_sizes_stay_balanced(size):
    examples = sentiment.load("test", num_train=5, num_val=5, num_test=size)
    counts = Counter(e["label"] for e in examples)
    assert len(examples) == size and counts["negative"] - counts["positive"] in (0, 1)


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"split": "dev"}, "split"),
        ({"split": "train", "num_train": 0}, "num_train"),
        ({"split": "train", "num_val": 2.5}, "num_val"),
        ({"split": "train", "num_test": True}, "num_test"),
    ],
)
def test_bad_arguments_are_named(kwargs, argument):
    with pytest.raises(ValueError, match=argument):
        sentiment.load(**kwargs)


@pytest.mark.parametrize("family", sorted(sentiment.FAMILY_WEIGHTS))
def test_every_family_is_a_pair_of_opposite_twins(family):
    """Except "plain", both renderings have the same bag of words: only the order differs."""
    rng = random.Random(family)
    for _ in range(300):
        (text_a, label_a), (text_b, label_b) = sentiment._FAMILIES[family](rng)
        assert {label_a, label_b} == {1, -1}
        same_bag = sorted(text_a.split()) == sorted(text_b.split())
        assert same_bag == (family != "plain"), (text_a, text_b)


def test_labels_follow_the_constructions():
    """A few sentences whose label a reader knows, found in the generated data."""
    expected = {
        "good but dull": "negative",
        "dull but good": "positive",
        "not bad , good": "positive",
        "good , not bad": "positive",
        "bad , not good": "negative",
    }
    rng = random.Random(0)
    found = {}
    for _ in range(20000):
        for text, polarity in sentiment._FAMILIES[rng.choice(("but", "corrective"))](rng):
            text = " ".join(text.split())
            if text in expected:
                found[text] = sentiment.LABELS[polarity > 0]
    assert found and all(found[text] == expected[text] for text in found)


def test_bag_of_words_fails_where_word_order_succeeds(data):
    """Unigram logistic regression stays near chance; with bigrams (local order) it learns."""
    feature_extraction = pytest.importorskip("sklearn.feature_extraction.text")
    linear_model = pytest.importorskip("sklearn.linear_model")

    def accuracy(ngram_range):
        vectorizer = feature_extraction.CountVectorizer(
            token_pattern=r"[^ ]+", ngram_range=ngram_range
        )
        train_x = vectorizer.fit_transform([e["text"] for e in data["train"]])
        model = linear_model.LogisticRegression(max_iter=2000)
        model.fit(train_x, [e["label"] for e in data["train"]])
        test_x = vectorizer.transform([e["text"] for e in data["test"]])
        return model.score(test_x, [e["label"] for e in data["test"]])

    bag_of_words = accuracy((1, 1))
    bigrams = accuracy((1, 2))
    assert bag_of_words <= 0.60  # order-blind ceiling 0.55 in expectation
    assert bigrams >= bag_of_words + 0.2
