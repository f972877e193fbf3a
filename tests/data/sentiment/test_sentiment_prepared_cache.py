"""Sentiment data prepared once: cached splits, what rebuilds them, equal batches, counts."""

from __future__ import annotations

import gc
import json
import types
import warnings

import numpy as np
import pytest
import torch

from rnnkit.data.io.prepared_cache import MappedSplit, to_columns
from rnnkit.data.io.reading import BadLineWarning, split_off
from rnnkit.data.sentiment.builtin import BuiltinSentimentDataModule
from rnnkit.data.sentiment.imdb import IMDBDataModule
from rnnkit.data.sentiment.sst2 import SST2DataModule
from rnnkit.data.sentiment.text_table import TextTableDataModule

TRAIN = [
    ("A fine , moving film", "1"),
    ("dull and slow", "0"),
    ("a joy to watch , really", "1"),
    ("not worth it", "0"),
    ("moving and fine", "1"),
    ("slow , dull and long", "0"),
]
DEV = [("fine film", "1"), ("slow and dull", "0"), ("unseenword film zzz", "1")]
TEST = [("worth it", "1"), ("dull", "0")]


def write_sst2(folder, train=TRAIN):
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in {"train.tsv": train, "dev.tsv": DEV, "test_labeled.tsv": TEST}.items():
        lines = "".join(f"{text} \t{label}\n" for text, label in rows)
        (folder / name).write_text("sentence\tlabel\n" + lines, encoding="utf-8")
    return folder


class Reads:
    """Counts the splits a datamodule class reads from its files."""

    def __init__(self, monkeypatch, cls):
        self.splits: list[str] = []
        self.mapping = False
        original_load, original_map = cls.load_split, cls.map_split

        def counted_load(module, split):
            if not self.mapping:
                self.splits.append(split)
            return original_load(module, split)

        def counted_map(module, split, function, workers):
            # Preparation reads a split through map_split, which may or may not use load_split.
            self.splits.append(split)
            self.mapping = True
            try:
                return original_map(module, split, function, workers)
            finally:
                self.mapping = False

        monkeypatch.setattr(cls, "load_split", counted_load)
        monkeypatch.setattr(cls, "map_split", counted_map)


def refuse(*args, **kwargs):
    raise AssertionError("read a file")


def all_batches(datamodule):
    return {
        split: list(loader())
        for split, loader in {
            "train": datamodule.train_dataloader,
            "val": datamodule.val_dataloader,
            "test": datamodule.test_dataloader,
        }.items()
    }


def assert_same_batches(first, second):
    assert first.keys() == second.keys()
    for split in first:
        assert len(first[split]) == len(second[split]), split
        for a, b in zip(first[split], second[split]):
            assert a.keys() == b.keys()
            for key in a:
                torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)


def test_a_second_setup_maps_the_cache_and_reads_no_file(tmp_path, monkeypatch):
    folder = write_sst2(tmp_path / "sst2")
    first = SST2DataModule(path=str(folder), cache_dir=tmp_path / "prepared", batch_size=2)
    first.setup("fit")
    reads = Reads(monkeypatch, SST2DataModule)
    monkeypatch.setattr(TextTableDataModule, "read_table", refuse)
    second = SST2DataModule(path=str(folder), cache_dir=tmp_path / "prepared", batch_size=2)
    second.setup("fit")
    assert reads.splits == []
    assert all(isinstance(second.datasets[s], MappedSplit) for s in ("train", "val", "test"))
    assert second.spec == first.spec and second.artifacts() == first.artifacts()
    item = second.datasets["train"][0]
    assert item["tokens"].dtype == np.uint8 and item["label"] == 1  # 18 entries: uint8
    assert " ".join(second.vocab.tokens[i] for i in item["tokens"]) == "a fine , moving film"
    assert_same_batches(all_batches(first), all_batches(second))


def test_lightning_prepare_data_after_setup_and_a_trainer_keep_the_same_cache(
    tmp_path, monkeypatch
):
    folder = write_sst2(tmp_path / "sst2")
    reads = Reads(monkeypatch, SST2DataModule)
    datamodule = SST2DataModule(path=str(folder), cache_dir=tmp_path / "prepared")
    datamodule.setup("fit")
    prepared = len(reads.splits)
    datamodule.trainer = types.SimpleNamespace(global_rank=0, world_size=1)
    datamodule.prepare_data()  # what Trainer.fit calls after cli/train.py's setup
    assert len(reads.splits) == prepared == 4  # fit on train, then encode the three splits
    assert len(list((tmp_path / "prepared").iterdir())) == 1


@pytest.mark.parametrize(
    "change",
    [
        {"lowercase": False},
        {"min_frequency": 2},
        {"max_vocab_size": 5},
        {"on_bad_line": "skip"},
        {"rebuild_cache": True},
    ],
)
def test_a_changed_setting_or_rebuild_cache_prepares_again(tmp_path, monkeypatch, change):
    folder = write_sst2(tmp_path / "sst2")
    SST2DataModule(path=str(folder), cache_dir=tmp_path / "prepared").setup()
    reads = Reads(monkeypatch, SST2DataModule)
    again = SST2DataModule(path=str(folder), cache_dir=tmp_path / "prepared", **change)
    again.setup()
    assert reads.splits == ["train", "train", "val", "test"]
    assert len(list((tmp_path / "prepared").iterdir())) == (1 if "rebuild_cache" in change else 2)


@pytest.mark.parametrize("change", [{"batch_size": 3}, {"seed": 7}, {"num_workers": 1}])
def test_loading_settings_reuse_the_cache(tmp_path, monkeypatch, change):
    folder = write_sst2(tmp_path / "sst2")
    SST2DataModule(path=str(folder), cache_dir=tmp_path / "prepared").setup()
    reads = Reads(monkeypatch, SST2DataModule)
    SST2DataModule(path=str(folder), cache_dir=tmp_path / "prepared", **change).setup()
    assert reads.splits == []


def test_a_changed_file_prepares_again(tmp_path, monkeypatch):
    folder = write_sst2(tmp_path / "sst2")
    first = SST2DataModule(path=str(folder), cache_dir=tmp_path / "prepared")
    first.setup()
    write_sst2(folder, TRAIN + [("brandnew words", "1")])
    reads = Reads(monkeypatch, SST2DataModule)
    second = SST2DataModule(path=str(folder), cache_dir=tmp_path / "prepared")
    second.setup()
    assert reads.splits == ["train", "train", "val", "test"]
    assert "brandnew" in second.vocab and "brandnew" not in first.vocab
    assert len(second.datasets["train"]) == len(TRAIN) + 1


@pytest.mark.parametrize("workers", [0, 2])
def test_cached_batches_equal_in_memory_batches(tmp_path, workers):
    folder = write_sst2(tmp_path / "sst2")
    options = {"path": str(folder), "batch_size": 2, "seed": 3}
    in_memory = SST2DataModule(**options)
    in_memory.setup()
    assert isinstance(in_memory.datasets["train"], list)
    cached = SST2DataModule(**options, cache_dir=tmp_path / "prepared", prepare_workers=workers)
    cached.setup()
    assert isinstance(cached.datasets["train"], MappedSplit)
    assert cached.spec == in_memory.spec
    assert cached.vocab.tokens == in_memory.vocab.tokens  # counted here, or in 2 processes
    assert_same_batches(all_batches(in_memory), all_batches(cached))


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_a_carved_validation_split_is_split_offs_and_the_same_cached(tmp_path, fmt):
    rows = [
        (f"film number {i} was {'good' if i % 3 else 'bad'}", str(i % 3 > 0)) for i in range(30)
    ]
    path = tmp_path / f"reviews.{fmt}"
    if fmt == "csv":
        path.write_text("text,label\n" + "".join(f"{t},{y}\n" for t, y in rows))
    else:
        path.write_text("".join(json.dumps({"text": t, "label": y}) + "\n" for t, y in rows))
    options = {"train_file": str(path), "val_ratio": 0.2, "split_seed": 4, "batch_size": 4}
    in_memory = TextTableDataModule(**options)
    in_memory.setup()
    examples = [{"text": t, "label": y} for t, y in rows]
    expected = split_off(examples, 0.2, 4, lambda e: e["label"])[1]  # what the lists gave
    assert [e["text"] for e in in_memory.load_split("val")] == [e["text"] for e in expected]
    assert len(in_memory.datasets["val"]) == 6 and len(in_memory.datasets["train"]) == 24
    cached = TextTableDataModule(**options, cache_dir=tmp_path / "prepared")
    cached.setup()
    assert_same_batches(all_batches(in_memory), all_batches(cached))


@pytest.mark.parametrize("lowercase", [True, False])
def test_a_chunk_is_encoded_as_its_examples_one_by_one(tmp_path, lowercase):
    datamodule = SST2DataModule(path=str(write_sst2(tmp_path / "sst2")), lowercase=lowercase)
    datamodule.setup()
    examples = [
        {"text": "A  fine\tFilm , really zzz", "label": "positive"},
        {"text": "dull", "label": None},
        {"text": "Slow and UNSEEN", "label": "negative"},
    ]
    columns, count, counts = datamodule.encode_chunk(examples)
    one_by_one = [datamodule.encode(example) for example in examples]
    expected = to_columns(one_by_one, datamodule.encoded_fields())
    assert count == 3 and columns.keys() == expected.keys()
    for field, (values, lengths) in expected.items():
        np.testing.assert_array_equal(columns[field][0], values)
        assert columns[field][0].dtype == values.dtype
        np.testing.assert_array_equal(columns[field][1], lengths)
    unknown = sum(token == 1 for e in one_by_one for token in e["tokens"])
    assert counts == {"tokens": 10, "unknown_tokens": unknown} and unknown >= 2
    with pytest.raises(ValueError, match="empty sentence in x.tsv, line 4"):
        datamodule.encode_chunk(
            [examples[0], {"text": " ", "label": None, "source": "x.tsv, line 4"}]
        )


def test_unknown_tokens_are_counted_per_split(tmp_path):
    folder = write_sst2(tmp_path / "sst2")
    datamodule = SST2DataModule(path=str(folder), cache_dir=tmp_path / "prepared")
    datamodule.setup()
    counts = datamodule.preparation["counts"]
    # dev: "fine film" / "slow and dull" / "unseenword film zzz": 8 tokens, 2 unknown;
    # test: "worth it" / "dull": 3 tokens, none unknown (every word is in train).
    assert (counts["val_tokens"], counts["val_unknown_tokens"]) == (8, 2)
    assert (counts["test_tokens"], counts["test_unknown_tokens"]) == (3, 0)
    assert (counts["train_tokens"], counts["train_unknown_tokens"]) == (25, 0)
    assert datamodule.summary()["val_unknown_tokens"] == 2
    again = SST2DataModule(path=str(folder), cache_dir=tmp_path / "prepared")
    again.setup()
    assert again.preparation["counts"] == counts  # read back from the cache


def test_the_vocabulary_is_capped_by_default_and_when_asked(tmp_path):
    assert SST2DataModule(path="x").max_vocab_size == 50_000
    folder = write_sst2(tmp_path / "sst2")
    datamodule = SST2DataModule(path=str(folder), cache_dir=tmp_path / "prepared", max_vocab_size=5)
    datamodule.setup()
    # train: "," and "and" x3; "a", "dull", "fine", "moving", "slow" x2; the rest once: the
    # three most frequent after the specials, ties broken alphabetically.
    assert datamodule.vocab.tokens == ["<pad>", "<unk>", ",", "and", "a"]
    counts = datamodule.preparation["counts"]
    assert counts["train_tokens"] == 25 and counts["train_unknown_tokens"] == 25 - 3 - 3 - 2
    with pytest.raises(ValueError, match="^max_vocab_size: expected an integer >= 3"):
        SST2DataModule(path="x", max_vocab_size=2)


def test_a_skipped_bad_line_warns_once_though_the_file_is_read_twice(tmp_path):
    folder = write_sst2(tmp_path / "sst2")
    train = folder / "train.tsv"
    train.write_text(train.read_text() + "a row with\ttoo many\tcolumns\n")
    datamodule = SST2DataModule(
        path=str(folder), cache_dir=tmp_path / "prepared", on_bad_line="skip"
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        datamodule.setup()
    messages = [str(w.message) for w in caught if issubclass(w.category, BadLineWarning)]
    assert len(messages) == 1 and "line 8: expected 2 tab-separated columns" in messages[0]
    assert len(datamodule.datasets["train"]) == len(TRAIN)


def test_imdb_reviews_are_prepared_once(tmp_path, monkeypatch):
    for split in ("train", "test"):
        for label in ("pos", "neg"):
            (tmp_path / "aclImdb" / split / label).mkdir(parents=True)
            for i in range(4):
                text = f"{'Great' if label == 'pos' else 'Awful'} film<br />number {i}!"
                (tmp_path / "aclImdb" / split / label / f"{i}_5.txt").write_text(text)
    options = {"path": str(tmp_path), "val_ratio": 0.25, "batch_size": 3}
    in_memory = IMDBDataModule(**options)
    in_memory.setup()
    cached = IMDBDataModule(**options, cache_dir=tmp_path / "prepared")
    cached.setup()
    assert {s: len(d) for s, d in cached.datasets.items()} == {"train": 6, "val": 2, "test": 8}
    assert_same_batches(all_batches(in_memory), all_batches(cached))
    monkeypatch.setattr(IMDBDataModule, "_read_review", refuse)
    again = IMDBDataModule(**options, cache_dir=tmp_path / "prepared")
    again.setup()
    assert_same_batches(all_batches(cached), all_batches(again))
    review = tmp_path / "aclImdb" / "train" / "neg" / "2_5.txt"
    review.write_text(review.read_text() + " Edited.")
    with pytest.raises(AssertionError, match="read a file"):  # an edited review: read again
        IMDBDataModule(**options, cache_dir=tmp_path / "prepared").setup()
    monkeypatch.undo()
    IMDBDataModule(**options, cache_dir=tmp_path / "prepared").setup()
    monkeypatch.setattr(IMDBDataModule, "_read_review", refuse)
    IMDBDataModule(**options, cache_dir=tmp_path / "prepared").setup()  # the edit is cached
    (tmp_path / "aclImdb" / "test" / "pos" / "9_9.txt").write_text("A new review.")
    with pytest.raises(AssertionError, match="read a file"):  # a new review: read again
        IMDBDataModule(**options, cache_dir=tmp_path / "prepared").setup()


def test_built_in_data_stays_in_memory_even_with_a_cache_dir(tmp_path):
    datamodule = BuiltinSentimentDataModule(cache_dir=tmp_path / "prepared", batch_size=4)
    datamodule.setup()
    assert isinstance(datamodule.datasets["train"], list)
    assert not (tmp_path / "prepared").exists()
    example = datamodule.datasets["train"][0]
    assert set(example) == {"tokens", "label"} and isinstance(example["tokens"], list)
    batch = datamodule.batch_from_raw("the film was good")
    assert batch["labels"].tolist() == [-1] and batch["tokens"].shape == (1, 4)


def test_preparation_leaves_the_objects_alive_before_it_out_of_full_collections(
    tmp_path, monkeypatch
):
    frozen = []
    fit = SST2DataModule.fit_prepared

    def fit_noting_the_freeze(module, workers):
        frozen.append(gc.get_freeze_count())
        return fit(module, workers)

    monkeypatch.setattr(SST2DataModule, "fit_prepared", fit_noting_the_freeze)
    folder = write_sst2(tmp_path / "sst2")
    SST2DataModule(path=str(folder), cache_dir=tmp_path / "prepared").setup()
    assert frozen[0] > 10_000 and gc.get_freeze_count() == 0  # frozen while preparing only
