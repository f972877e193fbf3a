"""The built-in translation data: num2words agreement, tokenisation, splits, reordering."""

import random

import pytest

from rnnkit.data.translation import builtin as translation

SPLITS = ("train", "val", "test")


@pytest.fixture(scope="module")
def data():
    return {split: translation.load(split) for split in SPLITS}


NUMBERS = sorted(
    set(random.Random(0).sample(range(translation.MAX_SUPPORTED + 1), 300))
    | {
        0,
        1,
        17,
        21,
        100,
        101,
        999,
        1000,
        1001,
        1021,
        1100,
        2000,
        9999,
        10000,
        101000,
        100001,
        999999,
    }
)


def test_words_agree_with_num2words():
    num2words = pytest.importorskip("num2words").num2words
    for number in NUMBERS:
        assert translation.english_words(number) == num2words(number)
        assert translation.german_words(number) == num2words(number, lang="de")


@pytest.mark.parametrize("split", SPLITS)
def test_format_and_tokenisation_round_trip(data, split):
    for example in data[split]:
        assert example["source"] == translation.tokenize_english(example["source_text"])
        assert (
            " ".join(example["source"]).replace(" - ", "-").replace(" ,", ",")
            == (example["source_text"])
        )
        assert "".join(example["target"]) == example["target_text"]
        assert set(example["target"]) <= set(translation.GERMAN_MORPHEMES)
        assert example["source_text"] == translation.english_words(example["number"])
        assert 1 <= len(example["source"]) <= 9 and 1 <= len(example["target"]) <= 7


def test_splits_partition_the_numbers(data):
    numbers = {split: [e["number"] for e in data[split]] for split in SPLITS}
    assert [len(numbers[s]) for s in SPLITS] == [8000, 1000, 1000]
    assert sorted(numbers["train"] + numbers["val"] + numbers["test"]) == list(range(10000))


def test_deterministic_per_seed_and_different_across_seeds():
    assert translation.load("test", seed=5) == translation.load("test", seed=5)
    assert translation.load("test", seed=5) != translation.load("test", seed=6)


@pytest.mark.parametrize(
    ("number", "source", "target"),
    [
        (34, "thirty - four", "vier und dreißig"),
        (17, "seventeen", "siebzehn"),
        (1001, "one thousand and one", "ein tausend eins"),
        (
            2671,
            "two thousand , six hundred and seventy - one",
            "zwei tausend sechs hundert ein und siebzig",
        ),
    ],
)
def test_examples_reorder_tens_and_units(number, source, target):
    example = translation.example(number)
    assert example["source"] == source.split() and example["target"] == target.split()


def test_segmentation_rejects_non_number_words():
    with pytest.raises(ValueError, match="word"):
        translation.segment_german("vierundhallo")


def test_order_blind_ceiling(data):
    """Below 100 every bag is unique; over 0..9999 a bag-of-words model is mostly wrong."""
    assert translation.order_blind_ceiling(list(range(100)), max_number=99) == 1.0
    tens_swapped = [2300, 3200]  # "two thousand , three hundred" / "three thousand , two hundred"
    assert translation.order_blind_ceiling(tens_swapped) <= 0.5
    test_numbers = [e["number"] for e in data["test"]]
    assert translation.order_blind_ceiling(test_numbers) <= 0.45


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"split": "valid"}, "split"),
        ({"split": "train", "max_number": 1500}, "max_number"),
        ({"split": "train", "max_number": 10**6}, "max_number"),
        ({"split": "train", "num_val": 0}, "num_val"),
        ({"split": "train", "num_test": None}, "num_test"),
    ],
)
def test_bad_arguments_are_named(kwargs, argument):
    with pytest.raises(ValueError, match=argument):
        translation.load(**kwargs)


def test_number_out_of_range_is_named():
    with pytest.raises(ValueError, match="number"):
        translation.german_words(-1)


@pytest.mark.slow
def test_every_default_number_agrees_with_num2words():
    num2words = pytest.importorskip("num2words").num2words
    for number in range(10000):
        example = translation.example(number)
        assert example["source_text"] == num2words(number)
        assert example["target_text"] == num2words(number, lang="de")
