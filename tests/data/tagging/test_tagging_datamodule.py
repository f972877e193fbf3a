"""TaggingDataModule: fitted on train only, JSON artifacts, padded batches, scheme conversion."""

from __future__ import annotations

import json

import pytest
import torch

from rnnkit.data.io.vocabulary import UNK
from rnnkit.data.tagging.builtin import BuiltinTaggingDataModule
from rnnkit.data.tagging.datamodule import PADDING_TAG, TaggingDataModule

SPLITS = {
    "train": [
        {"tokens": ["Anna", "Paris", "left", "."], "tags": ["I-PER", "I-PER", "O", "O"]},
        {"tokens": ["Paris", "University", "won"], "tags": ["I-ORG", "I-ORG", "O"]},
        {"tokens": ["we", "left", "Rome"], "tags": ["O", "O", "I-LOC"]},
    ],
    "val": [{"tokens": ["Tom", "left", "Paris"], "tags": ["I-PER", "O", "I-LOC"]}],
    "test": [{"tokens": ["Paris", "."], "tags": ["I-LOC", "O"]}],
}


class InMemoryTagging(TaggingDataModule):
    """The smallest concrete subclass: splits from a dict."""

    def __init__(self, splits=None, **kwargs):
        super().__init__(**kwargs)
        self.splits = SPLITS if splits is None else splits

    def load_split(self, split):
        return self.splits[split]


def test_fits_vocabulary_and_tags_on_train_only():
    data = InMemoryTagging(tag_scheme="BIO", source_tag_scheme="IOB1", lowercase=True)
    data.setup()
    assert "tom" not in data.vocab and "paris" in data.vocab  # "tom" is only in val
    assert data.tags[0] == "O"
    assert data.tags == ["O", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-PER", "I-PER"]
    with pytest.raises(ValueError, match="'B-MISC' in the data is not one of the training tags"):
        data.encode({"tokens": ["Dutch"], "tags": ["I-MISC"]})  # MISC never occurs in train


DIGIT_SPLITS = {
    "train": [{"tokens": ["In", "1996", "Paris", "won", "3-1"], "tags": ["O"] * 5}],
    "val": [{"tokens": ["In", "2001", "."], "tags": ["O"] * 3}],
    "test": [{"tokens": ["In", "1996"], "tags": ["O", "O"]}],
}


def test_normalize_digits_looks_every_number_up_as_zeros():
    data = InMemoryTagging(DIGIT_SPLITS, normalize_digits=True, lowercase=True)
    data.setup()
    assert "0000" in data.vocab and "0-0" in data.vocab and "1996" not in data.vocab
    seen, unseen = data.encode({"tokens": ["1996"]}), data.encode({"tokens": ["2001"]})
    assert list(seen["tokens"]) == list(unseen["tokens"]) != [data.vocab.id(UNK)]
    assert data.collate([unseen])["words"] == [["2001"]]  # displayed as written
    plain_data = InMemoryTagging(DIGIT_SPLITS, lowercase=True)
    plain_data.setup()
    assert list(plain_data.encode({"tokens": ["2001"]})["tokens"]) == [plain_data.vocab.id(UNK)]


@pytest.mark.parametrize("name", ["lowercase", "normalize_digits"])
def test_word_normalisation_switches_must_be_booleans(name):
    with pytest.raises(ValueError, match=f"{name}: expected true or false, got 'yes'"):
        InMemoryTagging(**{name: "yes"})


def plain(encoded: dict) -> dict:
    """An encoded example with its numpy fields as lists, for comparison."""
    return {key: list(value) for key, value in encoded.items()}


@pytest.mark.parametrize(
    ("scheme", "expected"),
    [
        ("BIO", ["B-PER", "I-PER", "O", "O"]),
        ("BIOES", ["B-PER", "E-PER", "O", "O"]),
        ("IOB1", ["I-PER", "I-PER", "O", "O"]),
    ],
)
def test_tags_are_converted_to_the_model_scheme(scheme, expected):
    data = InMemoryTagging(tag_scheme=scheme, source_tag_scheme="IOB1")
    data.fit_artifacts(SPLITS["train"])
    encoded = data.encode(SPLITS["train"][0])
    assert [data.tags[i] for i in encoded["tags"]] == expected
    words = data.collate([encoded])["words"]
    assert words == [["Anna", "Paris", "left", "."]]  # display keeps the original words


def test_artifacts_round_trip_through_json():
    data = InMemoryTagging(tag_scheme="BIOES", source_tag_scheme="IOB1", lowercase=True)
    data.setup()
    restored = InMemoryTagging(tag_scheme="BIOES", source_tag_scheme="IOB1", lowercase=True)
    restored.restore(json.loads(json.dumps(data.artifacts())))
    example = {"tokens": ["ANNA", "unseen", "left"], "tags": None}
    assert plain(restored.encode(example)) == plain(data.encode(example))
    assert restored.spec == data.spec
    with pytest.raises(ValueError, match="tag_scheme: the fitted tags are in 'BIOES'"):
        InMemoryTagging(tag_scheme="BIO", source_tag_scheme="IOB1").restore(data.artifacts())


def test_batches_are_padded_with_minus_100():
    data = InMemoryTagging(tag_scheme="BIO", source_tag_scheme="IOB1", batch_size=3)
    data.setup()
    batch = data.collate(data.datasets["train"])
    assert batch["tokens"].shape == batch["tags"].shape == (3, 4)
    assert batch["lengths"].tolist() == [4, 3, 3]
    assert batch["tags"][2, 3:].tolist() == [PADDING_TAG]
    assert batch["tokens"][2, 3:].tolist() == [0]
    assert batch["words"][1] == ["Paris", "University", "won"]
    assert batch["tags"].dtype == torch.long


def test_raw_input_is_a_sentence_or_a_file(tmp_path):
    data = InMemoryTagging(tag_scheme="BIO", source_tag_scheme="IOB1")
    data.setup()
    batch = data.batch_from_raw("Anna left Paris .")
    assert "tags" not in batch and batch["words"] == [["Anna", "left", "Paris", "."]]
    path = tmp_path / "sentences.txt"
    path.write_text("we left\n\nAnna won .\n", encoding="utf-8")
    assert data.batch_from_raw(str(path))["lengths"].tolist() == [2, 3]
    with pytest.raises(ValueError, match="input: expected a sentence"):
        data.parse_raw("   ")


def test_raw_text_is_split_into_words_as_the_corpus_was_tokenised():
    data = InMemoryTagging(tag_scheme="BIO", source_tag_scheme="IOB1")
    data.setup()
    assert data.batch_from_raw("Anna left Paris.")["words"] == [["Anna", "left", "Paris", "."]]
    assert data.parse_raw('Anna\'s "team", won')[0]["tokens"] == (
        ["Anna", "'s", '"', "team", '"', ",", "won"]
    )
    spaces = InMemoryTagging(tag_scheme="BIO", source_tag_scheme="IOB1", tokenizer="whitespace")
    assert spaces.parse_raw("Anna left Paris.")[0]["tokens"] == ["Anna", "left", "Paris."]
    with pytest.raises(ValueError, match="tokenizer: expected one of"):
        InMemoryTagging(tokenizer="spacy")


@pytest.mark.parametrize(
    ("kwargs", "example", "message"),
    [
        ({}, {"tokens": ["a", "b"], "tags": ["O"]}, "tags: expected one tag per token"),
        ({}, {"tokens": [], "tags": []}, "tokens: expected a non-empty list"),
        ({"tag_scheme": "BIO"}, {"tokens": ["a"], "tags": ["S-PER"]}, "'S-PER' is not a BIO"),
    ],
)
def test_bad_examples_are_named(kwargs, example, message):
    data = InMemoryTagging(**kwargs)
    with pytest.raises(ValueError, match=message):
        data.fit_artifacts([example])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tag_scheme": "BILOU"}, "tag_scheme: expected one of"),
        ({"tag_scheme": "BIO", "source_tag_scheme": "none"}, "tag_scheme: 'BIO' needs entity"),
        ({"batch_size": 0}, "batch_size: expected a positive integer"),
    ],
)
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        InMemoryTagging(**kwargs)


SMALL = {"num_train": 60, "num_val": 20, "num_test": 20}


@pytest.mark.parametrize(
    ("tagset", "tag_scheme", "prefixes"),
    [
        ("ner", None, {"O", "B", "I"}),
        ("ner", "BIOES", {"O", "B", "I", "E", "S"}),
        ("pos", None, None),
    ],
)
def test_builtin_tagsets(tagset, tag_scheme, prefixes):
    data = BuiltinTaggingDataModule(tagset=tagset, tag_scheme=tag_scheme, **SMALL)
    data.setup()
    assert data.spec["num_tags"] == len(data.tags)
    if prefixes is None:
        assert data.tag_scheme == "none" and "NOUN" in data.tags
    else:
        assert {tag.partition("-")[0] for tag in data.tags} == prefixes


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tagset": "chunks"}, "tagset: expected one of"),
        ({"tagset": "pos", "tag_scheme": "BIO"}, "tag_scheme: 'BIO' needs entity tags"),
        ({"source_tag_scheme": "IOB1"}, "source_tag_scheme: fixed by tagset"),
    ],
)
def test_builtin_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        BuiltinTaggingDataModule(**kwargs)
