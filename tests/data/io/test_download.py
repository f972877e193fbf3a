"""Verified, atomic downloads against a local HTTP server (127.0.0.1 only), and safe extraction."""

from __future__ import annotations

import hashlib
import io
import tarfile
import zipfile
from pathlib import Path

import pytest

from local_server import local_server, unused_port
from rnnkit.data.io.download import (
    ArchiveError,
    DownloadError,
    default_cache_dir,
    download,
    extract_archive,
    sha256_of,
)

SST2_TSV = b"sentence\tlabel\nit 's a charming and often affecting journey . \t1\n"
IMDB_REVIEW = b"A wonderful little production. <br /><br />The filming technique is fine."


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def tar_gz(members: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    """A .tar.gz holding ``members`` (name -> bytes) and symbolic ``links`` (name -> target)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            archive.addfile(info)
    return buffer.getvalue()


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


IMDB_ARCHIVE = tar_gz(
    {
        "aclImdb/train/pos/0_9.txt": IMDB_REVIEW,
        "aclImdb/train/neg/1_2.txt": b"Dull. <br />Avoid.",
        "aclImdb/README": b"Large Movie Review Dataset v1.0\n",
    }
)
SST2_ARCHIVE = zip_bytes({"SST-2/train.tsv": SST2_TSV, "SST-2/dev.tsv": SST2_TSV})


@pytest.fixture
def server():
    with local_server() as running:
        yield running


def nothing_left(folder: Path, name: str) -> bool:
    """No file at the final path and no temporary file beside it."""
    return not (folder / name).exists() and not list(folder.glob(f".{name}.*"))


def test_download_verifies_writes_and_reuses_the_cache(server, tmp_path):
    url = server.add("/glue/SST-2/train.tsv", SST2_TSV)
    path = download(url, sha(SST2_TSV), tmp_path / "cache", timeout=5)
    assert path == tmp_path / "cache" / "train.tsv"
    assert path.read_bytes() == SST2_TSV
    assert server.requests == ["/glue/SST-2/train.tsv"]
    again = download(url, sha(SST2_TSV).upper(), tmp_path / "cache", timeout=5)
    assert again == path and server.requests == ["/glue/SST-2/train.tsv"]  # no second request
    assert list((tmp_path / "cache").iterdir()) == [path]  # no temporary file left


def test_a_cached_file_that_does_not_match_is_downloaded_again(server, tmp_path):
    url = server.add("/train.tsv", SST2_TSV)
    (tmp_path / "train.tsv").write_bytes(SST2_TSV[:10])
    download(url, sha(SST2_TSV), tmp_path, timeout=5)
    assert (tmp_path / "train.tsv").read_bytes() == SST2_TSV and len(server.requests) == 1


def test_filename_names_the_local_copy(server, tmp_path):
    url = server.add("/download?id=7", SST2_TSV)
    assert download(url, sha(SST2_TSV), tmp_path, filename="dev.tsv", timeout=5).name == "dev.tsv"


def test_checksum_mismatch_names_url_expected_and_received(server, tmp_path):
    url = server.add("/train.tsv", SST2_TSV)
    wrong = sha(b"something else")
    with pytest.raises(DownloadError, match="checksum mismatch") as caught:
        download(url, wrong, tmp_path, timeout=5)
    message = str(caught.value)
    assert url in message and wrong in message and sha(SST2_TSV) in message
    assert nothing_left(tmp_path, "train.tsv")


@pytest.mark.parametrize("missing", [1, 4096])
def test_truncated_download_is_an_error_and_leaves_nothing(server, tmp_path, missing):
    url = server.add("/aclImdb_v1.tar.gz", IMDB_ARCHIVE, content_length=len(IMDB_ARCHIVE) + missing)
    with pytest.raises(DownloadError, match="truncated") as caught:
        download(url, sha(IMDB_ARCHIVE), tmp_path, timeout=5, extract=True)
    message = str(caught.value)
    assert url in message
    assert f"expected {len(IMDB_ARCHIVE) + missing} bytes" in message
    assert f"received {len(IMDB_ARCHIVE)}" in message
    assert nothing_left(tmp_path, "aclImdb_v1.tar.gz") and not (tmp_path / "aclImdb").exists()


def test_server_down_is_a_one_line_offline_error(tmp_path):
    url = f"http://127.0.0.1:{unused_port()}/SST-2.zip"
    with pytest.raises(DownloadError, match="cannot reach") as caught:
        download(url, sha(SST2_ARCHIVE), tmp_path / "cache", timeout=5)
    message = str(caught.value)
    assert url in message and "by hand" in message and str(tmp_path / "cache") in message
    assert "\n" not in message
    assert nothing_left(tmp_path / "cache", "SST-2.zip")


def test_http_error_is_reported(server, tmp_path):
    url = server.url("/missing.zip")
    with pytest.raises(DownloadError, match="HTTP 404") as caught:
        download(url, sha(b""), tmp_path, timeout=5)
    assert url in str(caught.value) and nothing_left(tmp_path, "missing.zip")


def test_no_download_without_a_checksum(server, tmp_path):
    url = server.add("/SST-2.zip", SST2_ARCHIVE)
    with pytest.raises(ValueError, match="sha256: no checksum") as caught:
        download(url, None, tmp_path, timeout=5)
    assert "by hand" in str(caught.value) and server.requests == []


@pytest.mark.parametrize(
    ("url", "checksum", "argument"),
    [
        ("http://127.0.0.1:1/a.zip", "abc", "sha256"),
        ("http://127.0.0.1:1/a.zip", "g" * 64, "sha256"),
        ("ftp://127.0.0.1/a.zip", "0" * 64, "url"),
        ("/local/a.zip", "0" * 64, "url"),
        ("http://127.0.0.1:1/..%2F..", "0" * 64, "url http://127.0.0.1:1/..%2F.."),
    ],
)
def test_bad_arguments_are_named(tmp_path, url, checksum, argument):
    with pytest.raises(ValueError, match=f"^{argument}:"):
        download(url, checksum, tmp_path, timeout=5)


@pytest.mark.parametrize(
    ("name", "data", "extracted"),
    [
        ("aclImdb_v1.tar.gz", IMDB_ARCHIVE, "aclImdb/train/pos/0_9.txt"),
        ("SST-2.zip", SST2_ARCHIVE, "SST-2/train.tsv"),
    ],
)
def test_archives_are_extracted_once(server, tmp_path, name, data, extracted):
    url = server.add(f"/{name}", data)
    download(url, sha(data), tmp_path, timeout=5, extract=True)
    member = tmp_path / extracted
    assert member.is_file()
    member.write_bytes(b"edited")  # a second call neither downloads nor extracts again
    download(url, sha(data), tmp_path, timeout=5, extract=True)
    assert member.read_bytes() == b"edited" and len(server.requests) == 1


UNSAFE_ARCHIVES = {
    "parent.tar.gz": tar_gz({"aclImdb/../../escaped.txt": b"x"}),
    "absolute.tar.gz": tar_gz({"/tmp/rnnkit_escaped_absolute.txt": b"x"}),
    "link.tar.gz": tar_gz({}, links={"aclImdb/evil": "../../escaped.txt"}),
    "parent.zip": zip_bytes({"../escaped.txt": b"x"}),
}


@pytest.mark.parametrize("name", sorted(UNSAFE_ARCHIVES))
def test_path_traversal_archives_are_refused(tmp_path, name):
    target = tmp_path / "cache" / "data"
    archive = tmp_path / name
    archive.write_bytes(UNSAFE_ARCHIVES[name])
    with pytest.raises(ArchiveError, match="refusing to extract") as caught:
        extract_archive(archive, target)
    assert name in str(caught.value)
    assert not (tmp_path / "escaped.txt").exists() and not (tmp_path / "cache/escaped.txt").exists()
    assert not Path("/tmp/rnnkit_escaped_absolute.txt").exists()
    assert not target.exists() or [p.name for p in target.iterdir()] == [f".{name}.lock"]


def test_download_with_extract_refuses_an_unsafe_archive(server, tmp_path):
    data = UNSAFE_ARCHIVES["parent.zip"]
    url = server.add("/SST-2.zip", data)
    with pytest.raises(ArchiveError, match="unsafe"):
        download(url, sha(data), tmp_path / "cache", timeout=5, extract=True)
    assert not (tmp_path / "escaped.txt").exists()
    assert not list((tmp_path / "cache").glob(".*.extracted"))


def test_extract_refuses_other_files(tmp_path):
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(ValueError, match="archive: expected"):
        extract_archive(tmp_path / "notes.txt", tmp_path / "out")


def test_sha256_of_matches_hashlib(tmp_path):
    (tmp_path / "f").write_bytes(IMDB_ARCHIVE)
    assert sha256_of(tmp_path / "f") == sha(IMDB_ARCHIVE)


def test_default_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("RNNKIT_CACHE_DIR", str(tmp_path / "elsewhere"))
    assert default_cache_dir() == tmp_path / "elsewhere"
    monkeypatch.delenv("RNNKIT_CACHE_DIR")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_cache_dir() == tmp_path / ".cache" / "rnnkit"
