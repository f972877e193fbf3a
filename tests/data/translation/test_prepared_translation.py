"""Translation data prepared once into the cache: read back mapped, rebuilt when files or
settings change, batches equal to the in-memory path, unknown-token counts, caps, limits."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import Subset

from rnnkit.data.io.prepared_cache import MappedSplit
from rnnkit.data.io.reading import split_off
from rnnkit.data.io.tokenizers import WordPunctTokenizer
from rnnkit.data.io.vocabulary import DEFAULT_MAX_SIZE, UNK, Vocabulary
from rnnkit.data.translation.datamodule import TranslationDataModule
from rnnkit.data.translation.encoding import SideEncoder, count_tokens
from rnnkit.data.translation.parallel_text import (
    LengthBucketSampler,
    ParallelTextDataModule,
    read_parallel_files,
)
from rnnkit.data.translation.tatoeba import TatoebaDataModule

TRAIN = [
    ("ein mann schläft .", "a man sleeps ."),
    ("ein hund läuft .", "a dog runs ."),
    ("zwei männer laufen schnell .", "two men run fast ."),
    ("ein mann läuft .", "a man runs ."),
    ("ein kleiner hund schläft im gras .", "a small dog sleeps in the grass ."),
    ("der mann und der hund .", "the man and the dog ."),
]
VAL = [("ein vogel singt .", "a bird sings ."), ("ein mann singt .", "a man sings .")]
TEST = [("zwei hunde schlafen .", "two dogs sleep ."), ("ein <unk> mann .", "a <unk> man .")]


def write_multi30k(folder: Path, train=TRAIN, val=VAL, test=TEST) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, pairs in (("train", train), ("val", val), ("test_2016_flickr", test)):
        for side, language in ((0, "de"), (1, "en")):
            text = "".join(f"{pair[side]}\n" for pair in pairs)
            (folder / f"{prefix}.{language}").write_text(text, encoding="utf-8")
    return folder


def module(folder: Path, cache: Path | None, **options) -> ParallelTextDataModule:
    return ParallelTextDataModule(
        str(folder), batch_size=3, cache_dir=None if cache is None else str(cache), **options
    )


@pytest.fixture
def counted_reads(monkeypatch):
    """How often each split was read from the files (``load_split`` calls)."""
    calls: list[str] = []
    original = ParallelTextDataModule.load_split

    def counting(self, split):
        calls.append(split)
        return original(self, split)

    monkeypatch.setattr(ParallelTextDataModule, "load_split", counting)
    return calls


def batches(loader) -> list[dict]:
    return list(loader)


def assert_same_batches(first: list[dict], second: list[dict]) -> None:
    assert len(first) == len(second)
    for a, b in zip(first, second):
        assert a.keys() == b.keys()
        for key in a:
            if isinstance(a[key], torch.Tensor):
                assert a[key].dtype == b[key].dtype and torch.equal(a[key], b[key]), key
            else:
                assert a[key] == b[key], key


def test_second_setup_reads_the_cache_not_the_files(tmp_path, counted_reads):
    folder, cache = write_multi30k(tmp_path / "data"), tmp_path / "cache"
    first = module(folder, cache)
    first.setup()
    assert counted_reads == ["train", "train", "val", "test"]  # fit, then encode each split
    assert all(isinstance(first.datasets[s], MappedSplit) for s in ("train", "val", "test"))
    counted_reads.clear()
    second = module(folder, cache)
    second.setup()
    assert counted_reads == []
    assert second.spec == first.spec and second.artifacts() == first.artifacts()
    assert second.preparation["folder"] == first.preparation["folder"]
    assert_same_batches(batches(first.val_dataloader()), batches(second.val_dataloader()))


@pytest.mark.parametrize(
    ("change", "rebuilds"),
    [
        ({"min_frequency": 2}, True),
        ({"lowercase": True}, True),
        ({"max_source_length": 4}, True),
        ({"source_tokenizer": "character"}, True),
        ({"bucket_by_length": True}, False),
        ({"seed": 7}, False),
        ({"batch_size": 5}, False),
        ({"rebuild_cache": True}, True),
    ],
)
def test_settings_that_change_the_arrays_rebuild(tmp_path, counted_reads, change, rebuilds):
    folder, cache = write_multi30k(tmp_path / "data"), tmp_path / "cache"
    module(folder, cache).setup()
    counted_reads.clear()
    options = {"batch_size": 3, **change}
    ParallelTextDataModule(str(folder), cache_dir=str(cache), **options).setup()
    assert bool(counted_reads) is rebuilds


def test_another_encoding_version_rebuilds(tmp_path, counted_reads, monkeypatch):
    folder, cache = write_multi30k(tmp_path / "data"), tmp_path / "cache"
    module(folder, cache).setup()
    counted_reads.clear()
    monkeypatch.setattr(ParallelTextDataModule, "encoding_version", 2)
    module(folder, cache).setup()
    assert counted_reads == ["train", "train", "val", "test"]


def test_a_changed_file_rebuilds(tmp_path, counted_reads):
    folder, cache = write_multi30k(tmp_path / "data"), tmp_path / "cache"
    module(folder, cache).setup()
    counted_reads.clear()
    write_multi30k(folder, test=[("ein pferd .", "a horse .")])
    changed = module(folder, cache)
    changed.setup()
    assert "train" in counted_reads
    assert changed.collate(list(changed.datasets["test"]))["target_tokens"] == [["a", "horse", "."]]


@pytest.mark.parametrize("workers", [0, 2])
@pytest.mark.parametrize("bucket_by_length", [False, True])
def test_cached_batches_equal_in_memory_batches(tmp_path, workers, bucket_by_length):
    folder = write_multi30k(tmp_path / "data")
    options = {"bucket_by_length": bucket_by_length, "prepare_workers": workers}
    cached, in_memory = module(folder, tmp_path / "cache", **options), module(folder, None)
    in_memory.bucket_by_length = bucket_by_length
    cached.setup()
    in_memory.setup()
    assert isinstance(cached.datasets["train"], MappedSplit)
    assert isinstance(in_memory.datasets["train"], list)
    assert cached.artifacts() == in_memory.artifacts()
    for loader in ("train_dataloader", "val_dataloader", "test_dataloader"):
        cached_batches = batches(getattr(cached, loader)())
        assert_same_batches(cached_batches, batches(getattr(in_memory, loader)()))
    test = batches(cached.test_dataloader())[0]
    assert test["target_tokens"] == [t.split() for _, t in TEST]  # unknown words kept
    assert test["source_tokens"] == [s.split() for s, _ in TEST]
    assert test["source_tokens"][1][1] == "<unk>"  # the literal token, encoded as <unk>
    assert cached.batch_from_raw("ein mann fliegt .")["source_tokens"] == [
        ["ein", "mann", "fliegt", "."]
    ]


def test_unknown_tokens_are_counted_per_split_and_side(tmp_path):
    dm = module(write_multi30k(tmp_path / "data"), tmp_path / "cache")
    dm.setup()
    counts = dm.preparation["counts"]
    # val: "vogel", "singt" (twice) on the source side; "bird", "sings" (twice) on the target.
    assert counts["val_source_unknown_tokens"] == 3 and counts["val_target_unknown_tokens"] == 3
    assert counts["val_source_tokens"] == 8 and counts["val_target_tokens"] == 8
    # test: "hunde", "schlafen", and the literal "<unk>" is no unknown word.
    assert counts["test_source_unknown_tokens"] == 2
    assert counts["train_source_unknown_tokens"] == 0
    assert dm.summary()["val_target_unknown_tokens"] == 3


def test_vocabularies_are_capped_by_default_and_on_request(tmp_path):
    folder = write_multi30k(tmp_path / "data")
    default = module(folder, None)
    assert default.max_source_vocab_size == default.max_target_vocab_size == DEFAULT_MAX_SIZE
    capped = module(folder, tmp_path / "cache", max_source_vocab_size=6, max_target_vocab_size=7)
    capped.setup()
    assert len(capped.source_vocab) == 6 and len(capped.target_vocab) == 7
    assert capped.source_vocab.tokens[2:] == [".", "ein", "hund", "mann"]  # most frequent
    counts = capped.preparation["counts"]
    assert counts["train_source_unknown_tokens"] > 0  # the words past the cap


def test_long_training_pairs_are_left_out_and_counted(tmp_path):
    folder = write_multi30k(tmp_path / "data")
    cached = module(folder, tmp_path / "cache", max_source_length=4, max_target_length=5)
    in_memory = module(folder, None, max_source_length=4, max_target_length=5)
    cached.setup()
    in_memory.setup()
    assert isinstance(cached.datasets["train"], Subset)
    assert len(cached.datasets["train"]) == len(in_memory.datasets["train"]) == 3
    assert cached.preparation["counts"]["train_dropped_pairs"] == 3
    assert in_memory.preparation["counts"]["train_dropped_pairs"] == 3
    assert "schnell" not in cached.source_vocab  # fitted on the kept pairs only
    assert len(cached.datasets["val"]) == 2 and len(cached.datasets["test"]) == 2
    assert_same_batches(batches(cached.train_dataloader()), batches(in_memory.train_dataloader()))
    again = module(folder, tmp_path / "cache", max_source_length=4, max_target_length=5)
    again.setup()
    assert again.summary()["train_examples"] == 3


def test_sentencepiece_model_is_part_of_the_artifacts(tmp_path, counted_reads):
    folder = write_multi30k(tmp_path / "data", train=TRAIN * 4)
    options = {
        "source_tokenizer": "sentencepiece",
        "target_tokenizer": "sentencepiece",
        "sentencepiece_vocab_size": 30,
    }
    first = module(folder, tmp_path / "cache", **options)
    first.setup()
    artifacts = json.loads((Path(first.preparation["folder"]) / "artifacts.json").read_text())
    assert artifacts["source_tokenizer"]["model"] == first.artifacts()["source_tokenizer"]["model"]
    assert list((tmp_path / "cache").glob("translation-fit-*")) == []  # the spool is gone
    counted_reads.clear()
    second = module(folder, tmp_path / "cache", **options)
    second.setup()
    assert counted_reads == []  # read back, tokenizer model included
    assert second.source_tokenizer.model == first.source_tokenizer.model
    text = "ein hund schläft im gras ."
    assert second.source_tokenizer.tokenize(text) == first.source_tokenizer.tokenize(text)
    in_memory = module(folder, None, **options)
    in_memory.setup()
    assert in_memory.artifacts() == first.artifacts()
    assert_same_batches(batches(first.val_dataloader()), batches(in_memory.val_dataloader()))
    module(folder, tmp_path / "cache", **{**options, "sentencepiece_vocab_size": 31}).setup()
    assert "train" in counted_reads  # another model size: prepared again


def test_restored_vocabularies_key_their_own_preparation(tmp_path):
    folder = write_multi30k(tmp_path / "data")
    trained = module(folder, None)
    trained.setup()
    restored = module(folder, tmp_path / "cache", min_frequency=2)
    restored.restore(json.loads(json.dumps(trained.artifacts())))
    restored.setup()
    assert restored.artifacts() == trained.artifacts()  # encoded with the checkpoint's
    assert_same_batches(batches(restored.val_dataloader()), batches(trained.val_dataloader()))


def test_carved_validation_streams_the_same_split_as_split_off(tmp_path):
    pairs = [(f"satz {i} .", f"sentence {i} .") for i in range(23)]
    folder = write_multi30k(tmp_path / "data", train=pairs)
    dm = module(folder, None, val_prefix=None, val_ratio=0.3, split_seed=4)
    listed = list(read_parallel_files(folder / "train.de", folder / "train.en"))
    kept, carved = split_off(listed, 0.3, 4)
    assert list(dm.load_split("train")) == kept and list(dm.load_split("val")) == carved


def test_tatoeba_is_prepared_once(tmp_path, monkeypatch):
    lines = [f"sentence {i % 9} .\tSatz {i} .\tCC-BY" for i in range(30)]
    file = tmp_path / "deu.txt"
    file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    options = {"val_ratio": 0.2, "test_ratio": 0.2, "cache_dir": str(tmp_path / "cache")}
    first = TatoebaDataModule(str(file), **options)
    first.setup()
    in_memory = TatoebaDataModule(str(file), val_ratio=0.2, test_ratio=0.2)
    in_memory.setup()
    sizes = {split: len(data) for split, data in first.datasets.items()}
    assert sizes == {split: len(data) for split, data in in_memory.datasets.items()}
    assert sum(sizes.values()) == 30
    assert_same_batches(batches(first.test_dataloader()), batches(in_memory.test_dataloader()))

    def no_reading(self):
        raise AssertionError("the file was read again")

    monkeypatch.setattr(TatoebaDataModule, "read_pairs", no_reading)
    again = TatoebaDataModule(str(file), **options)
    again.setup()
    assert again.spec == first.spec


def test_missing_file_is_named_before_caching(tmp_path):
    dm = module(tmp_path, tmp_path / "cache")
    with pytest.raises(FileNotFoundError, match=r"train\.de: not found \(train_prefix="):
        dm.setup()


def reference_bucket_batches(lengths, batch_size, seed, pool_batches, epoch):
    """The list-based LengthBucketSampler this numpy one replaced (same seed, same batches)."""
    generator = torch.Generator().manual_seed(seed + epoch)
    order = torch.randperm(len(lengths), generator=generator).tolist()
    pool_size, result = batch_size * pool_batches, []
    for start in range(0, len(order), pool_size):
        pool = sorted(order[start : start + pool_size], key=lengths.__getitem__)
        result += [pool[i : i + batch_size] for i in range(0, len(pool), batch_size)]
    return [result[i] for i in torch.randperm(len(result), generator=generator).tolist()]


def test_length_buckets_are_the_batches_of_the_list_based_sampler():
    rng = np.random.default_rng(0)
    lengths = [tuple(pair) for pair in rng.integers(1, 9, size=(517, 2)).tolist()]
    sampler = LengthBucketSampler(np.array(lengths), batch_size=16, seed=3, pool_batches=4)
    for epoch in range(2):
        assert list(sampler) == reference_bucket_batches(lengths, 16, 3, 4, epoch)


def test_target_ids_of_an_unknown_word_are_unk_and_the_string_is_kept():
    class Pairs(TranslationDataModule):
        def load_split(self, split):
            return [{"source": "a b", "target": "x y"}] if split == "train" else []

    dm = Pairs()
    dm.setup()
    encoded = dm.encode({"source": "a q", "target": "x zü y"})
    assert encoded["target"][1] == dm.target_vocab.id(UNK)
    assert encoded["unknown"] == b"q\xff" + b"\xfe" + "zü".encode() + b"\xff"
    assert (
        dm.encode({"source": "a b", "target": "x zü"})["unknown"]
        == b"\xfe" + "zü".encode() + b"\xff"
    )
    assert dm.encode({"source": "a b", "target": "y x"})["unknown"] == b""
    batch = dm.collate([encoded])
    assert batch["target_tokens"] == [["x", "zü", "y"]] and batch["source_tokens"] == [["a", "q"]]


class TokenByToken(WordPunctTokenizer):
    """word_punct without the per-word shortcut: every sentence tokenised whole."""

    word_separable = False


SENTENCES = [
    "Ein Mann's T-Shirt (rot)!",
    "zwei  Männer\tlaufen… schnell_weg 3'4\" x²",
    "ΟΔΟΣ Straße <unk> café",
    "a man sleeps .",
]


def test_word_by_word_encoding_equals_tokenising_each_sentence():
    train = [{"source": s, "target": s.upper()} for s in SENTENCES[:2]]

    class Pairs(TranslationDataModule):
        def load_split(self, split):
            return train if split == "train" else []

    fast = Pairs(lowercase=True)
    slow = Pairs(lowercase=True)
    for dm in (fast, slow):
        dm.source_tokenizer = dm.target_tokenizer = (
            WordPunctTokenizer() if dm is fast else TokenByToken()
        )
        dm.setup()
    assert fast.artifacts()["source_vocab"] == slow.artifacts()["source_vocab"]
    assert fast.artifacts()["target_vocab"] == slow.artifacts()["target_vocab"]
    fast_counts, slow_counts = Counter(), Counter()
    for text in SENTENCES * 2:  # twice: the second time from the per-word cache
        example = {"source": text, "target": text[::-1]}
        assert fast.encode_counts(example, fast_counts) == slow.encode_counts(example, slow_counts)
    assert fast_counts == slow_counts and fast_counts["source_unknown_tokens"] > 0
    texts = [s.lower() for s in SENTENCES]
    assert count_tokens(WordPunctTokenizer(), SENTENCES, True) == Counter(
        token for text in texts for token in WordPunctTokenizer().tokenize(text)
    )


def test_word_cache_starts_afresh_past_its_limit(monkeypatch):
    vocab = Vocabulary.fit([["a", "b"]])
    encoder = SideEncoder("source", WordPunctTokenizer(), vocab, lowercase=False)
    monkeypatch.setattr(SideEncoder, "cache_limit", 3)
    for text in ["a b c d", "e f g", "a zz"]:
        ids, unseen, unknown = encoder.encode(text, "here")
        assert ids == vocab.encode(text.split()) and unseen == text.count(" ") + 1 - sum(
            w in vocab for w in text.split()
        )
    assert unknown == b"zz\xff" and len(encoder._ids) <= 3 + 2
