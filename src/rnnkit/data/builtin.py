"""Built-in offline datasets: one deterministic raw-example generator per task.

Each task package has a ``builtin`` module (``rnnkit.data.sentiment.builtin``, ...) that
exposes ``load(split, seed=0, **size_kwargs) -> list[example]`` for ``split`` in
``("train", "val", "test")``; examples are plain Python dicts (str, lists, numpy arrays). Nothing
is downloaded: the data is generated from word lists, or read from what installed packages
ship (scikit-learn's digits, statsmodels' CO2 series, Python's own standard library).

============== ============================================ ======================================
name           task                                         example keys
============== ============================================ ======================================
sentiment      sentence classification (negation, contrast) ``text``, ``label``
tagging        sequence labelling (POS or BIO entities)     ``tokens``, ``tags``
translation    English → German number words (seq2seq)      ``source``, ``target``, ``number``
captioning     handwritten digit strips → spoken digits     ``image``, ``caption``, ...
forecasting    Mauna Loa CO2 / sunspots                     ``dates``, ``values``, ...
language_model character-level LM on stdlib source          ``name``, ``text``
music          Bach chorales (music21's corpus) as piano rolls ``name``, ``pitches``
============== ============================================ ======================================

Use the same ``seed`` for all three splits of a dataset: splits are disjoint within a seed.
"""

from __future__ import annotations

import importlib
from typing import Any

SPLITS = ("train", "val", "test")

PACKAGES = {
    "sentiment": "sentiment",
    "tagging": "tagging",
    "translation": "translation",
    "captioning": "captioning",
    "forecasting": "forecasting",
    "language_model": "language_modeling",
    "music": "music",
}
"""Built-in dataset name -> the task package under ``rnnkit.data`` whose ``builtin`` makes it."""

DATASETS = tuple(PACKAGES)


def check_split(split: str) -> str:
    """Return ``split`` if it is one of :data:`SPLITS`, else raise a ValueError naming it."""
    if split not in SPLITS:
        raise ValueError(f"split: expected one of {SPLITS}, got {split!r}")
    return split


def word_list(words: str) -> tuple[str, ...]:
    """Split "a b c" into ("a", "b", "c"): keeps the generators' long word lists compact."""
    return tuple(words.split())


def load(name: str, split: str, seed: int = 0, **size_kwargs: Any) -> list[Any]:
    """``load("sentiment", "train")`` is ``rnnkit.data.sentiment.builtin.load("train")``."""
    if name not in DATASETS:
        raise ValueError(f"name: expected one of {DATASETS}, got {name!r}")
    module = importlib.import_module(f"rnnkit.data.{PACKAGES[name]}.builtin")
    return module.load(split, seed=seed, **size_kwargs)
