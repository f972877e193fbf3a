"""Verified downloads of public dataset files into a local cache (stdlib only).

:func:`download` fetches a file from its canonical URL, checks its sha256 and only then puts it
at its final path, atomically: the bytes go to a temporary file in the same folder, which
``os.replace`` renames once complete and verified. An interrupted, truncated or corrupted
download therefore never leaves a file at the final path. A cached file whose checksum matches
is used without touching the network.

There is no download without a checksum: ``sha256=None`` is refused, so that a dataset config
whose checksum is not known yet (``sha256: null``) cannot silently fetch unverified bytes. The
user then passes the published checksum (``data.sha256=<64 hex digits>``) or places the file in
the cache folder by hand.

Archives (``.tar.gz``, ``.tgz``, ``.tar``, ``.zip``) can be extracted into the cache with
``extract=True`` (or :func:`extract_archive`); members whose path would land outside the target
folder (``../x``, absolute paths, links pointing out) are refused.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import re
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

CHUNK_SIZE = 1 << 20
SHA256_PATTERN = re.compile(r"[0-9a-f]{64}")
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".zip")
EXTRACTED_MARKER = ".{name}.extracted"
"""Written next to an archive after a complete extraction; holds the archive's sha256."""


class DownloadError(ValueError):
    """A download that cannot be used: offline, HTTP error, truncated, or checksum mismatch.

    A ValueError, so the command-line tools print it as one line.
    """


def default_cache_dir() -> Path:
    """``$RNNKIT_CACHE_DIR``, or ``~/.cache/rnnkit`` when it is unset or empty."""
    configured = os.environ.get("RNNKIT_CACHE_DIR")
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "rnnkit"


def sha256_of(path: str | Path) -> str:
    """Hex sha256 of the file at ``path``."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(CHUNK_SIZE), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_sha256(sha256: str | None, url: str, cache_dir: Path) -> str:
    """The checksum in lower case; a ValueError when it is missing or malformed."""
    if sha256 is None:
        raise ValueError(
            f"sha256: no checksum given for {url}; rnnkit downloads only files it can verify. "
            f"Pass the published sha256 (e.g. data.sha256=<64 hex digits>) or place the file "
            f"in {cache_dir} by hand"
        )
    if not isinstance(sha256, str) or not SHA256_PATTERN.fullmatch(sha256.lower()):
        raise ValueError(f"sha256: expected 64 hexadecimal digits, got {sha256!r}")
    return sha256.lower()


def filename_from_url(url: str) -> str:
    """The last path segment of ``url`` (``.../aclImdb_v1.tar.gz`` -> ``aclImdb_v1.tar.gz``)."""
    name = urllib.parse.unquote(urllib.parse.urlsplit(url).path.rsplit("/", 1)[-1])
    if not name or name in (".", ".."):
        raise ValueError(f"filename: cannot tell a file name from the url {url!r}; pass filename")
    return name


def is_archive(name: str | Path) -> bool:
    """Whether ``name`` ends in one of :data:`ARCHIVE_SUFFIXES` (case-insensitive)."""
    return str(name).lower().endswith(ARCHIVE_SUFFIXES)


def check_download(download: Any, url: str | None, folder: Any = True) -> bool:
    """``download`` if it is a bool and, when true, a ``url`` (and a ``folder`` to put it in)
    is given; else a ValueError naming the config key."""
    if not isinstance(download, bool):
        raise ValueError(f"download: expected true or false, got {download!r}")
    if download and not url:
        raise ValueError("download: download=true needs data.url, the file's address")
    if download and folder is None:
        raise ValueError("download: download=true needs data.path, the folder to put files in")
    return download


def download(
    url: str,
    sha256: str | None,
    cache_dir: str | Path | None = None,
    filename: str | None = None,
    timeout: float = 30,
    extract: bool = False,
) -> Path:
    """The verified local copy of ``url``: ``cache_dir / filename``, downloaded if needed.

    Args:
        url: an ``http(s)://`` address of a public file.
        sha256: its expected hex sha256 (required: ``None`` raises, see the module docstring).
        cache_dir: folder for the file (created); default :func:`default_cache_dir`.
        filename: the local name; default the last segment of the URL.
        timeout: seconds to wait for the connection and for each read.
        extract: also extract the archive (``.tar.gz``/``.tgz``/``.tar``/``.zip``) into
            ``cache_dir``, once (see :func:`extract_archive`).

    Returns:
        The path of the downloaded (or cached) file.

    Raises:
        ValueError: a bad argument (missing or malformed ``sha256``, a non-http URL).
        DownloadError: the server cannot be reached (offline), answers with an HTTP error,
            sends fewer bytes than its Content-Length, or sends a file whose sha256 differs.
            In every case nothing is left at the final path.
    """
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    scheme = urllib.parse.urlsplit(url).scheme if isinstance(url, str) else None
    if scheme not in ("http", "https"):
        raise ValueError(f"url: expected an http:// or https:// address, got {url!r}")
    expected = check_sha256(sha256, url, cache_dir)
    target = cache_dir / (filename or filename_from_url(url))
    if not (target.is_file() and sha256_of(target) == expected):
        cache_dir.mkdir(parents=True, exist_ok=True)
        _fetch(url, expected, target, timeout)
    if extract:
        extract_archive(target, cache_dir, expected)
    return target


def _fetch(url: str, expected: str, target: Path, timeout: float) -> None:
    """Stream ``url`` into a temporary file next to ``target``; verify; ``os.replace``."""
    hint = f"place the file at {target} by hand (sha256 {expected})"
    if target.is_file():  # present but not matching: say so in any error
        hint += f"; the file there now has sha256 {sha256_of(target)}"
    handle, temporary = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=".part", dir=target.parent
    )
    try:
        digest = hashlib.sha256()
        received = 0
        length: str | None = None
        with os.fdopen(handle, "wb") as out:
            try:
                with urllib.request.urlopen(url, timeout=timeout) as response:
                    length = response.headers.get("Content-Length")
                    while chunk := response.read(CHUNK_SIZE):
                        out.write(chunk)
                        digest.update(chunk)
                        received += len(chunk)
            except urllib.error.HTTPError as error:
                raise DownloadError(
                    f"download of {url} failed: HTTP {error.code} {error.reason}; {hint}"
                ) from None
            except urllib.error.URLError as error:
                raise DownloadError(
                    f"cannot reach {url} ({error.reason}); are you offline? Else {hint}"
                ) from None
            except http.client.IncompleteRead as error:
                received += len(error.partial)  # reported as truncated below
            except (ConnectionError, TimeoutError) as error:
                raise DownloadError(
                    f"download of {url} was interrupted after {received} bytes "
                    f"({type(error).__name__}: {error}); try again or {hint}"
                ) from None
            out.flush()
            os.fsync(out.fileno())
        if length is not None and length.isdigit() and received != int(length):
            raise DownloadError(
                f"truncated download of {url}: expected {int(length)} bytes (Content-Length), "
                f"received {received}; try again or {hint}"
            )
        if digest.hexdigest() != expected:
            raise DownloadError(
                f"checksum mismatch for {url}: expected sha256 {expected}, received "
                f"{digest.hexdigest()} ({received} bytes); the file was not kept"
            )
        os.replace(temporary, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)


def _inside(target_dir: Path, path: Path) -> bool:
    """Whether ``path`` (resolved, links followed) is ``target_dir`` or inside it."""
    resolved = path.resolve()
    return resolved == target_dir or target_dir in resolved.parents


def extract_archive(archive: str | Path, target_dir: str | Path, sha256: str | None = None) -> Path:
    """Extract ``archive`` into ``target_dir`` safely; return ``target_dir``.

    Every member is checked before anything is written: a path escaping ``target_dir``
    (absolute, ``..``), a link pointing outside it, or a device file refuses the whole archive.
    A marker file ``.<archive name>.extracted`` holding the archive's sha256 is written last,
    so a completed extraction is not repeated and an interrupted one is.

    Raises:
        ValueError: an unsafe member (named), or a file that is not a supported archive.
    """
    archive, target_dir = Path(archive), Path(target_dir).resolve()
    sha256 = sha256 or sha256_of(archive)
    marker = target_dir / EXTRACTED_MARKER.format(name=archive.name)
    if marker.is_file() and marker.read_text().strip() == sha256:
        return target_dir
    target_dir.mkdir(parents=True, exist_ok=True)
    name = archive.name.lower()
    if name.endswith(".zip"):
        with zipfile.ZipFile(archive) as zipped:
            for member in zipped.namelist():
                if not _inside(target_dir, target_dir / member):
                    raise ValueError(_unsafe(archive, member, "its path leaves the target folder"))
            zipped.extractall(target_dir)
    elif name.endswith((".tar.gz", ".tgz", ".tar")):
        with tarfile.open(archive) as tarred:
            members = tarred.getmembers()
            for member in members:
                _check_tar_member(archive, target_dir, member)
            if hasattr(tarfile, "data_filter"):
                tarred.extractall(target_dir, members=members, filter="data")
            else:  # pragma: no cover - Python without extraction filters
                tarred.extractall(target_dir, members=members)
    else:
        raise ValueError(
            f"archive: expected a file ending in one of {list(ARCHIVE_SUFFIXES)}, got {archive}"
        )
    marker.write_text(sha256 + "\n")
    return target_dir


def _check_tar_member(archive: Path, target_dir: Path, member: tarfile.TarInfo) -> None:
    if not _inside(target_dir, target_dir / member.name):
        raise ValueError(_unsafe(archive, member.name, "its path leaves the target folder"))
    if member.issym() or member.islnk():
        # A symbolic link is relative to its own folder, a hard link to the archive's root.
        base = (target_dir / member.name).parent if member.issym() else target_dir
        if Path(member.linkname).is_absolute() or not _inside(target_dir, base / member.linkname):
            raise ValueError(_unsafe(archive, member.name, f"it links outside ({member.linkname})"))
    elif not (member.isfile() or member.isdir()):
        raise ValueError(_unsafe(archive, member.name, "it is not a regular file or folder"))


def _unsafe(archive: Path, member: str, why: str) -> str:
    return f"archive: refusing to extract {archive}: member {member!r} is unsafe ({why})"
