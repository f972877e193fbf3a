"""The common API of the built-in datasets: ``load(split, seed)`` by name, and bad input."""

import importlib

import numpy as np
import pytest

from rnnkit.data import builtin


def _same(a, b):
    if isinstance(a, np.ndarray):
        return np.array_equal(a, b)
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


@pytest.mark.parametrize(
    ("name", "package"),
    [
        ("sentiment", "sentiment"),
        ("tagging", "tagging"),
        ("translation", "translation"),
        ("captioning", "captioning"),
        ("forecasting", "forecasting"),
        ("language_model", "language_modeling"),
    ],
)
def test_load_by_name_is_the_task_package_builtin_load(name, package):
    module = importlib.import_module(f"rnnkit.data.{package}.builtin")
    assert _same(builtin.load(name, "val", seed=2), module.load("val", seed=2))


def test_every_task_package_has_a_builtin_dataset():
    assert tuple(builtin.PACKAGES) == builtin.DATASETS


@pytest.mark.parametrize("name", builtin.DATASETS)
@pytest.mark.parametrize("split", ["", "Train", "validation", None])
def test_every_dataset_names_a_bad_split(name, split):
    with pytest.raises(ValueError, match="split"):
        builtin.load(name, split)


def test_unknown_dataset_is_named():
    with pytest.raises(ValueError, match="name"):
        builtin.load("imagenet", "train")
