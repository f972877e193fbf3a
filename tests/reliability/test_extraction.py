"""Extraction is all-or-nothing: a killed extraction is redone, never trusted (defect 4).

Fast cases check the completion marker (a folder without it, or with another archive's, is
extracted again), that abandoned temporary folders are removed, that unsafe members and
corrupt archives are refused in one line naming the archive, and that a datamodule with
``download=true`` re-extracts over files a killed run left. The slow cases SIGKILL a real
extraction in a subprocess, while members are written and while entries are renamed.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import tarfile
import textwrap
import time
import zipfile
from pathlib import Path

import pytest

from local_server import local_server
from rnnkit.data.io.download import download
from rnnkit.data.io.extraction import ArchiveError, extract_archive, extraction_complete
from rnnkit.data.sentiment.sst2 import SST2DataModule

TRAIN = b"sentence\tlabel\n" + b"".join(
    b"film number %d was %s \t%d\n" % (i, [b"dull", b"fine"][i % 2], i % 2) for i in range(400)
)
DEV = b"sentence\tlabel\na dull film \t0\n"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def tar_bytes(members: dict[str, bytes], mode: str = "w:gz", **special: tarfile.TarInfo) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        for info in special.values():
            archive.addfile(info)
    return buffer.getvalue()


def link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info


def device(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.CHRTYPE
    return info


SST2_ZIP = zip_bytes({"SST-2/train.tsv": TRAIN, "SST-2/dev.tsv": DEV})


def marker(folder: Path, name: str) -> dict:
    return json.loads((folder / f".{name}.extracted").read_text())


# ---- the completion marker ---------------------------------------------------------------


def test_a_complete_extraction_writes_a_marker_naming_the_archive_checksum(tmp_path):
    (tmp_path / "SST-2.zip").write_bytes(SST2_ZIP)
    extract_archive(tmp_path / "SST-2.zip", tmp_path / "data")
    assert marker(tmp_path / "data", "SST-2.zip") == {
        "archive": "SST-2.zip",
        "sha256": sha(SST2_ZIP),
        "entries": ["SST-2"],
    }
    assert (tmp_path / "data" / "SST-2" / "train.tsv").read_bytes() == TRAIN
    assert extraction_complete("SST-2.zip", tmp_path / "data", sha(SST2_ZIP))
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == [
        ".SST-2.zip.extracted",
        ".SST-2.zip.lock",
        "SST-2",
    ]


# (case id, how the folder looks before: a function of (folder) run after a first extraction)
def truncate_without_marker(folder: Path) -> None:
    (folder / ".SST-2.zip.extracted").unlink()
    (folder / "SST-2" / "train.tsv").write_bytes(TRAIN[:100])


def truncate_with_other_checksum(folder: Path) -> None:
    (folder / "SST-2" / "train.tsv").write_bytes(TRAIN[:100])
    record = marker(folder, "SST-2.zip") | {"sha256": "0" * 64}
    (folder / ".SST-2.zip.extracted").write_text(json.dumps(record))


def remove_an_entry(folder: Path) -> None:
    import shutil

    shutil.rmtree(folder / "SST-2")


def garble_the_marker(folder: Path) -> None:
    (folder / "SST-2" / "train.tsv").write_bytes(TRAIN[:100])
    (folder / ".SST-2.zip.extracted").write_text("{not json")


def old_plain_marker(folder: Path) -> None:  # the format before issue 12: just the checksum
    (folder / "SST-2" / "train.tsv").write_bytes(TRAIN[:100])
    (folder / ".SST-2.zip.extracted").write_text(sha(SST2_ZIP) + "\n")


REDO = [
    ("truncated-file-no-marker", truncate_without_marker),
    ("marker-of-another-archive", truncate_with_other_checksum),
    ("an-entry-removed", remove_an_entry),
    ("garbled-marker", garble_the_marker),
    ("old-plain-marker", old_plain_marker),
]


@pytest.mark.parametrize(("case", "damage"), REDO, ids=[c[0] for c in REDO])
def test_a_folder_without_a_valid_marker_is_extracted_again(server_zip, tmp_path, case, damage):
    url, cache = server_zip, tmp_path / "cache"
    download(url, sha(SST2_ZIP), cache, timeout=5, extract=True)
    damage(cache)
    download(url, sha(SST2_ZIP), cache, timeout=5, extract=True)
    assert (cache / "SST-2" / "train.tsv").read_bytes() == TRAIN
    assert marker(cache, "SST-2.zip")["sha256"] == sha(SST2_ZIP)


def test_a_valid_marker_is_trusted_without_reading_the_archive(server_zip, tmp_path):
    cache = tmp_path / "cache"
    download(server_zip, sha(SST2_ZIP), cache, timeout=5, extract=True)
    (cache / "SST-2.zip").unlink()  # not even needed any more
    (cache / "SST-2" / "dev.tsv").write_bytes(b"edited")
    download(server_zip, sha(SST2_ZIP), cache, timeout=5, extract=True)
    assert (cache / "SST-2" / "dev.tsv").read_bytes() == b"edited"
    assert not (cache / "SST-2.zip").exists()


@pytest.fixture
def server_zip():
    with local_server() as server:
        yield server.add("/glue/data/SST-2.zip", SST2_ZIP)


def test_a_datamodule_re_extracts_files_a_killed_run_left(tmp_path):
    """Defect 4: the truncated train.tsv was trusted forever; with download=true and no
    marker, setup extracts the archive again and reads all 400 rows."""
    (tmp_path / "SST-2").mkdir()
    (tmp_path / "SST-2" / "train.tsv").write_bytes(TRAIN[: len(TRAIN) // 10])
    (tmp_path / "SST-2" / "dev.tsv").write_bytes(DEV)
    with local_server() as server:
        url = server.add("/glue/data/SST-2.zip", SST2_ZIP)
        dm = SST2DataModule(
            path=str(tmp_path),
            download=True,
            url=url,
            sha256=sha(SST2_ZIP),
            test_file=None,
            on_bad_line="skip",
            cache_dir=str(tmp_path / "prepared"),
        )
        dm.setup()
    assert len(dm.datasets["train"]) == 400
    assert (tmp_path / "SST-2" / "train.tsv").read_bytes() == TRAIN


def test_abandoned_temporary_folders_of_dead_processes_are_removed(tmp_path):
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    pid = int(dead.stdout)
    folder = tmp_path / "data"
    (folder / f".SST-2.zip.extracting-{pid}" / "SST-2").mkdir(parents=True)
    (folder / f".SST-2.zip.replaced-{pid}-SST-2").mkdir()
    (folder / f".other.zip.extracting-{pid}").mkdir()  # another archive's: not ours to remove
    (tmp_path / "SST-2.zip").write_bytes(SST2_ZIP)
    extract_archive(tmp_path / "SST-2.zip", folder)
    assert sorted(p.name for p in folder.iterdir()) == [
        ".SST-2.zip.extracted",
        ".SST-2.zip.lock",
        f".other.zip.extracting-{pid}",
        "SST-2",
    ]


# ---- unsafe members and corrupt archives: one line naming the archive ---------------------

UNSAFE = [
    ("tar-parent", "x.tar.gz", tar_bytes({"d/../../escaped.txt": b"x"}), "leaves the target"),
    ("tar-absolute", "x.tar.gz", tar_bytes({"/tmp/rnnkit-escaped.txt": b"x"}), "leaves the target"),
    (
        "tar-symlink-out",
        "x.tar",
        tar_bytes({}, "w", s=link("d/l", "../../escaped.txt")),
        "links outside",
    ),
    ("tar-symlink-absolute", "x.tgz", tar_bytes({}, s=link("d/l", "/etc/passwd")), "links outside"),
    (
        "tar-hardlink-out",
        "x.tar.gz",
        tar_bytes({}, h=link("h", "../escaped.txt", tarfile.LNKTYPE)),
        "links outside",
    ),
    ("tar-device", "x.tar.gz", tar_bytes({}, d=device("dev/tty")), "not a regular file"),
    ("zip-parent", "x.zip", zip_bytes({"../escaped.txt": b"x"}), "leaves the target"),
    ("zip-absolute", "x.zip", zip_bytes({"/tmp/rnnkit-escaped.txt": b"x"}), "leaves the target"),
]
CORRUPT = [
    ("zip-garbage", "x.zip", b"PK\x03\x04 this is not a zip"),
    ("zip-truncated", "x.zip", SST2_ZIP[: len(SST2_ZIP) // 2]),
    ("tar-gz-truncated", "x.tar.gz", tar_bytes({"a.txt": os.urandom(50_000)})[:20_000]),
    ("tar-garbage", "x.tar", b"\x01" * 1024),
    ("gz-garbage", "x.tgz", b"\x1f\x8b\x08 not gzip at all"),
]


@pytest.mark.parametrize(
    ("case", "name", "data", "why"),
    UNSAFE + [(c, n, d, "corrupt or truncated") for c, n, d in CORRUPT],
    ids=[c[0] for c in UNSAFE + CORRUPT],
)
def test_unsafe_or_corrupt_archives_are_refused_in_one_line(tmp_path, case, name, data, why):
    archive = tmp_path / name
    archive.write_bytes(data)
    target = tmp_path / "cache" / "data"
    target.mkdir(parents=True)
    (target / "kept.txt").write_bytes(b"kept")
    with pytest.raises(ArchiveError, match=why) as refused:
        extract_archive(archive, target)
    message = str(refused.value)
    assert message.startswith(f"archive {archive}: ") and "\n" not in message, message
    assert sorted(p.name for p in target.iterdir()) == [f".{name}.lock", "kept.txt"]
    assert (target / "kept.txt").read_bytes() == b"kept"
    assert not (tmp_path / "escaped.txt").exists() and not (tmp_path / "cache/escaped.txt").exists()
    assert not Path("/tmp/rnnkit-escaped.txt").exists()


# ---- SIGKILL during extraction (slow) -----------------------------------------------------

# The child pauses at a chosen point (after the first member is written, or after the first
# entry is renamed into place) and says so; the test then kills it with SIGKILL.
CHILD = textwrap.dedent(
    """
    import sys, time, pathlib
    import rnnkit.data.io.extraction as extraction
    archive, target, pause_in, signal_file = sys.argv[1:5]
    module, name = pause_in.rsplit(".", 1)
    owner = {"tarfile.TarFile": __import__("tarfile").TarFile, "extraction": extraction}[module]
    original = getattr(owner, name)
    def paused(*args, **kwargs):
        result = original(*args, **kwargs)
        pathlib.Path(signal_file).touch()
        time.sleep(600)
        return result
    setattr(owner, name, paused)
    extraction.extract_archive(archive, target)
    """
)
ARCHIVE = {f"corpus/part-{i:02d}.txt": os.urandom(20_000) for i in range(8)} | {
    "README": b"a second top-level entry\n"
}


@pytest.mark.slow
@pytest.mark.parametrize(
    "pause_in",
    ["tarfile.TarFile.makefile", "extraction._replace"],
    ids=["while-writing-members", "while-renaming-entries"],
)
def test_a_sigkilled_extraction_is_redone_by_the_next_run(tmp_path, pause_in):
    archive = tmp_path / "corpus.tar.gz"
    archive.write_bytes(tar_bytes(ARCHIVE))
    target, signal_file = tmp_path / "data", tmp_path / "paused"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(archive), str(target), pause_in, str(signal_file)],
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    try:
        deadline = time.monotonic() + 120
        while not signal_file.exists():
            assert child.poll() is None, "the extraction ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.02)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(timeout=60)
    assert child.returncode == -signal.SIGKILL
    assert not extraction_complete(archive.name, target, sha(archive.read_bytes()))
    assert not (target / ".corpus.tar.gz.extracted").exists()
    extract_archive(archive, target)  # the next run
    for name, data in ARCHIVE.items():
        assert (target / name).read_bytes() == data, name
    assert sorted(p.name for p in target.iterdir()) == [
        ".corpus.tar.gz.extracted",
        ".corpus.tar.gz.lock",
        "README",
        "corpus",
    ]
