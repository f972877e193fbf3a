"""A split's field as flat arrays (what baselines fit on), and the base class's once-fitted
baseline."""

from __future__ import annotations

import numpy as np
import pytest
from torch.utils.data import Subset

from rnnkit.data.io.prepared_cache import PreparedCache
from rnnkit.data.io.split_arrays import example_index, field_arrays
from rnnkit.data.tagging.builtin import BuiltinTaggingDataModule

EXAMPLES = [
    {"tokens": np.array([3, 4, 5], dtype=np.uint16), "label": 1},
    {"tokens": np.array([], dtype=np.uint16), "label": 0},
    {"tokens": np.array([7], dtype=np.uint16), "label": 1},
]
FIELDS = {"tokens": (np.uint16, True), "label": (np.int64, False)}


def test_examples_in_memory_and_prepared_give_the_same_arrays(tmp_path):
    cache = PreparedCache(tmp_path, "toy", "0")
    with cache.writing() as writer:
        writer.split("train", FIELDS).write_examples(EXAMPLES)
        writer.finish({})
    for split in (EXAMPLES, cache.splits()["train"]):
        tokens, offsets = field_arrays(split, "tokens")
        assert tokens.tolist() == [3, 4, 5, 7] and offsets.tolist() == [0, 3, 3, 4]
        labels, label_offsets = field_arrays(split, "label", ragged=False)
        assert labels.tolist() == [1, 0, 1] and label_offsets.tolist() == [0, 1, 2, 3]
    assert example_index(offsets).tolist() == [0, 0, 0, 2]
    subset = Subset(cache.splits()["train"], [2, 0])  # some examples, in the subset's order
    tokens, offsets = field_arrays(subset, "tokens")
    assert tokens.tolist() == [7, 3, 4, 5] and offsets.tolist() == [0, 1, 4]
    with pytest.raises(ValueError, match="one value per example"):
        field_arrays(EXAMPLES, "tokens", ragged=False)


def test_a_baseline_is_fitted_once_after_set_up_only():
    datamodule = BuiltinTaggingDataModule(batch_size=8)
    calls = []

    def fit(train):
        calls.append(len(train))
        return None  # nothing to fit: not tried again

    assert datamodule.fitted_baseline("toy", fit) is None and calls == []  # before set-up
    datamodule.setup("fit")
    assert datamodule.fitted_baseline("toy", fit) is None
    assert datamodule.fitted_baseline("toy", fit) is None
    assert calls == [len(datamodule.datasets["train"])]


def test_a_baseline_fits_on_an_even_sample_of_a_large_training_split():
    datamodule = BuiltinTaggingDataModule(batch_size=8)
    datamodule.setup("fit")
    train = datamodule.datasets["train"]
    seen = []

    def fit(split):
        seen.append(split)
        return "fitted"

    assert datamodule.fitted_baseline("sampled", fit, max_examples=10) == "fitted"
    (sample,) = seen
    assert isinstance(sample, Subset) and sample.dataset is train and len(sample) == 10
    step = len(train) / 10  # spread over the whole split, the first example included
    assert sample.indices == [int(i * step) for i in range(10)]
    assert datamodule.fitted_baseline("whole", seen.append, max_examples=len(train)) is None
    assert seen[-1] is train  # a split no larger than the cap is used whole
