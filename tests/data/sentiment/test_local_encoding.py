"""Texts encoded against their own words, spilled, and remapped once the vocabulary is known:
the oracle is splitting each text and looking each token up (collections.Counter for counts)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from rnnkit.data.sentiment import datamodule as sentiment_datamodule
from rnnkit.data.sentiment.local_encoding import (
    BOUNDARY,
    SpilledChunks,
    encode_locally,
)
from rnnkit.data.sentiment.sst2 import SST2DataModule

TEXTS = ["A fine film", "fine", "   ", "a Dull, dull FILM", f"odd{BOUNDARY}word a", "x"]
LABELS = ["1", "0", "1", "0", "1", None]


@pytest.mark.parametrize("lowercase", [True, False])
@pytest.mark.parametrize("texts", [TEXTS, [t for t in TEXTS if BOUNDARY not in t], ["one"], []])
def test_local_ids_counts_and_lengths_are_those_of_splitting_each_text(texts, lowercase):
    labels = LABELS[: len(texts)]
    encoded = encode_locally(texts, labels, lowercase)
    split = [(t.lower() if lowercase else t).split() for t in texts]
    tokens = [token for words in split for token in words]
    assert encoded.lengths.tolist() == [len(words) for words in split]
    assert [encoded.words[i] for i in encoded.ids.tolist()] == tokens
    assert dict(zip(encoded.words, encoded.counts.tolist(), strict=True)) == Counter(tokens)
    assert encoded.words == list(dict.fromkeys(tokens))  # order of first appearance
    assert [encoded.labels[i] for i in encoded.label_codes.tolist()] == labels
    assert encoded.ids.dtype == np.uint32 and encoded.lengths.dtype == np.int64


def test_remap_looks_each_word_up_once_and_names_the_first_unknown():
    encoded = encode_locally(["b a zz", "a yy"], ["p", "n"], lowercase=False)
    lookup = sentiment_datamodule._TokenIds({"a": 5, "b": 7})
    ids, unknown = encoded.remap(lookup)
    assert ids.tolist() == [7, 5, -1, 5, -1] and unknown == "zz"
    assert (
        encoded.remap(sentiment_datamodule._TokenIds({"a": 1, "b": 2, "zz": 3, "yy": 4}))[1] is None
    )


def test_spilled_chunks_come_back_in_order_and_the_file_is_closed(tmp_path):
    spilled = SpilledChunks(tmp_path / "spill")
    chunks = [encode_locally([f"w{i} a", "b"], ["p", "n"], True) for i in range(5)]
    for chunk in chunks:
        spilled.add(chunk)
    back = list(spilled.replay())
    assert [c.words for c in back] == [c.words for c in chunks]
    assert all((b.ids == c.ids).all() for b, c in zip(back, chunks, strict=True))
    assert spilled._file.closed and list((tmp_path / "spill").iterdir()) == []  # anonymous


def test_the_training_file_is_split_once_when_preparing(tmp_path, monkeypatch):
    folder = tmp_path / "sst2"
    folder.mkdir()
    rows = "".join(f"{'good' if i % 2 else 'bad'} film {i}\t{i % 2}\n" for i in range(50))
    for name in ("train.tsv", "dev.tsv", "test_labeled.tsv"):
        (folder / name).write_text("sentence\tlabel\n" + rows)
    calls = []
    original = sentiment_datamodule.encode_locally
    monkeypatch.setattr(
        sentiment_datamodule,
        "encode_locally",
        lambda *args: calls.append(len(args[0])) or original(*args),
    )
    prepared = SST2DataModule(path=str(folder), cache_dir=tmp_path / "cache", prepare_workers=0)
    prepared.setup()
    # 50 rows in each of train, dev and test, each split once: the training rows while the
    # vocabulary is counted, and not again when the training split is written (that is 200).
    assert sum(calls) == 150
    oracle = SST2DataModule(path=str(folder))
    oracle.setup()
    for split in ("train", "val", "test"):
        got, expected = prepared.datasets[split], oracle.datasets[split]
        assert [got[i]["tokens"].tolist() for i in range(50)] == [
            list(expected[i]["tokens"]) for i in range(50)
        ]
        assert [got[i]["label"] for i in range(50)] == [expected[i]["label"] for i in range(50)]
    counts = prepared.preparation["counts"]
    assert counts["train_tokens"] == 150 and counts["train_unknown_tokens"] == 0
