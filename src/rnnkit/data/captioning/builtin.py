"""Captioning strips of real handwritten digits with the digits' spoken names, left to right.

Task: ``image`` (float32, shape ``(HEIGHT, WIDTH)`` = (12, 40), values in [0, 1]) -> ``caption``
(``["three", "one", "four"]``). Each image holds 2 to 4 digits (``min_digits``, ``max_digits``)
from scikit-learn's bundled 8x8 handwritten digits (``sklearn.datasets.load_digits``: 1,797
scans, grey levels 0..16, no download), pasted left to right with random gaps of 0 to 2
columns, a random vertical offset of 0 to 4 rows each and a random left margin.

Why order matters: the caption follows the left-to-right layout, so the same digits in another
order give another caption. An order-blind captioner, even one that recognises every digit
perfectly but not where it is, can only guess the order of the multiset: its best exact match
is the probability that the caption happens to be in the order it guesses, E[1 / distinct
orderings] = 0.28 for 2 to 4 uniform digits (0.55, 0.22 and 0.07 for 2, 3 and 4 digits); the
sorted-multiset oracle measures 0.277 exact match on test (seed 0). A column-wise BiGRU encoder
(the image read left to right, one column per step) with an attention GRU decoder reached 0.86
exact match after 7 epochs, ~3 minutes on one CPU thread.

Splits: the 1,797 source scans are split per class 70/15/15 with the seed (1,258 / 269 / 270
for seed 0) before composing, so no test image contains a scan seen in training. Images per
split: 6,000 train / 1,000 val / 1,000 test by default (``num_train``, ``num_val``,
``num_test``). Examples: ``{"image", "caption", "reference_captions" ([caption]: there is one
right caption), "digits" (the ints)}``. Generation takes about 0.3 s.

:class:`BuiltinCaptioningDataModule` at the end of this file serves these examples to the task
(``data=captioning_builtin``).
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path
from typing import Any, TypedDict

import numpy as np

from rnnkit.data.builtin import check_split
from rnnkit.data.captioning.datamodule import CaptioningDataModule

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
DIGIT_SIZE = 8
MAX_VERTICAL_OFFSET = 4
MAX_GAP = 2
HEIGHT = DIGIT_SIZE + MAX_VERTICAL_OFFSET
SPLIT_FRACTIONS = {"train": 0.70, "val": 0.15, "test": 0.15}


class CaptioningExample(TypedDict):
    image: np.ndarray
    caption: list[str]
    reference_captions: list[list[str]]
    digits: list[int]


def canvas_width(max_digits: int) -> int:
    """Width of the canvas that fits ``max_digits`` digits with the widest gaps (40 for 4)."""
    return max_digits * DIGIT_SIZE + (max_digits - 1) * MAX_GAP + 2


WIDTH = canvas_width(4)


def _bundled_digits_file() -> Path | None:
    """scikit-learn's ``datasets/data/digits.csv.gz``, found without importing scikit-learn."""
    spec = importlib.util.find_spec("sklearn")
    for location in (spec.submodule_search_locations or []) if spec else []:
        path = Path(location) / "datasets" / "data" / "digits.csv.gz"
        if path.is_file():
            return path
    return None


@lru_cache(maxsize=1)
def _digits() -> tuple[np.ndarray, np.ndarray]:
    """The 1,797 scans as ``(1797, 8, 8)`` float32 in [0, 1] and their ``(1797,)`` labels.

    Reads the file that ``sklearn.datasets.load_digits`` reads (importing scikit-learn takes
    seconds); falls back to ``load_digits`` if a scikit-learn version moves it.
    """
    path = _bundled_digits_file()
    if path is not None:
        table = np.loadtxt(path, delimiter=",", dtype=np.float32)
        pixels, labels = table[:, :-1], table[:, -1]
    else:  # pragma: no cover - depends on the installed scikit-learn
        from sklearn.datasets import load_digits

        bunch = load_digits()
        pixels, labels = bunch.data, bunch.target
    images = (np.asarray(pixels, dtype=np.float32) / 16.0).reshape(-1, DIGIT_SIZE, DIGIT_SIZE)
    images.setflags(write=False)
    return images, np.asarray(labels, dtype=np.int64)


def source_indices(split: str, seed: int = 0) -> np.ndarray:
    """Indices into ``load_digits()`` of the scans ``split`` composes its images from."""
    check_split(split)
    _, labels = _digits()
    rng = np.random.default_rng(seed + 2_750_159)
    chosen = []
    for digit in range(10):
        members = rng.permutation(np.flatnonzero(labels == digit))
        n_train = round(SPLIT_FRACTIONS["train"] * len(members))
        n_val = round(SPLIT_FRACTIONS["val"] * len(members))
        bounds = {
            "train": (0, n_train),
            "val": (n_train, n_train + n_val),
            "test": (n_train + n_val, len(members)),
        }[split]
        chosen.append(members[bounds[0] : bounds[1]])
    return np.sort(np.concatenate(chosen))


def _check_count(name: str, value: int, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name}: expected an integer >= {minimum}, got {value!r}")
    return value


def load(
    split: str,
    seed: int = 0,
    num_train: int = 6000,
    num_val: int = 1000,
    num_test: int = 1000,
    min_digits: int = 2,
    max_digits: int = 4,
) -> list[CaptioningExample]:
    """The ``split`` for ``seed``: ``[{"image", "caption", "reference_captions", "digits"}]``.

    Images are ``(HEIGHT, canvas_width(max_digits))`` float32 in [0, 1]; the number of digits
    is uniform in ``[min_digits, max_digits]`` and the digits are uniform over 0..9.
    """
    check_split(split)
    sizes = {
        "train": _check_count("num_train", num_train),
        "val": _check_count("num_val", num_val),
        "test": _check_count("num_test", num_test),
    }
    _check_count("min_digits", min_digits)
    if isinstance(max_digits, bool) or not isinstance(max_digits, int) or max_digits < min_digits:
        raise ValueError(
            f"max_digits: expected an integer >= min_digits={min_digits}, got {max_digits!r}"
        )
    images, labels = _digits()
    pool = source_indices(split, seed)
    by_digit = [pool[labels[pool] == digit] for digit in range(10)]
    offset = {"train": 0, "val": 1, "test": 2}[split]
    rng = np.random.default_rng([seed, 3_628_273, offset])
    width = canvas_width(max_digits)
    examples = []
    for _ in range(sizes[split]):
        count = int(rng.integers(min_digits, max_digits + 1))
        digits = [int(d) for d in rng.integers(0, 10, size=count)]
        gaps = rng.integers(0, MAX_GAP + 1, size=count - 1)
        used = count * DIGIT_SIZE + int(gaps.sum())
        x = int(rng.integers(0, width - used + 1))
        canvas = np.zeros((HEIGHT, width), dtype=np.float32)
        for position, digit in enumerate(digits):
            scan = images[by_digit[digit][rng.integers(len(by_digit[digit]))]]
            y = int(rng.integers(0, MAX_VERTICAL_OFFSET + 1))
            canvas[y : y + DIGIT_SIZE, x : x + DIGIT_SIZE] = scan
            x += DIGIT_SIZE + (int(gaps[position]) if position < count - 1 else 0)
        caption = [DIGIT_WORDS[d] for d in digits]
        examples.append(
            CaptioningExample(
                image=canvas,
                caption=caption,
                reference_captions=[list(caption)],
                digits=digits,
            )
        )
    return examples


# ---- the datamodule ---------------------------------------------------------------------------


class BuiltinCaptioningDataModule(CaptioningDataModule):
    """Generated offline (see the generator above).

    ``data_seed`` picks the dataset; ``num_train``, ``num_val``, ``num_test``, ``min_digits``,
    ``max_digits`` size it.
    """

    def __init__(
        self,
        data_seed: int = 0,
        num_train: int = 6000,
        num_val: int = 1000,
        num_test: int = 1000,
        min_digits: int = 2,
        max_digits: int = 4,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.data_seed = data_seed
        self.sizes = {
            "num_train": num_train,
            "num_val": num_val,
            "num_test": num_test,
            "min_digits": min_digits,
            "max_digits": max_digits,
        }

    def load_split(self, split: str) -> list[dict[str, Any]]:
        examples = load(split, seed=self.data_seed, **self.sizes)
        for number, example in enumerate(examples):
            example["source"] = f"{split} example {number}"
        return examples
