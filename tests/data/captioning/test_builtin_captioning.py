"""The built-in captioning data: images, captions, scan-disjoint splits, and that order counts."""

from collections import Counter
from itertools import product
from math import factorial

import numpy as np
import pytest

from rnnkit.data.captioning import builtin as captioning

SPLITS = ("train", "val", "test")
SIZES = {"train": 6000, "val": 1000, "test": 1000}


@pytest.fixture(scope="module")
def data():
    return {split: captioning.load(split) for split in SPLITS}


@pytest.mark.parametrize("split", SPLITS)
def test_format(data, split):
    assert len(data[split]) == SIZES[split]
    for example in data[split]:
        image = example["image"]
        assert image.dtype == np.float32 and image.shape == (captioning.HEIGHT, captioning.WIDTH)
        assert image.min() >= 0.0 and image.max() <= 1.0
        assert 2 <= len(example["caption"]) <= 4
        assert example["caption"] == [captioning.DIGIT_WORDS[d] for d in example["digits"]]
        assert example["reference_captions"] == [example["caption"]]


def test_digit_counts_and_digits_are_spread(data):
    lengths = Counter(len(e["caption"]) for e in data["train"])
    digits = Counter(d for e in data["train"] for d in e["digits"])
    assert set(lengths) == {2, 3, 4} and min(lengths.values()) > 1800
    assert set(digits) == set(range(10)) and min(digits.values()) > 1500


def test_source_scans_are_split_disjointly_per_class():
    _, labels = captioning._digits()
    pools = {split: captioning.source_indices(split) for split in SPLITS}
    assert sorted(np.concatenate(list(pools.values())).tolist()) == list(range(len(labels)))
    for split, fraction in captioning.SPLIT_FRACTIONS.items():
        per_class = np.bincount(labels[pools[split]], minlength=10)
        assert np.allclose(per_class / np.bincount(labels), fraction, atol=0.02)


def test_digits_match_scikit_learn():
    datasets = pytest.importorskip("sklearn.datasets")
    images, labels = captioning._digits()
    bunch = datasets.load_digits()
    assert np.array_equal(images * 16, bunch.images) and np.array_equal(labels, bunch.target)


def _find_scans(image, scans):
    """Brute force: every (x, scan index) whose 8x8 scan appears exactly in the image."""
    size = captioning.DIGIT_SIZE
    found = []
    for y, x in product(range(image.shape[0] - size + 1), range(image.shape[1] - size + 1)):
        window = image[y : y + size, x : x + size]
        if window.any():
            matches = np.flatnonzero((scans == window).all(axis=(1, 2)))
            found += [(x, int(index)) for index in matches]
    return sorted(found)


@pytest.mark.parametrize("split", ["val", "test"])
def test_images_hold_their_own_splits_scans_left_to_right(data, split):
    """The caption reads the pasted scans left to right, and they come from the split's pool."""
    scans, labels = captioning._digits()
    pool = set(captioning.source_indices(split).tolist())
    for example in data[split][:15]:
        found = _find_scans(example["image"], scans)
        assert all(index in pool for _, index in found)
        assert [int(labels[index]) for _, index in found] == example["digits"]


def test_deterministic_per_seed_and_different_across_seeds():
    def load(seed):
        return captioning.load("val", seed=seed, num_val=20)

    first, again, other = load(1), load(1), load(2)
    assert all(
        np.array_equal(a["image"], b["image"]) and a["caption"] == b["caption"]
        for a, b in zip(first, again)
    )
    assert any(a["caption"] != b["caption"] for a, b in zip(first, other))
    assert not np.array_equal(
        captioning.source_indices("test", 1), captioning.source_indices("test", 2)
    )


def _expected_sorted_probability(count):
    """P(a caption of ``count`` uniform digits is in sorted order) = E[1 / orderings]."""
    total = 0.0
    for digits in product(range(10), repeat=count):
        orderings = factorial(count)
        for multiplicity in Counter(digits).values():
            orderings //= factorial(multiplicity)
        total += 1 / orderings
    return total / 10**count


def test_order_blind_oracle_is_mostly_wrong(data):
    """Knowing the digits but not their order (emit them sorted) rarely gives the caption."""
    exact = np.mean([sorted(e["digits"]) == e["digits"] for e in data["test"]])
    expected = np.mean([_expected_sorted_probability(n) for n in (2, 3, 4)])
    assert exact <= 0.35
    assert abs(exact - expected) < 0.05


def test_wider_canvas_for_more_digits():
    examples = captioning.load("test", num_test=30, min_digits=5, max_digits=6)
    assert examples[0]["image"].shape == (captioning.HEIGHT, captioning.canvas_width(6))
    assert {len(e["caption"]) for e in examples} == {5, 6}


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"split": "eval"}, "split"),
        ({"split": "train", "num_train": 0}, "num_train"),
        ({"split": "train", "min_digits": 0}, "min_digits"),
        ({"split": "train", "min_digits": 3, "max_digits": 2}, "max_digits"),
    ],
)
def test_bad_arguments_are_named(kwargs, argument):
    with pytest.raises(ValueError, match=argument):
        captioning.load(**kwargs)
