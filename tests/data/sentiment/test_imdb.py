"""IMDB (aclImdb v1 layout): reviews by folder, <br /> removed, carved validation, bad files."""

from __future__ import annotations

import hashlib
import io
import json
import re
import tarfile
from collections import Counter
from pathlib import Path

import pytest

from local_server import local_server
from rnnkit.cli.checkpoint import current_data_arguments
from rnnkit.cli.errors import RENAMED_KEYS
from rnnkit.data.io.reading import BadLineWarning
from rnnkit.data.sentiment.imdb import IMDB_SHA256, IMDBDataModule, clean_review

POSITIVE = "A wonderful little production.<br /><br />The filming technique is fine, and {i}."
NEGATIVE = "Dull from start to end.<br />Avoid number {i}!"


def review_files(per_label: int = 8) -> dict[str, bytes]:
    """``aclImdb/...`` paths to review bytes, in the real layout (``<id>_<rating>.txt``)."""
    files = {"aclImdb/README": b"Large Movie Review Dataset v1.0\n"}
    for split in ("train", "test"):
        for i in range(per_label):
            files[f"aclImdb/{split}/pos/{i}_{7 + i % 4}.txt"] = POSITIVE.format(i=i).encode()
            files[f"aclImdb/{split}/neg/{i}_{1 + i % 4}.txt"] = NEGATIVE.format(i=i).encode()
    files["aclImdb/train/unsup/0_0.txt"] = b"Not labelled, never read."
    return files


def write_imdb(folder: Path, files: dict[str, bytes] | None = None) -> Path:
    for name, data in (files or review_files()).items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    return folder


@pytest.mark.parametrize("inner", [False, True])
def test_reads_the_layout_from_the_parent_or_the_acl_imdb_folder(tmp_path, inner):
    write_imdb(tmp_path)
    dm = IMDBDataModule(path=str(tmp_path / "aclImdb" if inner else tmp_path), val_ratio=0.25)
    dm.setup()
    assert {s: len(d) for s, d in dm.datasets.items()} == {"train": 12, "val": 4, "test": 16}
    test = list(dm.load_split("test"))
    assert Counter(e["label"] for e in test) == {"negative": 8, "positive": 8}
    assert all("<br" not in e["text"] and "unsup" not in e["source"] for e in test)
    assert test[0]["text"] == "Dull from start to end. Avoid number 0!"
    assert dm.labels == ["negative", "positive"]


def test_tokens_split_punctuation_and_the_old_max_tokens_is_read_as_max_length(tmp_path):
    dm = IMDBDataModule(path=str(tmp_path))
    assert dm.tokenize("Great film!It's fine.") == ["great", "film", "!", "it's", "fine", "."]
    assert dm.tokenize("a b c d") == ["a", "b", "c", "d"]  # cut when batched, not here
    # A checkpoint written before max_length stored max_tokens: read as max_length, head.
    target = "rnnkit.data.sentiment.imdb.IMDBDataModule"
    stored = {"path": str(tmp_path), "max_tokens": 2}
    old = IMDBDataModule(**current_data_arguments(target, stored))
    assert (old.max_length, old.truncation) == (2, "head") and "max_tokens" in stored
    assert (
        "data.max_tokens" in RENAMED_KEYS and "data.max_length" in RENAMED_KEYS["data.max_tokens"]
    )
    assert clean_review("one<br />two<BR>three<br/>") == "one two three"


def test_validation_is_carved_deterministically_and_stratified(tmp_path):
    write_imdb(tmp_path)
    carve = {
        key: list(IMDBDataModule(path=str(tmp_path), val_ratio=0.25, **options).load_split("val"))
        for key, options in {
            "a": {"split_seed": 0},
            "b": {"split_seed": 0, "seed": 5},  # the shuffling seed does not move the split
            "c": {"split_seed": 1},
        }.items()
    }
    assert carve["a"] == carve["b"] != carve["c"]
    assert Counter(e["label"] for e in carve["a"]) == {"negative": 2, "positive": 2}
    train = list(IMDBDataModule(path=str(tmp_path), val_ratio=0.25).load_split("train"))
    assert not {e["source"] for e in train} & {e["source"] for e in carve["a"]}


def test_artifacts_round_trip_and_parse_raw_cleans_html(tmp_path):
    write_imdb(tmp_path)
    dm = IMDBDataModule(path=str(tmp_path), val_ratio=0.25)
    dm.setup()
    restored = IMDBDataModule(path="/nowhere")
    restored.restore(json.loads(json.dumps(dm.artifacts())))
    assert restored.spec == dm.spec
    (example,) = restored.parse_raw("Loved it.<br /><br />Really.")
    assert example["text"] == "Loved it. Really." and example["label"] is None


BAD_FILES = {
    # case: (file, bytes, expected message)
    "non-UTF-8 bytes": (
        "aclImdb/train/pos/1_8.txt",
        b"Fine.\nCaf\xe9 scene.",
        "line 2: not valid UTF-8",
    ),
    "empty review": ("aclImdb/test/neg/2_3.txt", b"", "line 1: empty review"),
    "only markup": ("aclImdb/train/neg/5_2.txt", b"<br /><br />", "line 1: empty review"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
@pytest.mark.parametrize("mode", ["error", "skip"])
def test_bad_review_files_in_both_modes(tmp_path, case, mode):
    name, data, expected = BAD_FILES[case]
    write_imdb(tmp_path, {**review_files(), name: data})
    dm = IMDBDataModule(path=str(tmp_path), val_ratio=0.25, on_bad_line=mode)
    where = re.escape(str(tmp_path / name))
    if mode == "error":
        with pytest.raises(ValueError, match=f"^{where}, {expected}"):
            dm.setup()
        return
    folder = re.escape(str(tmp_path / Path(name).parent.parent))
    with pytest.warns(
        BadLineWarning, match=f"skipped 1 bad line in {folder} .*{where}, {expected}"
    ):
        dm.setup()
    sizes = {s: len(d) for s, d in dm.datasets.items()}
    assert sum(sizes.values()) == 31 and (sizes["test"] == 15) == name.startswith("aclImdb/test")


def test_missing_layout_suggests_the_download(tmp_path):
    with pytest.raises(FileNotFoundError, match="data.download=true") as caught:
        IMDBDataModule(path=str(tmp_path)).setup()
    assert "aclImdb" in str(caught.value)
    (tmp_path / "aclImdb" / "train").mkdir(parents=True)
    (tmp_path / "aclImdb" / "test").mkdir()
    with pytest.raises(FileNotFoundError, match=r"train[/\\]neg: not found"):
        IMDBDataModule(path=str(tmp_path)).setup()


def test_download_fetches_verifies_and_extracts_the_archive(tmp_path):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in review_files(per_label=4).items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    data = buffer.getvalue()
    with local_server() as server:
        url = server.add("/~amaas/data/sentiment/aclImdb_v1.tar.gz", data)
        sha256 = hashlib.sha256(data).hexdigest()
        dm = IMDBDataModule(
            path=str(tmp_path), download=True, url=url, sha256=sha256, val_ratio=0.25
        )
        dm.setup()
        IMDBDataModule(
            path=str(tmp_path), download=True, url=url, sha256=sha256, val_ratio=0.25
        ).setup()
        assert len(server.requests) == 1
    assert {s: len(d) for s, d in dm.datasets.items()} == {"train": 6, "val": 2, "test": 8}


def test_published_checksum_is_well_formed():
    assert re.fullmatch(r"[0-9a-f]{64}", IMDB_SHA256)


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"val_ratio": 0}, "val_ratio"),
        ({"val_ratio": "0.1"}, "val_ratio"),
        ({"max_length": 0}, "max_length"),
        ({"truncation": "middle"}, "truncation"),
        ({"on_bad_line": "ignore"}, "on_bad_line"),
        ({"download": 1}, "download"),
    ],
)
def test_bad_arguments_are_named(kwargs, argument):
    with pytest.raises(ValueError, match=f"^{argument}:"):
        IMDBDataModule(path="x", **kwargs)
