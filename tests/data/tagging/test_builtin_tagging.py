"""The built-in tagging data: format, splits, an unambiguous grammar, and that context decides."""

import random
from collections import Counter, defaultdict
from functools import cache

import pytest

from rnnkit.data.tagging import builtin as tagging

SPLITS = ("train", "val", "test")
SCHEMES = {"pos": tagging.POS_TAGS, "ner": tagging.NER_TAGS}
SIZES = {"train": 4000, "val": 1000, "test": 1000}
GENERATORS = {"pos": tagging._pos_sentence, "ner": tagging._ner_sentence}


@cache
def _train(scheme):
    return tagging.load("train", tag_scheme=scheme)


@pytest.fixture(scope="module", params=sorted(SCHEMES))
def scheme_data(request):
    scheme = request.param
    data = {split: tagging.load(split, tag_scheme=scheme) for split in SPLITS[1:]}
    return scheme, {"train": _train(scheme), **data}


def test_sizes_and_format(scheme_data):
    scheme, data = scheme_data
    for split in SPLITS:
        assert len(data[split]) == SIZES[split]
        for example in data[split]:
            assert set(example) == {"tokens", "tags"}
            assert len(example["tokens"]) == len(example["tags"]) >= 3
            assert all(
                isinstance(t, str) and t == t.lower() and " " not in t for t in example["tokens"]
            )
            assert set(example["tags"]) <= set(SCHEMES[scheme])


def test_ner_tags_are_valid_bio():
    for example in _train("ner"):
        previous = "O"
        for tag in example["tags"]:
            if tag.startswith("I-"):
                assert previous in ("B-" + tag[2:], tag), example
            previous = tag


def test_splits_are_disjoint(scheme_data):
    _, data = scheme_data
    sentences = [{tuple(e["tokens"]) for e in data[split]} for split in SPLITS]
    assert sum(map(len, sentences)) == sum(SIZES.values())


@pytest.mark.parametrize("scheme", sorted(SCHEMES))
def test_deterministic_per_seed_and_different_across_seeds(scheme):
    def load(seed):
        return tagging.load("val", seed=seed, tag_scheme=scheme, num_train=10, num_val=50)

    assert load(1) == load(1)
    assert load(1) != load(2)


@pytest.mark.parametrize("scheme", sorted(SCHEMES))
def test_the_grammar_is_unambiguous(scheme):
    """The whole sentence always determines the tags: a bidirectional model can be perfect."""
    rng = random.Random(11)
    tags_of = {}
    for _ in range(5000):
        tagged = GENERATORS[scheme](rng)
        tokens, tags = tuple(w for w, _ in tagged), tuple(t for _, t in tagged)
        assert tags_of.setdefault(tokens, tags) == tags, tokens


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"split": "training"}, "split"),
        ({"split": "train", "tag_scheme": "bioes"}, "tag_scheme"),
        ({"split": "train", "num_train": -1}, "num_train"),
        ({"split": "train", "num_test": "5"}, "num_test"),
    ],
)
def test_bad_arguments_are_named(kwargs, argument):
    with pytest.raises(ValueError, match=argument):
        tagging.load(**kwargs)


def _word_majority_accuracy(train, test):
    """Per-token majority tag by word identity alone (order-blind): (overall, ambiguous words)."""
    counts = defaultdict(Counter)
    for example in train:
        for word, tag in zip(example["tokens"], example["tags"]):
            counts[word][tag] += 1
    fallback = Counter(t for e in train for t in e["tags"]).most_common(1)[0][0]
    ambiguous = {word for word, tags in counts.items() if len(tags) > 1}
    hits, ambiguous_hits, total, ambiguous_total = 0, 0, 0, 0
    for example in test:
        for word, tag in zip(example["tokens"], example["tags"]):
            guess = counts[word].most_common(1)[0][0] if word in counts else fallback
            hits += guess == tag
            total += 1
            if word in ambiguous:
                ambiguous_hits += guess == tag
                ambiguous_total += 1
    return hits / total, ambiguous_hits / ambiguous_total


def _causal_upper_bound(test):
    """Best accuracy on test of ANY left-to-right tagger: the best tag per prefix, from test."""
    by_prefix = defaultdict(Counter)
    for example in test:
        for position, tag in enumerate(example["tags"]):
            by_prefix[tuple(example["tokens"][: position + 1])][tag] += 1
    best = sum(tags.most_common(1)[0][1] for tags in by_prefix.values())
    return best / sum(len(e["tags"]) for e in test)


def test_order_blind_tagger_fails_on_ambiguous_words(scheme_data):
    _, data = scheme_data
    overall, ambiguous = _word_majority_accuracy(data["train"], data["test"])
    assert overall <= 0.93
    assert ambiguous <= 0.65


def test_left_context_alone_cannot_be_perfect(scheme_data):
    _, data = scheme_data
    assert _causal_upper_bound(data["test"]) <= 0.98


@pytest.mark.parametrize(
    ("scheme", "word", "tags"),
    [
        ("pos", "paint", {"NOUN", "VERB"}),
        ("pos", "dry", {"ADJ", "VERB"}),
        ("pos", "can", {"AUX", "NOUN", "VERB"}),
        ("ner", "paris", {"B-LOC", "B-PER", "I-PER", "B-ORG"}),
        ("ner", "york", {"I-LOC", "I-ORG"}),
    ],
)
def test_ambiguous_words_take_every_reading(scheme, word, tags):
    seen = {
        tag
        for example in _train(scheme)
        for token, tag in zip(example["tokens"], example["tags"])
        if token == word
    }
    assert seen == tags
