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

A file's local name comes from ``filename``, else the URL's last path segment, else the
server's ``Content-Disposition``; it is reduced to a plain base name (``..%2F..%2Fx`` -> ``x``)
and refused when nothing safe is left (``..``, a hidden name, NUL or control characters), so a
download never writes outside its cache folder. Each read waits at most ``timeout`` seconds and
the whole download at most ``deadline`` (``$RNNKIT_DOWNLOAD_DEADLINE``, default one hour).
Every failure (offline, HTTP error, invalid HTTP, connection reset, short read, deadline,
checksum) is one :class:`DownloadError` line naming the URL.

Archives (``.tar.gz``, ``.tgz``, ``.tar``, ``.zip``) can be extracted into the cache with
``extract=True``: all-or-nothing, with a completion marker, unsafe members refused (see
:mod:`rnnkit.data.io.extraction`).

Why not pooch: it verifies and writes atomically as this module does, but its ``Untar`` and
``Unzip`` re-extract only when a member's path is missing, so a file truncated by a killed
extraction is trusted forever (issue 12's defect 4); it extracts in place; its downloads have
a per-request timeout, no total deadline; and it would add ``requests`` and ``platformdirs``.
What would remain of it here is the ~60 lines of :func:`_fetch`.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import re
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from rnnkit.data.io.extraction import (
    ARCHIVE_SUFFIXES,
    ArchiveError,
    extract_archive,
    extraction_complete,
    is_archive,
)

__all__ = [
    "ARCHIVE_SUFFIXES",
    "ArchiveError",
    "DownloadError",
    "download",
    "extract_archive",
    "is_archive",
    "needs_download",
]

CHUNK_SIZE = 1 << 20
SHA256_PATTERN = re.compile(r"[0-9a-f]{64}")
DEFAULT_DEADLINE = 3600.0
"""Seconds a whole download may take unless ``deadline`` or ``$RNNKIT_DOWNLOAD_DEADLINE``
says otherwise (an 84 MB archive at 25 kB/s)."""
DEADLINE_VARIABLE = "RNNKIT_DOWNLOAD_DEADLINE"
UNSAFE_NAME_CHARACTERS = set('<>:"|?*') | {chr(code) for code in range(32)} | {chr(127)}


class DownloadError(OSError):
    """A download that cannot be used: offline, HTTP error, invalid HTTP, connection reset,
    truncated, past its deadline, an unsafe file name, or a checksum mismatch.

    An OSError: bad data or environment, which the command-line tools report as one line with
    exit code 1. Nothing is ever left at the final path.
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


def safe_file_name(name: str, source: str) -> str:
    """``name`` reduced to a plain file name for the cache folder (its last path segment,
    ``\\`` counted as a separator); a ValueError naming ``source`` when none is safe."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1].strip()
    if base in ("", ".", "..") or base.startswith(".") or UNSAFE_NAME_CHARACTERS & set(base):
        raise ValueError(
            f"{source}: no safe file name in {name!r}; expected a plain name such as "
            "'data.tar.gz' (no '..', hidden name, NUL or control characters)"
        )
    return base


def name_in_url(url: str) -> str | None:
    """The file name in ``url``'s path (``.../aclImdb_v1.tar.gz`` -> ``aclImdb_v1.tar.gz``,
    percent-escapes decoded, reduced by :func:`safe_file_name`); None when the path ends in
    ``/``. A ValueError naming ``url`` when the last segment is unsafe (``..%2F..``)."""
    segment = urllib.parse.unquote(urllib.parse.urlsplit(url).path.rsplit("/", 1)[-1])
    return safe_file_name(segment, f"url {url}") if segment else None


def filename_from_url(url: str) -> str:
    """The file name in ``url``'s path; a ValueError when it names none."""
    name = name_in_url(url)
    if name is None:
        raise ValueError(f"filename: cannot tell a file name from the url {url!r}; pass filename")
    return name


def download_deadline(deadline: float | None = None) -> float:
    """``deadline``, else ``$RNNKIT_DOWNLOAD_DEADLINE``, else :data:`DEFAULT_DEADLINE`."""
    source, value = "deadline", deadline
    if value is None:
        source, value = DEADLINE_VARIABLE, os.environ.get(DEADLINE_VARIABLE) or DEFAULT_DEADLINE
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = float("nan")
    if not seconds > 0 or seconds == float("inf"):
        raise ValueError(f"{source}: expected a positive number of seconds, got {value!r}")
    return seconds


def needs_download(url: str | None, sha256: str | None, folder: str | Path | None) -> bool:
    """Whether ``url`` names an archive (with a checksum) that is not completely extracted in
    ``folder``: a datamodule with ``download=true`` then downloads and extracts it again, even
    if files of an earlier, interrupted extraction are there."""
    if not (url and folder is not None and is_archive(url) and isinstance(sha256, str)):
        return False
    name = name_in_url(url)
    return name is not None and not extraction_complete(name, folder, sha256)


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
    deadline: float | None = None,
) -> Path:
    """The verified local copy of ``url``: ``cache_dir / filename``, downloaded if needed.

    Args:
        url: an ``http(s)://`` address of a public file.
        sha256: its expected hex sha256 (required: ``None`` raises, see the module docstring).
        cache_dir: folder for the file (created); default :func:`default_cache_dir`.
        filename: the local name (a plain file name); default the last segment of the URL,
            else the server's ``Content-Disposition``, reduced to a safe base name.
        timeout: seconds to wait for the connection and for each read.
        extract: also extract the archive (``.tar.gz``/``.tgz``/``.tar``/``.zip``) into
            ``cache_dir``, once (see :func:`rnnkit.data.io.extraction.extract_archive`).
        deadline: seconds the whole download may take (checked after every read, so it is
            overrun by at most ``timeout``); default :func:`download_deadline`.

    Returns:
        The path of the downloaded (or cached) file. With ``extract``, a folder whose
        extraction marker matches ``sha256`` is trusted without reading the archive again.

    Raises:
        ValueError: a bad argument (missing or malformed ``sha256``, a non-http URL, an
            unsafe ``filename`` or URL path, a bad ``deadline``).
        DownloadError: the server cannot be reached (offline), answers with an HTTP error or
            invalid HTTP, resets the connection, sends fewer bytes than its Content-Length,
            names no safe file, runs past the deadline, or sends a file whose sha256 differs.
            In every case nothing is left at the final path.
        ArchiveError: with ``extract``, a corrupt archive or an unsafe member.
    """
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    scheme = urllib.parse.urlsplit(url).scheme if isinstance(url, str) else None
    if scheme not in ("http", "https"):
        raise ValueError(f"url: expected an http:// or https:// address, got {url!r}")
    expected = check_sha256(sha256, url, cache_dir)
    seconds = download_deadline(deadline)
    if filename is not None and safe_file_name(str(filename), "filename") != filename:
        raise ValueError(f"filename: expected a plain file name, got {filename!r}")
    name = filename or name_in_url(url)
    if name is not None and extract and extraction_complete(name, cache_dir, expected):
        return cache_dir / name
    target = None if name is None else confined(cache_dir, name, url)
    if target is None or not (target.is_file() and sha256_of(target) == expected):
        cache_dir.mkdir(parents=True, exist_ok=True)
        target = _fetch(url, expected, cache_dir, target, timeout, seconds)
    if extract:
        extract_archive(target, cache_dir, expected)
    return target


def confined(cache_dir: Path, name: str, url: str) -> Path:
    """``cache_dir / name`` if it stays inside ``cache_dir`` (links followed); else a
    DownloadError naming ``url``."""
    target = cache_dir / name
    if target.resolve().parent != cache_dir.resolve():
        raise DownloadError(
            f"download of {url}: refusing to write {target}, which resolves outside the cache "
            f"folder {cache_dir}"
        )
    return target


def _fetch(
    url: str, expected: str, cache_dir: Path, target: Path | None, timeout: float, deadline: float
) -> Path:
    """Stream ``url`` into a temporary file in ``cache_dir``; verify; ``os.replace`` it to
    ``target`` (when None: the ``Content-Disposition`` name). Returns the final path."""
    started = time.monotonic()
    handle, temporary = tempfile.mkstemp(
        prefix=f".{target.name if target else 'download'}.", suffix=".part", dir=cache_dir
    )
    received = 0
    try:
        digest = hashlib.sha256()
        length: str | None = None
        with os.fdopen(handle, "wb") as out:
            try:
                with urllib.request.urlopen(url, timeout=min(timeout, deadline)) as response:
                    length = response.headers.get("Content-Length")
                    if target is None:
                        target = _target_from_headers(response.headers, cache_dir, url)
                        if target.is_file() and sha256_of(target) == expected:
                            return target
                    while chunk := response.read1(CHUNK_SIZE):
                        out.write(chunk)
                        digest.update(chunk)
                        received += len(chunk)
                        if time.monotonic() - started > deadline:
                            raise DownloadError(
                                f"download of {url} ran past its deadline of {deadline:g} s "
                                f"after {received} bytes (raise it with deadline= or "
                                f"${DEADLINE_VARIABLE}); {_hint(target, expected)}"
                            )
            except urllib.error.HTTPError as error:
                raise DownloadError(
                    f"download of {url} failed: HTTP {error.code} {error.reason}; "
                    f"{_hint(target, expected, cache_dir)}"
                ) from None
            except urllib.error.URLError as error:
                raise DownloadError(
                    f"cannot reach {url} ({error.reason}); are you offline? Else "
                    f"{_hint(target, expected, cache_dir)}"
                ) from None
            except http.client.IncompleteRead as error:
                received += len(error.partial)  # reported as truncated below
            except (ConnectionError, TimeoutError) as error:
                raise DownloadError(
                    f"download of {url} was interrupted after {received} bytes "
                    f"({type(error).__name__}: {error}); try again or "
                    f"{_hint(target, expected, cache_dir)}"
                ) from None
            except http.client.HTTPException as error:
                raise DownloadError(
                    f"download of {url} failed: the server's answer is not valid HTTP "
                    f"({type(error).__name__}: {str(error)[:200]!r}); try again or "
                    f"{_hint(target, expected, cache_dir)}"
                ) from None
            except DownloadError:
                raise
            except OSError as error:  # e.g. TLS errors, a full disk
                raise DownloadError(
                    f"download of {url} failed after {received} bytes "
                    f"({type(error).__name__}: {error}); {_hint(target, expected, cache_dir)}"
                ) from None
            out.flush()
            os.fsync(out.fileno())
        if length is not None and length.isdigit() and received != int(length):
            raise DownloadError(
                f"truncated download of {url}: expected {int(length)} bytes (Content-Length), "
                f"received {received}; try again or {_hint(target, expected, cache_dir)}"
            )
        if digest.hexdigest() != expected:
            raise DownloadError(
                f"checksum mismatch for {url}: expected sha256 {expected}, received "
                f"{digest.hexdigest()} ({received} bytes); the file was not kept"
            )
        assert target is not None  # set from the URL or the headers before any byte
        os.replace(temporary, target)
        return target
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)


def _target_from_headers(headers: Any, cache_dir: Path, url: str) -> Path:
    """The cache path named by the response's ``Content-Disposition`` (reduced to a safe base
    name); a DownloadError naming ``url`` when it names none or only an unsafe one."""
    offered = headers.get_filename()
    if not offered:
        raise DownloadError(
            f"download of {url}: neither the URL nor the server (Content-Disposition) names "
            "the file; pass filename"
        )
    try:
        name = safe_file_name(offered, f"download of {url}: Content-Disposition")
    except ValueError as error:
        raise DownloadError(str(error)) from None
    return confined(cache_dir, name, url)


def _hint(target: Path | None, expected: str, cache_dir: Path | None = None) -> str:
    """How to get the file by hand, and what the file there now is, if any."""
    where = target if target is not None else f"{cache_dir}/<file name>"
    hint = f"place the file at {where} by hand (sha256 {expected})"
    if target is not None and target.is_file():  # present but not matching: say so
        hint += f"; the file there now has sha256 {sha256_of(target)}"
    return hint
