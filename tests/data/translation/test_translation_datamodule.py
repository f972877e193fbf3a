"""TranslationDataModule: vocabularies fitted on train, JSON artifacts, batch layout, raw input."""

from __future__ import annotations

import json

import pytest
import torch

from rnnkit.data.io.vocabulary import BOS, EOS, UNK
from rnnkit.data.translation.builtin import BuiltinTranslationDataModule
from rnnkit.data.translation.datamodule import TranslationDataModule

SPLITS = {
    "train": [
        {"source": "the cat sleeps", "target": "die katze schläft"},
        {"source": ["a", "dog"], "target": ["ein", "hund"]},
        {"source": "the dog", "target": "der hund"},
    ],
    "val": [{"source": "a bird", "target": "ein vogel"}],
    "test": [{"source": "the cat", "target": "die katze"}],
}


class InMemoryTranslation(TranslationDataModule):
    def __init__(self, splits=None, **kwargs):
        super().__init__(**kwargs)
        self.splits = SPLITS if splits is None else splits

    def load_split(self, split):
        return self.splits[split]


def test_vocabularies_are_separate_and_fitted_on_train_only():
    data = InMemoryTranslation()
    data.setup()
    assert "bird" not in data.source_vocab and "vogel" not in data.target_vocab  # val only
    assert "katze" in data.target_vocab and "katze" not in data.source_vocab
    assert BOS in data.target_vocab and EOS in data.target_vocab and BOS not in data.source_vocab
    assert data.encode(SPLITS["val"][0])["target"][-1] == data.target_vocab.id(UNK)


def test_batch_layout_shifts_the_target_by_bos_and_eos():
    data = InMemoryTranslation()
    data.setup()
    batch = data.collate(data.datasets["train"])
    bos, eos = data.spec["bos_index"], data.spec["eos_index"]
    assert batch["source"].shape == (3, 3) and batch["source_lengths"].tolist() == [3, 2, 2]
    assert batch["target_lengths"].tolist() == [4, 3, 3]
    assert batch["target_input"][:, 0].tolist() == [bos] * 3
    for row, length in enumerate(batch["target_lengths"].tolist()):
        target_input, target_output = batch["target_input"][row], batch["target_output"][row]
        assert target_output[length - 1] == eos and (target_output[length:] == 0).all()
        assert torch.equal(target_input[1:length], target_output[: length - 1])
    assert batch["target_tokens"][0] == ["die", "katze", "schläft"]


def test_artifacts_round_trip_through_json():
    data = InMemoryTranslation(target_tokenizer="character")
    data.setup()
    restored = InMemoryTranslation(target_tokenizer="character")
    restored.restore(json.loads(json.dumps(data.artifacts())))
    assert restored.encode(SPLITS["test"][0]) == data.encode(SPLITS["test"][0])
    assert restored.spec == data.spec
    with pytest.raises(ValueError, match="tokenizer: the fitted tokenizer is 'character'"):
        InMemoryTranslation().restore(data.artifacts())


def test_length_limits_drop_long_training_examples_only():
    data = InMemoryTranslation(max_source_length=2)
    data.setup()
    assert len(data.datasets["train"]) == 2 and "cat" not in data.source_vocab
    assert len(data.datasets["test"]) == 1


def test_raw_input_has_no_target(tmp_path):
    data = InMemoryTranslation()
    data.setup()
    batch = data.batch_from_raw("the dog sleeps")
    assert "target_input" not in batch and batch["source_tokens"] == [["the", "dog", "sleeps"]]
    path = tmp_path / "input.txt"
    path.write_text("the cat\n\na dog\n", encoding="utf-8")
    assert data.batch_from_raw(str(path))["source_lengths"].tolist() == [2, 2]


@pytest.mark.parametrize(
    ("splits", "message"),
    [
        ({"train": [{"source": "a", "target": None}]}, "target: missing in a training example"),
        ({"train": [{"source": "", "target": "b"}]}, "source: empty source sentence"),
        ({"train": [{"source": 3, "target": "b"}]}, "source: expected a string or a list"),
        ({"train": []}, "train: expected at least one training example"),
    ],
)
def test_bad_examples_are_named(splits, message):
    with pytest.raises(ValueError, match=message):
        InMemoryTranslation(splits).fit_artifacts(splits["train"])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"source_tokenizer": "bpe"}, "source_tokenizer: expected one of"),
        ({"max_target_length": 0}, "max_target_length: expected a positive integer"),
    ],
)
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        InMemoryTranslation(**kwargs)


@pytest.fixture(scope="module")
def numbers():
    data = BuiltinTranslationDataModule(max_number=400, num_val=50, num_test=50)
    data.setup()
    return data


def test_builtin_data_is_english_to_german_morphemes(numbers):
    assert len(numbers.datasets["train"]) == 301
    assert "thousand" not in numbers.source_vocab  # only 0..400 here
    assert {"vier", "und", "dreißig"} <= set(numbers.target_vocab.tokens)


@pytest.mark.parametrize(
    ("raw", "tokens"),
    [
        ("34", ["thirty", "-", "four"]),
        ("Two hundred and thirty-four", ["two", "hundred", "and", "thirty", "-", "four"]),
    ],
)
def test_builtin_raw_input_is_digits_or_english_words(numbers, raw, tokens):
    assert numbers.batch_from_raw(raw)["source_tokens"] == [tokens]


def test_builtin_raw_input_out_of_range_is_named(numbers):
    with pytest.raises(ValueError, match="number: expected an integer in"):
        numbers.batch_from_raw("123456789")
