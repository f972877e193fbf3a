"""SST-2 (GLUE TSV): the real layout and its quirks, bad lines, download; full data when present."""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from collections import Counter
from pathlib import Path

import pytest

from local_server import local_server
from rnnkit.data.io.reading import BadLineWarning
from rnnkit.data.sentiment.sst2 import GLUE_SST2_SHA256, GLUE_SST2_URL, SST2DataModule
from shared_data import shared_dataset

# The real formats: train/dev end every sentence in a space before the tab; test.tsv is GLUE's
# unlabelled index<TAB>sentence; test_labeled.tsv is sentence<TAB>label without the space.
TRAIN = [
    ("hide new secretions from the parental units", "0"),
    ("contains no wit , only labored gags", "0"),
    ("that loves its characters and communicates something rather beautiful", "1"),
    ("remains utterly satisfied to remain the same throughout", "0"),
    ("the greatest musicians", "1"),
]
DEV = [("it 's a charming and often affecting journey .", "1"), ("unflinchingly bleak", "0")]
TEST = [("uneasy mishmash of styles and genres .", "0"), ("a gorgeous , witty film", "1")]
NAMES = {"0": "negative", "1": "positive"}


def labelled(rows, trailing_space: bool) -> bytes:
    space = " " if trailing_space else ""
    return ("sentence\tlabel\n" + "".join(f"{s}{space}\t{y}\n" for s, y in rows)).encode()


def unlabelled(rows) -> bytes:
    return ("index\tsentence\n" + "".join(f"{i}\t{s}\n" for i, (s, _) in enumerate(rows))).encode()


SST2_FILES = {
    "train.tsv": labelled(TRAIN, trailing_space=True),
    "dev.tsv": labelled(DEV, trailing_space=True),
    "test.tsv": unlabelled(TEST),
    "test_labeled.tsv": labelled(TEST, trailing_space=False),
}


def write_sst2(folder: Path, files: dict[str, bytes] = SST2_FILES) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return folder


def test_reads_the_glue_layout_and_strips_the_trailing_space(tmp_path):
    dm = SST2DataModule(path=str(write_sst2(tmp_path / "sst2")))
    dm.setup()
    for split, rows in {"train": TRAIN, "val": DEV, "test": TEST}.items():
        examples = list(dm.load_split(split))
        assert [(e["text"], e["label"]) for e in examples] == [(s, NAMES[y]) for s, y in rows]
    assert dm.spec["label_names"] == ["negative", "positive"]
    assert {s: len(d) for s, d in dm.datasets.items()} == {"train": 5, "val": 2, "test": 2}
    restored = SST2DataModule(path="/nowhere")  # prediction: no files needed, only artifacts
    restored.restore(json.loads(json.dumps(dm.artifacts())))
    assert restored.spec == dm.spec


def test_finds_the_files_in_the_folder_the_glue_archive_unpacks_to(tmp_path):
    write_sst2(tmp_path / "SST-2")
    dm = SST2DataModule(path=str(tmp_path))
    dm.setup()
    assert len(dm.datasets["train"]) == len(TRAIN)


def test_glue_unlabelled_test_file_is_refused_as_a_test_split_with_a_hint(tmp_path):
    dm = SST2DataModule(path=str(write_sst2(tmp_path)), test_file="test.tsv")
    with pytest.raises(
        ValueError, match=r"test\.tsv, line 1: expected a column named 'label'"
    ) as e:
        dm.setup()
    assert "test_labeled.tsv" in str(e.value) and "['index', 'sentence']" in str(e.value)


def test_glue_unlabelled_test_file_is_accepted_as_prediction_input(tmp_path):
    dm = SST2DataModule(path=str(write_sst2(tmp_path)))
    dm.setup()
    raw = dm.parse_raw(str(tmp_path / "test.tsv"))
    assert [(e["text"], e["label"]) for e in raw] == [(s, None) for s, _ in TEST]


BAD_LINES = {
    # case: (file, line, expected message)
    "wrong column count": ("train.tsv", b"a sentence\twith a tab \t1", "expected 2 tab-separated"),
    "unknown label": ("dev.tsv", b"a fine film \t2", r"unknown label '2'; expected one of"),
    "empty sentence": ("train.tsv", b" \t1", "empty sentence"),
    "missing label": ("test_labeled.tsv", b"a fine film\t", "missing label"),
    "non-UTF-8 bytes": ("dev.tsv", b"a caf\xe9 film \t1", "not valid UTF-8"),
    "blank line": ("train.tsv", b"", "blank line"),
}


def with_bad_line(name: str, line: bytes) -> dict[str, bytes]:
    """The files with ``line`` inserted as line 3 of ``name``."""
    lines = SST2_FILES[name].split(b"\n")
    return {**SST2_FILES, name: b"\n".join([*lines[:2], line, *lines[2:]])}


@pytest.mark.parametrize("case", sorted(BAD_LINES))
@pytest.mark.parametrize("mode", ["error", "skip"])
def test_bad_lines_in_both_modes(tmp_path, case, mode):
    name, line, expected = BAD_LINES[case]
    folder = write_sst2(tmp_path, with_bad_line(name, line))
    dm = SST2DataModule(path=str(folder), on_bad_line=mode)
    where = re.escape(f"{folder / name}, line 3: ")
    if mode == "error":
        with pytest.raises(ValueError, match=f"^{where}.*{expected}"):
            dm.setup()
        return
    with pytest.warns(
        BadLineWarning, match=f"skipped 1 bad line in .*{name} .*line 3: .*{expected}"
    ):
        dm.setup()
    assert {s: len(d) for s, d in dm.datasets.items()} == {"train": 5, "val": 2, "test": 2}


@pytest.mark.parametrize("fixed", ["format", "text_column", "label_column", "has_header"])
def test_the_layout_is_fixed(fixed):
    with pytest.raises(ValueError, match=f"^{fixed}: SST-2's layout is fixed"):
        SST2DataModule(path="x", **{fixed: "csv"})


def test_missing_files_suggest_the_download(tmp_path):
    dm = SST2DataModule(path=str(tmp_path))
    with pytest.raises(FileNotFoundError, match="data.download=true to fetch") as caught:
        dm.setup()
    assert str(tmp_path / "train.tsv") in str(caught.value) and GLUE_SST2_URL in str(caught.value)


def glue_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in ("train.tsv", "dev.tsv", "test.tsv"):  # GLUE's archive: no test labels
            archive.writestr(f"SST-2/{name}", SST2_FILES[name])
    return buffer.getvalue()


def test_download_fetches_verifies_and_extracts_the_glue_archive(tmp_path):
    data = glue_zip()
    with local_server() as server:
        url = server.add("/glue/data/SST-2.zip", data)
        sha256 = hashlib.sha256(data).hexdigest()
        dm = SST2DataModule(path=str(tmp_path), download=True, url=url, sha256=sha256)
        with pytest.raises(FileNotFoundError, match="test_labeled.tsv.*data.test_file=null"):
            dm.setup()  # downloaded, but GLUE has no labelled test file
        dm = SST2DataModule(
            path=str(tmp_path), download=True, url=url, sha256=sha256, test_file=None
        )
        dm.setup()
        assert len(server.requests) == 1  # the second module found the extracted files
    assert (tmp_path / "SST-2.zip").is_file() and (tmp_path / "SST-2" / "train.tsv").is_file()
    assert {s: len(d) for s, d in dm.datasets.items()} == {"train": 5, "val": 2, "test": 0}


def test_download_refuses_to_run_without_a_checksum(tmp_path):
    with local_server() as server:
        url = server.add("/SST-2.zip", glue_zip())
        dm = SST2DataModule(path=str(tmp_path), download=True, url=url, sha256=None)
        with pytest.raises(ValueError, match="sha256: no checksum given"):
            dm.setup()
        assert server.requests == []


def test_published_checksum_is_well_formed():
    assert re.fullmatch(r"[0-9a-f]{64}", GLUE_SST2_SHA256)


# ---- the real data (../shared/data/sst2), when present -----------------------------------


def shared_sst2() -> Path:
    return shared_dataset("sst2", "train.tsv")


MD5 = {
    "train.tsv": "da409a0a939379ed32a470bc0f7fe99a",
    "dev.tsv": "268856b487b2a31a28c0a93daaff7288",
    "test.tsv": "3230e4efec76488b87877a56ae49675a",
    "test_labeled.tsv": "c45fe06d8ba3f6540b2b8e9e85c28a34",
}


@pytest.mark.slow
def test_full_sst2_has_the_known_counts():
    folder = shared_sst2()
    for name, md5 in MD5.items():
        assert hashlib.md5((folder / name).read_bytes()).hexdigest() == md5, name
    dm = SST2DataModule(path=str(folder))  # on_bad_line="error": no line of the real files is bad
    counts = {
        split: Counter(e["label"] for e in dm.load_split(split))
        for split in ("train", "val", "test")
    }
    assert counts == {
        "train": {"negative": 29_780, "positive": 37_569},  # 67,349
        "val": {"negative": 428, "positive": 444},  # 872
        "test": {"negative": 912, "positive": 909},  # 1,821
    }
    train = list(dm.load_split("train"))
    assert all(e["text"] == e["text"].strip() for e in train)
    assert train[0]["text"] == "hide new secretions from the parental units"
    unlabelled = dm.parse_raw(str(folder / "test.tsv"))
    assert [e["text"] for e in unlabelled] == [e["text"] for e in dm.load_split("test")]
