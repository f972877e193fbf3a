"""TSV tables prepared by worker processes that read the files themselves.

The oracle is the same datamodule without a cache (rows read and encoded in this process, row
by row): the prepared splits, the fitted vocabulary and labels, the warnings about skipped rows
and the first error must be the same, whichever chunk boundaries fall between the rows.
"""

from __future__ import annotations

import warnings
from collections import Counter

import numpy as np
import pytest

from rnnkit.data.io.reading import BadLineWarning
from rnnkit.data.sentiment import text_table
from rnnkit.data.sentiment.datamodule import TextClassificationDataModule, TextRows
from rnnkit.data.sentiment.local_encoding import BOUNDARY, encode_locally
from rnnkit.data.sentiment.text_table import TextTableDataModule

WORDS = [
    "good",
    "bad",
    "film",
    "plot",
    "slow",
    "fine",
    "dull",
    "moving",
    "long",
    "joy",
    "Worth",
    "IT",
]


def rows(count: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    made = []
    for _ in range(count):
        words = rng.choice(WORDS, size=int(rng.integers(1, 7)))
        made.append(f"{' '.join(words)}\t{'pos' if rng.random() < 0.5 else 'neg'}")
    return made


def write(folder, train: list[str], val: list[str], test: list[str], raw: bytes = b""):
    folder.mkdir(parents=True, exist_ok=True)
    for name, lines in {"train.tsv": train, "dev.tsv": val, "test.tsv": test}.items():
        content = "text\tlabel\n" + "".join(f"{line}\n" for line in lines)
        data = content.encode("utf-8")
        (folder / name).write_bytes(data + raw if name == "train.tsv" else data)
    return folder


def datamodule(folder, cache_dir=None, on_bad_line="error", **kwargs):
    return TextTableDataModule(
        train_file="train.tsv",
        val_file="dev.tsv",
        test_file="test.tsv",
        path=str(folder),
        format="tsv",
        on_bad_line=on_bad_line,
        cache_dir=cache_dir,
        prepare_workers=2,
        **kwargs,
    )


def prepared_and_oracle(folder, tmp_path, on_bad_line="error", **kwargs):
    """The prepared datamodule and the in-memory one, with the warnings each gave."""
    modules, caught = [], []
    for cache_dir in (tmp_path / "prepared", None):
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            module = datamodule(folder, cache_dir, on_bad_line, **kwargs)
            module.setup("fit")
        modules.append(module)
        caught.append([str(w.message) for w in seen if issubclass(w.category, BadLineWarning)])
    return modules, caught


def assert_same_data(prepared, oracle):
    assert prepared.vocab.tokens == oracle.vocab.tokens
    assert prepared.labels == oracle.labels
    for split in ("train", "val", "test"):
        got, expected = prepared.datasets[split], oracle.datasets[split]
        assert len(got) == len(expected)
        for index in range(len(got)):
            assert got[index]["tokens"].tolist() == list(expected[index]["tokens"])
            assert got[index]["label"] == expected[index]["label"]


@pytest.fixture
def tiny_chunks(monkeypatch):
    """Chunks of about 64 bytes: every few rows a new chunk, a boundary between any two."""
    monkeypatch.setattr(text_table, "TSV_CHUNK_BYTES", 64)
    monkeypatch.setattr(text_table, "WORKER_CHUNK_BYTES", 64)


def test_the_workers_prepare_what_reading_here_gives(tmp_path, tiny_chunks):
    folder = write(tmp_path / "data", rows(300, 0), rows(40, 1), rows(30, 2))
    (prepared, oracle), caught = prepared_and_oracle(folder, tmp_path)
    assert prepared.preparation["folder"]  # read back from the cache
    assert_same_data(prepared, oracle)
    assert caught == [[], []]


@pytest.mark.parametrize("lowercase", [True, False])
def test_label_names_and_case_are_applied_alike(tmp_path, tiny_chunks, lowercase):
    folder = write(tmp_path / "data", rows(120, 3), rows(20, 4), rows(20, 5))
    (prepared, oracle), _ = prepared_and_oracle(
        folder,
        tmp_path,
        label_names={"neg": "negative", "pos": "positive"},
        lowercase=lowercase,
    )
    assert prepared.labels == ["negative", "positive"]
    assert_same_data(prepared, oracle)


def bad_rows() -> list[str]:
    train = rows(200, 6)
    train[10] = ""  # a blank line inside the file (bad: rows follow)
    train[11] = ""
    train[50] = "three\tcolumns\there"
    train[51] = "   \tpos"  # an empty text
    train[90] = "no label\t"
    for blank in range(120, 128):  # blank lines across a chunk boundary
        train[blank] = ""
    train[150] = "only one column"
    return train


def test_skipped_rows_are_the_same_rows_with_the_same_warning(tmp_path, tiny_chunks):
    val = rows(30, 7)
    val[3] = "film\tmaybe"  # a label the training file lacks
    folder = write(tmp_path / "data", bad_rows(), val, rows(10, 8), raw=b"caf\xe9\tpos\n")
    (prepared, oracle), caught = prepared_and_oracle(folder, tmp_path, on_bad_line="skip")
    assert_same_data(prepared, oracle)
    assert caught[0] == caught[1] and len(caught[0]) == 2
    assert "skipped 15 bad lines in" in caught[0][0] and "line 12: blank line" in caught[0][0]
    assert "skipped 1 bad line in" in caught[0][1] and "unknown label 'maybe'" in caught[0][1]


@pytest.mark.parametrize(
    "bad, line",
    [
        (lambda train: train.__setitem__(100, ""), 102),  # a blank line, rows follow
        (lambda train: train.__setitem__(130, "a\tb\tc"), 132),
        (lambda train: train.__setitem__(131, "\tpos"), 133),
        (lambda train: [train.__setitem__(i, "") for i in range(60, 70)] and None, 62),
    ],
)
def test_the_first_bad_row_is_the_error(tmp_path, tiny_chunks, bad, line):
    train = rows(200, 9)
    bad(train)
    folder = write(tmp_path / "data", train, rows(10, 10), rows(10, 11))
    messages = []
    for cache_dir in (tmp_path / "prepared", None):
        with pytest.raises(ValueError) as error:
            datamodule(folder, cache_dir).setup("fit")
        messages.append(str(error.value))
    assert messages[0] == messages[1]
    assert f"train.tsv, line {line}:" in messages[0]
    assert not list((tmp_path / "prepared").glob("*/manifest.json"))


def test_blank_lines_at_the_end_are_not_rows(tmp_path, tiny_chunks):
    folder = write(tmp_path / "data", [*rows(100, 12), "", "", ""], rows(10, 13), rows(10, 14))
    (prepared, oracle), caught = prepared_and_oracle(folder, tmp_path)
    assert_same_data(prepared, oracle)
    assert len(prepared.datasets["train"]) == 100 and caught == [[], []]


def test_a_training_file_with_one_label_is_refused_by_name(tmp_path, tiny_chunks):
    train = [line.replace("\tneg", "\tpos") for line in rows(80, 15)]
    folder = write(tmp_path / "data", train, rows(10, 16), rows(10, 17))
    with pytest.raises(ValueError, match=r"train\.tsv: expected at least 2 different labels"):
        datamodule(folder, tmp_path / "prepared").setup("fit")


def test_texts_holding_the_boundary_character_are_split_one_by_one(tmp_path):
    module = TextClassificationDataModule(lowercase=True)
    module.set_fitted(Counter(["a", "b", f"x{BOUNDARY}y"]), {"p", "n"})

    def token_ids(texts):  # what encode_chunk looks up: the chunk's words, then the vocabulary
        encoded = encode_locally(texts, ["p"] * len(texts), module.lowercase)
        ids, unknown = encoded.remap(module._lookup())
        return ids, encoded.lengths, unknown

    texts = ["A b", f"x{BOUNDARY}y a", "zzz b", "  "]
    ids, lengths, unknown = token_ids(texts)
    assert lengths.tolist() == [2, 2, 2, 0] and unknown == "zzz"
    plain_ids, plain_lengths, _ = token_ids(["A b", "zzz b"])
    assert plain_lengths.tolist() == [2, 2]
    assert plain_ids.tolist() == [ids[0], ids[1], ids[4], ids[5]]
    assert ids[2] == module.vocab.index[f"x{BOUNDARY}y"]
    columns, count, counts = module.encode_chunk(TextRows(texts[:3], ["p", "n", "p"]))
    assert columns["tokens"][1].tolist() == [2, 2, 2] and counts["unknown_tokens"] == 1
