"""Safe, all-or-nothing extraction of downloaded archives (``.tar.gz``, ``.tgz``, ``.tar``,
``.zip``).

An archive is extracted into a temporary folder beside its target
(``.<archive>.extracting-<pid>``); only when every member is written are its top-level entries
renamed into the target folder, replacing older copies, and then a completion marker
``.<archive>.extracted`` is written: a small JSON naming the archive, its sha256 and the
entries it put there. A later run trusts the extracted files only when that marker names the
same sha256 and every entry is present. A process killed at any moment (SIGKILL included)
therefore never leaves a truncated file that is trusted: either the entries were not renamed
yet, or the marker is missing and the next run extracts again. Temporary folders of dead
processes are removed by the next extraction.

Every member is checked before anything is written: a path leaving the target (``../x``,
absolute), a link pointing outside, or a device file refuses the whole archive; tar archives
are also extracted with Python's ``filter="data"``. A corrupt or truncated archive raises
:class:`ArchiveError` naming it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tarfile
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rnnkit.data.io.prepared_cache import process_alive

ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".zip")
EXTRACTED_MARKER = ".{name}.extracted"
"""Written in the target folder after a complete extraction: JSON with ``archive``,
``sha256`` and ``entries`` (the top-level names the archive put there)."""
EXTRACTING_FOLDER = ".{name}.extracting-{pid}"
"""The temporary folder one process extracts into, beside the final entries."""


class ArchiveError(OSError):
    """An archive that cannot be used: corrupt, truncated, or holding an unsafe member.

    An OSError: bad data, which the command-line tools report as one line with exit code 1.
    """


def is_archive(name: str | Path) -> bool:
    """Whether ``name`` ends in one of :data:`ARCHIVE_SUFFIXES` (case-insensitive)."""
    return str(name).lower().endswith(ARCHIVE_SUFFIXES)


def marker_path(archive_name: str, target_dir: str | Path) -> Path:
    return Path(target_dir) / EXTRACTED_MARKER.format(name=archive_name)


def extraction_complete(archive_name: str, target_dir: str | Path, sha256: str) -> bool:
    """Whether ``target_dir`` holds a complete extraction of the archive ``archive_name``
    whose sha256 is ``sha256``: its marker names that checksum and all its entries exist."""
    try:
        marker = json.loads(marker_path(archive_name, target_dir).read_text())
    except (OSError, ValueError):
        return False
    return (
        isinstance(marker, dict)
        and marker.get("sha256") == sha256.lower()
        and isinstance(marker.get("entries"), list)
        and all(isinstance(e, str) and (Path(target_dir) / e).exists() for e in marker["entries"])
    )


def extract_archive(archive: str | Path, target_dir: str | Path, sha256: str | None = None) -> Path:
    """Extract ``archive`` into ``target_dir`` safely and all-or-nothing; return ``target_dir``.

    Nothing is done when ``target_dir`` already holds a complete extraction of an archive with
    this sha256 (default: the archive's own). See the module docstring for the guarantees.

    Raises:
        ArchiveError: a corrupt or truncated archive, or an unsafe member (named).
        ValueError: a file that is not a supported archive.
    """
    archive, target_dir = Path(archive), Path(target_dir).resolve()
    if not is_archive(archive):
        raise ValueError(
            f"archive: expected a file ending in one of {list(ARCHIVE_SUFFIXES)}, got {archive}"
        )
    sha256 = (sha256 or sha256_of_file(archive)).lower()
    if extraction_complete(archive.name, target_dir, sha256):
        return target_dir
    target_dir.mkdir(parents=True, exist_ok=True)
    with _locked(target_dir / f".{archive.name}.lock"):
        if extraction_complete(archive.name, target_dir, sha256):  # another process did it
            return target_dir
        _remove_abandoned(archive.name, target_dir)
        temporary = target_dir / EXTRACTING_FOLDER.format(name=archive.name, pid=os.getpid())
        shutil.rmtree(temporary, ignore_errors=True)
        temporary.mkdir()
        try:
            _extract_into(archive, temporary)
            entries = sorted(os.listdir(temporary))
            for entry in entries:
                _replace(temporary / entry, target_dir / entry, archive.name)
            _write_marker(archive.name, target_dir, sha256, entries)
        finally:
            shutil.rmtree(temporary, ignore_errors=True)
    return target_dir


def sha256_of_file(path: Path) -> str:
    """Hex sha256 of the file at ``path``."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _extract_into(archive: Path, folder: Path) -> None:
    """Every member of ``archive`` into the empty ``folder``, after checking them all."""
    try:
        if archive.name.lower().endswith(".zip"):
            with zipfile.ZipFile(archive) as zipped:
                for member in zipped.infolist():
                    if not _inside(folder, folder / member.filename):
                        raise ArchiveError(
                            _unsafe(archive, member.filename, "its path leaves the target folder")
                        )
                zipped.extractall(folder)
        else:
            with tarfile.open(archive) as tarred:
                members = tarred.getmembers()
                for member in members:
                    _check_tar_member(archive, folder, member)
                if hasattr(tarfile, "data_filter"):
                    tarred.extractall(folder, members=members, filter="data")
                else:  # pragma: no cover - Python without extraction filters
                    tarred.extractall(folder, members=members)
    except getattr(tarfile, "FilterError", ()) as error:  # caught by the checks above first
        raise ArchiveError(_unsafe(archive, str(error.tarinfo.name), str(error))) from None
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error) as error:
        reason = (str(error).splitlines() or [""])[0][:200]
        raise ArchiveError(
            f"archive {archive}: cannot extract it, the file is corrupt or truncated "
            f"({type(error).__name__}: {reason}); delete it to download it again"
        ) from None


def _replace(source: Path, destination: Path, archive_name: str) -> None:
    """Rename ``source`` to ``destination``, replacing a file or folder already there."""
    if destination.is_symlink() or destination.exists():
        aside = destination.with_name(f".{archive_name}.replaced-{os.getpid()}-{destination.name}")
        os.replace(destination, aside)
        if aside.is_dir() and not aside.is_symlink():
            shutil.rmtree(aside)
        else:
            aside.unlink()
    os.replace(source, destination)


def _write_marker(archive_name: str, target_dir: Path, sha256: str, entries: list[str]) -> None:
    marker = marker_path(archive_name, target_dir)
    partial = marker.with_name(f"{marker.name}.{os.getpid()}.part")
    record: dict[str, Any] = {"archive": archive_name, "sha256": sha256, "entries": entries}
    partial.write_text(json.dumps(record, indent=1) + "\n")
    os.replace(partial, marker)


def _remove_abandoned(archive_name: str, target_dir: Path) -> None:
    """Temporary folders (and set-aside entries) left by killed extractions of this archive."""
    for prefix in (f".{archive_name}.extracting-", f".{archive_name}.replaced-"):
        for path in target_dir.glob(f"{prefix}*"):
            pid = path.name[len(prefix) :].split("-", 1)[0]
            if pid.isdigit() and not process_alive(int(pid)):
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)


@contextlib.contextmanager
def _locked(lock_file: Path) -> Iterator[None]:
    """An exclusive lock between processes extracting into one folder (POSIX ``flock``)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no lock, renames still all-or-nothing
        yield
        return
    with open(lock_file, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _inside(target_dir: Path, path: Path) -> bool:
    """Whether ``path`` (resolved, links followed) is ``target_dir`` or inside it."""
    resolved = path.resolve()
    return resolved == target_dir or target_dir in resolved.parents


def _check_tar_member(archive: Path, target_dir: Path, member: tarfile.TarInfo) -> None:
    if not _inside(target_dir, target_dir / member.name):
        raise ArchiveError(_unsafe(archive, member.name, "its path leaves the target folder"))
    if member.issym() or member.islnk():
        # A symbolic link is relative to its own folder, a hard link to the archive's root.
        base = (target_dir / member.name).parent if member.issym() else target_dir
        if Path(member.linkname).is_absolute() or not _inside(target_dir, base / member.linkname):
            raise ArchiveError(
                _unsafe(archive, member.name, f"it links outside ({member.linkname})")
            )
    elif not (member.isfile() or member.isdir()):
        raise ArchiveError(_unsafe(archive, member.name, "it is not a regular file or folder"))


def _unsafe(archive: Path, member: str, why: str) -> str:
    return f"archive {archive}: refusing to extract it: member {member!r} is unsafe ({why})"
