"""Checkpoints written before data/ was organised by task still restore their datamodule."""

from __future__ import annotations

import importlib

import pytest

from rnnkit.cli.checkpoint import (
    MOVED_DATA_MODULES,
    current_data_target,
    restore_datamodule,
)
from rnnkit.data.datamodule import RnnkitDataModule
from rnnkit.data.sentiment.builtin import BuiltinSentimentDataModule
from rnnkit.tasks.base import CHECKPOINT_KEY

OLD_TARGET = "rnnkit.data.builtin_sentiment.BuiltinSentimentDataModule"


@pytest.mark.parametrize(("old", "new"), sorted(MOVED_DATA_MODULES.items()))
def test_every_moved_module_exists_and_holds_a_datamodule(old, new):
    module = importlib.import_module(new)
    assert any(
        isinstance(value, type) and issubclass(value, RnnkitDataModule) and value.__module__ == new
        for value in vars(module).values()
    ), f"{new} (was {old}) defines no datamodule"
    with pytest.raises(ImportError):
        importlib.import_module(old)


def test_old_targets_are_mapped_and_others_kept():
    assert current_data_target(OLD_TARGET) == (
        "rnnkit.data.sentiment.builtin.BuiltinSentimentDataModule"
    )
    kept = "rnnkit.data.sentiment.sst2.SST2DataModule"
    assert current_data_target(kept) == kept
    assert current_data_target("rnnkit.data.tagging.Foo") == "rnnkit.data.tagging.Foo"
    assert current_data_target(None) is None


def test_a_checkpoint_naming_the_old_module_restores_its_datamodule():
    data = BuiltinSentimentDataModule(batch_size=8)
    data.setup("fit")
    checkpoint = {
        "hyper_parameters": {"data": {"_target_": OLD_TARGET, "batch_size": 8}},
        CHECKPOINT_KEY: {"artifacts": data.artifacts()},
    }
    restored = restore_datamodule(checkpoint)
    assert type(restored) is BuiltinSentimentDataModule
    assert restored.artifacts() == data.artifacts()


def test_an_unknown_old_module_is_still_a_clear_error():
    checkpoint = {
        "hyper_parameters": {"data": {"_target_": "rnnkit.data.nowhere.SomeDataModule"}},
        CHECKPOINT_KEY: {"artifacts": {}},
    }
    with pytest.raises(ValueError, match=r"data._target_: cannot import 'rnnkit.data.nowhere"):
        restore_datamodule(checkpoint)
