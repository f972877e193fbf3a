"""Parallel text files (Multi30k layout): alignment, bad lines, tokenizers, length buckets; the
full shared Multi30k when present."""

from __future__ import annotations

import hashlib
import json
import re
import warnings
from pathlib import Path

import pytest

from rnnkit.data.io.reading import BadLineWarning
from rnnkit.data.translation.parallel_text import (
    LengthBucketSampler,
    ParallelTextDataModule,
    build_tokenizer,
    read_parallel_files,
)
from shared_data import shared_dataset

TRAIN = [
    ("Zwei junge weiße Männer sind im Freien.", "Two young, White males are outside."),
    ("Ein Mann mit einem orangefarbenen Hut.", "A man in an orange hat."),
    ("Ein Boston Terrier läuft über Gras.", "A Boston Terrier is running on grass."),
    ("Ein Mädchen in einem Karateanzug.", "A girl in karate uniform."),
    ("Leute reparieren das Dach eines Hauses.", "People are fixing the roof of a house."),
]
VAL = [("Eine Gruppe von Männern lädt Baumwolle.", "A group of men are loading cotton.")]
TEST = [("Ein Mann schläft.", "A man sleeps."), ("Zwei Hunde spielen.", "Two dogs play.")]
SPLITS = {"train": TRAIN, "val": VAL, "test_2016_flickr": TEST}


def files_of(splits=SPLITS) -> dict[str, bytes]:
    files = {}
    for prefix, pairs in splits.items():
        files[f"{prefix}.de"] = "".join(f"{de}\n" for de, _ in pairs).encode()
        files[f"{prefix}.en"] = "".join(f"{en}\n" for _, en in pairs).encode()
    return files


def write(folder: Path, files: dict[str, bytes] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in (files or files_of()).items():
        (folder / name).write_bytes(data)
    return folder


def test_line_i_translates_line_i(tmp_path):
    folder = write(tmp_path)
    dm = ParallelTextDataModule(str(folder))
    for split, pairs in zip(("train", "val", "test"), SPLITS.values()):
        examples = list(dm.load_split(split))
        assert [(e["source"], e["target"]) for e in examples] == pairs
    assert list(dm.load_split("train"))[2]["where"] == f"{folder / 'train.de'}, line 3"
    reverse = ParallelTextDataModule(str(folder), source_language="en", target_language="de")
    assert next(reverse.load_split("test")) == {
        "source": "A man sleeps.",
        "target": "Ein Mann schläft.",
        "where": f"{folder / 'test_2016_flickr.en'}, line 1",
    }


@pytest.mark.parametrize("tokenizer", ["whitespace", "character", "word_punct", "sentencepiece"])
@pytest.mark.parametrize("lowercase", [False, True])
def test_tokenizers_fit_on_train_and_round_trip_through_json(tmp_path, tokenizer, lowercase):
    options = {"source_tokenizer": tokenizer, "target_tokenizer": tokenizer}
    options.update(lowercase=lowercase, sentencepiece_vocab_size=40)
    dm = ParallelTextDataModule(str(write(tmp_path)), **options)
    dm.setup()
    source, target = TRAIN[0]
    batch = dm.collate(list(dm.datasets["train"]))
    source_tokens, target_tokens = batch["source_tokens"][0], batch["target_tokens"][0]
    text = target.lower() if lowercase else target
    if tokenizer == "sentencepiece":
        assert dm.detokenize_target(target_tokens) == text  # lossless
    elif tokenizer == "character":
        assert target_tokens == list(text)
    else:
        assert dm.detokenize_target(target_tokens).split() == dm.target_tokenizer.tokenize(text)
    assert "".join(source_tokens).replace("▁", "").replace(" ", "") == (
        (source.lower() if lowercase else source).replace(" ", "")
    )
    train_tokens = {t for tokens in batch["target_tokens"] for t in tokens}
    assert set(dm.target_vocab.tokens[4:]) <= train_tokens  # fitted on train only
    artifacts = json.loads(json.dumps(dm.artifacts()))
    restored = ParallelTextDataModule("/nowhere", **options)
    restored.restore(artifacts)
    assert restored.spec == dm.spec
    raw = restored.batch_from_raw(VAL[0][0])
    assert raw["source_tokens"] == [dm.source_tokens({"source": VAL[0][0]})]


def test_mismatched_line_counts_name_both_files_and_counts(tmp_path):
    files = files_of()
    files["train.en"] += b"An extra line.\n"
    folder = write(tmp_path, files)
    expected = re.escape(f"{folder / 'train.de'} has 5 lines but {folder / 'train.en'} has 6")
    with pytest.raises(ValueError, match=expected):
        ParallelTextDataModule(str(folder), on_bad_line="error").setup()
    # skip: the longer file's extra line has no translation; dropped, with one warning that
    # names both files (and says the pairs before may be misaligned).
    with pytest.warns(BadLineWarning, match=expected) as warned:
        dm = ParallelTextDataModule(str(folder), on_bad_line="skip")
        dm.setup()
    assert len(dm.datasets["train"]) == 5
    assert any("skipped 1 bad line" in str(w.message) for w in warned)


def test_trailing_blank_lines_are_ignored(tmp_path):
    files = files_of()
    files["val.en"] += b"\n\n"
    files["test_2016_flickr.de"] = files["test_2016_flickr.de"].rstrip(b"\n")  # no final LF
    dm = ParallelTextDataModule(str(write(tmp_path, files)))
    dm.setup()
    assert {split: len(data) for split, data in dm.datasets.items()} == {
        "train": 5,
        "val": 1,
        "test": 2,
    }


@pytest.mark.parametrize(
    ("name", "line", "expected"),
    [
        ("train.de", b"", "empty source sentence"),
        ("train.en", b"   ", "empty target sentence"),
        ("test_2016_flickr.en", b"caf\xe9", "not valid UTF-8"),
    ],
)
@pytest.mark.parametrize("mode", ["error", "skip"])
def test_empty_lines_name_file_and_line_or_drop_the_pair(tmp_path, name, line, expected, mode):
    files = files_of()
    lines = files[name].split(b"\n")
    lines[1] = line
    files[name] = b"\n".join(lines)
    folder = write(tmp_path, files)
    dm = ParallelTextDataModule(str(folder), on_bad_line=mode)
    where = re.escape(f"{folder / name}, line 2: ")
    if mode == "error":
        with pytest.raises(ValueError, match=f"^{where}{expected}"):
            dm.setup()
        return
    with pytest.warns(BadLineWarning, match=f"skipped 1 bad line in .*line 2: {expected}"):
        dm.setup()
    split = "test" if name.startswith("test") else "train"
    pairs = SPLITS["test_2016_flickr" if split == "test" else "train"]
    kept = dm.collate(list(dm.datasets[split]))
    assert len(kept["source_tokens"]) == len(pairs) - 1  # the pair, on both sides, only
    assert len(kept["target_tokens"]) == len(pairs) - 1


@pytest.mark.parametrize(
    ("source", "target", "pairs", "skipped"),
    [
        (b"a\n\nc\n\n\n", b"A\nB\nC\n", ["a", "c"], ["train.de, line 2: empty source"]),
        (b"a\nb\n  \n", b"A\nB", ["a", "b"], []),  # trailing blank lines, no final LF
        (b"a\n\xff\nc\n", b"A\n\nC\n", ["a", "c"], ["train.de, line 2: not valid UTF-8"]),
        (b"a\n\n\nd\n", b"A\nB\n\nD\n", ["a", "d"], ["line 2: empty source", "line 3: empty"]),
    ],
)
def test_streamed_pairs_skip_inner_empty_lines_only(tmp_path, source, target, pairs, skipped):
    (tmp_path / "train.de").write_bytes(source)
    (tmp_path / "train.en").write_bytes(target)
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        policy_pairs = list(
            read_parallel_files(tmp_path / "train.de", tmp_path / "train.en", on_bad_line="skip")
        )
    assert [p["source"] for p in policy_pairs] == pairs
    assert [p["target"] for p in policy_pairs] == [p.upper() for p in pairs]
    if skipped:
        with pytest.raises(ValueError, match=re.escape(skipped[0])):
            list(read_parallel_files(tmp_path / "train.de", tmp_path / "train.en"))


def test_val_prefix_null_carves_validation_and_test_prefix_null_has_no_test(tmp_path):
    dm = ParallelTextDataModule(
        str(write(tmp_path)), val_prefix=None, test_prefix=None, val_ratio=0.2
    )
    sizes = [len(list(dm.load_split(split))) for split in ("train", "val", "test")]
    assert sizes == [4, 1, 0]


def test_length_buckets_cover_every_example_once_with_less_padding():
    lengths = [(length, 0) for length in [3, 30, 4, 29, 5, 28, 6, 27] * 25]
    sampler = LengthBucketSampler(lengths, batch_size=8, seed=1, pool_batches=5)
    epochs = [list(sampler), list(sampler)]
    for batches in epochs:
        assert sorted(i for batch in batches for i in batch) == list(range(len(lengths)))
        assert len(batches) == len(sampler)
        padded = sum(len(b) * max(lengths[i][0] for i in b) for b in batches)
        assert padded < 0.7 * len(lengths) * 30  # random batches pad to ~30 almost always
    assert epochs[0] != epochs[1]  # reshuffled each epoch
    again = LengthBucketSampler(lengths, batch_size=8, seed=1, pool_batches=5)
    assert list(again) == epochs[0]  # deterministic


def test_bucketed_train_loader(tmp_path):
    dm = ParallelTextDataModule(str(write(tmp_path)), bucket_by_length=True, batch_size=2)
    dm.setup()
    batches = list(dm.train_dataloader())
    assert sum(len(b["source_tokens"]) for b in batches) == len(TRAIN)
    assert {"source", "target_input", "target_output"} <= set(batches[0])


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"source_tokenizer": "spacy"}, r"^source_tokenizer: expected one of \['character', "),
        ({"target_language": "de"}, r"^target_language: expected another language"),
        ({"source_language": ""}, r"^source_language: expected a file suffix"),
        ({"on_bad_line": "drop"}, r"^on_bad_line: expected one of"),
        ({"bucket_by_length": "yes"}, r"^bucket_by_length: expected true or false"),
        ({"val_ratio": 1.5}, r"^val_ratio: expected a number in \(0, 1\)"),
    ],
)
def test_bad_arguments(tmp_path, arguments, message):
    with pytest.raises(ValueError, match=message):
        ParallelTextDataModule(str(tmp_path), **arguments)


def test_too_many_sentencepiece_pieces_names_the_option(tmp_path):
    options = {"source_tokenizer": "sentencepiece", "sentencepiece_vocab_size": 5000}
    dm = ParallelTextDataModule(str(write(tmp_path)), **options)
    with pytest.raises(ValueError, match=r"^sentencepiece_vocab_size: source side: .* <= \d+"):
        dm.setup()


def test_missing_files_name_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match=re.escape(f"{tmp_path / 'train.de'}: not found")):
        ParallelTextDataModule(str(tmp_path)).setup()


def test_build_tokenizer_names():
    assert build_tokenizer("word_punct").name == "word_punct"
    assert build_tokenizer("sentencepiece", sentencepiece_vocab_size=99).vocab_size == 99
    with pytest.raises(ValueError, match=r"^target_tokenizer: expected one of"):
        build_tokenizer("bpe", "target_tokenizer")


# ---- the real data (../shared/data/multi30k), when present -------------------------------


def shared_multi30k() -> Path:
    return shared_dataset("multi30k", "train.de")


MD5 = {
    "train.de": "d3b4bc1671cfb805267f97f16884beba",
    "train.en": "053a34ece7c904dbc8c7361799afbe4c",
    "val.de": "9f139b15d9d11936dea7af2904e57d8c",
    "val.en": "2234730e7925354b766681b029b347ec",
    "test_2016_flickr.de": "cde61d7401b116652ee84099c7858ca3",
    "test_2016_flickr.en": "2022a6c31e2418047a0511333d55ed42",
}


@pytest.mark.slow
def test_full_multi30k_has_the_known_counts():
    folder = shared_multi30k()
    for name, md5 in MD5.items():
        assert hashlib.md5((folder / name).read_bytes()).hexdigest() == md5, name
    dm = ParallelTextDataModule(
        str(folder),
        source_tokenizer="word_punct",
        target_tokenizer="word_punct",
        lowercase=True,
        min_frequency=2,
    )
    dm.setup()
    assert {split: len(data) for split, data in dm.datasets.items()} == {
        "train": 29_000,
        "val": 1_014,
        "test": 1_000,
    }
    assert dm.collate([dm.datasets["train"][0]])["target_tokens"][0] == [
        "two",
        "young",
        ",",
        "white",
        "males",
        "are",
        "outside",
        "near",
        "many",
        "bushes",
        ".",
    ]
    # Close to torchtext + spaCy's 7,853 German and 5,893 English types (min_freq=2).
    assert abs(dm.spec["source_vocab_size"] - 7_853) < 100
    assert abs(dm.spec["target_vocab_size"] - 5_893) < 50
