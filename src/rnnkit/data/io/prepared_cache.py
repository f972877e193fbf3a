"""Prepare once, read mapped: encoded splits stored as flat arrays, keyed by what made them.

A datamodule's preparation (read, tokenise, count, encode) turns input files and settings into
encoded examples. :class:`PreparedCache` stores them once as one folder per key::

    <root>/<name>-<key>/
        manifest.json        written last: its presence marks the folder complete
        artifacts.json       the fitted state (vocabularies, label maps, scalers)
        <split>/<field>.bin  one flat array per field, in the order examples were written
        <split>/<field>.offsets.bin   int64 (N + 1,) row starts, for variable-length fields

The key is a SHA-256 over the datamodule's class, the cache format version, the preparation
settings and each input file's identity (resolved path, size, modification and change time in
nanoseconds): editing, replacing or touching a file, or changing a setting, gives another key,
so a stale folder is never read. A preparation writes into a temporary folder beside the final
one and renames it into place only after ``manifest.json`` is written, so a killed preparation
leaves nothing that is read as complete (its temporary folder is removed by the next one).

Training reads the arrays on demand (:class:`MappedSplit`), and no per-example Python object
survives set-up: whole arrays through :class:`numpy.memmap` (a language model's stream, a
series' windows), single examples with ``os.pread`` of just their bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import weakref
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np
from torch.utils.data import Dataset, Subset

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
ARTIFACTS = "artifacts.json"

# One encoded example: field name -> a scalar (one value per example) or a 1-D sequence
# (variable length per example).
Example = Mapping[str, Any]


def file_identity(path: str | os.PathLike) -> dict[str, Any]:
    """What changes whenever a file's content may have: path, size, mtime and ctime (ns).

    The change time is set by the kernel on every write and cannot be restored by tools that
    copy or reset modification times, so an edited file never keeps its identity.
    """
    resolved = Path(path).resolve()
    try:
        stat = resolved.stat()
    except FileNotFoundError:
        raise FileNotFoundError(f"{resolved}: input file not found") from None
    return {
        "path": str(resolved),
        "size": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
        "ctime_ns": stat.st_ctime_ns,
    }


def cache_key(name: str, settings: Mapping[str, Any], files: Iterable[str | os.PathLike]) -> str:
    """A 16-hex-digit key of the class ``name``, the settings and the input files' identities."""
    identity = {
        "format": FORMAT_VERSION,
        "name": name,
        "settings": settings,
        "files": [file_identity(f) for f in files],
    }
    text = json.dumps(identity, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def narrowest_unsigned(max_value: int) -> np.dtype:
    """The smallest unsigned integer dtype holding ``0 .. max_value``."""
    for dtype in (np.uint8, np.uint16, np.uint32, np.uint64):
        if max_value <= np.iinfo(dtype).max:
            return np.dtype(dtype)
    raise ValueError(f"max_value: {max_value} does not fit in 64 bits")


Columns = dict[str, tuple[np.ndarray, "np.ndarray | None"]]


def to_columns(examples: Sequence[Example], fields: Mapping[str, tuple[Any, bool]]) -> Columns:
    """Encoded examples -> per field, the flat values and (variable-length fields) the lengths.

    ``fields`` maps each field name to ``(dtype, ragged)``: a ragged field holds a 1-D
    sequence per example, the others one scalar. Values that do not fit an integer dtype are
    refused rather than wrapped around.
    """
    columns: Columns = {}
    for name, (dtype, ragged) in fields.items():
        dtype = np.dtype(dtype)
        try:
            parts = [example[name] for example in examples]
        except KeyError:
            raise ValueError(f"encoded example: missing the field {name!r}") from None
        if ragged:
            lengths = np.fromiter((_length(p) for p in parts), dtype=np.int64, count=len(parts))
            if parts and all(isinstance(p, np.ndarray) for p in parts):
                values = np.concatenate(parts)
            else:
                wide = np.int64 if dtype.kind in "iu" else np.float64
                values = np.fromiter(
                    chain.from_iterable(parts), dtype=wide, count=int(lengths.sum())
                )
        else:
            lengths = None
            values = np.asarray(parts)
            if values.ndim != 1:
                raise ValueError(
                    f"field {name!r}: expected one value per example, got shape "
                    f"{values.shape[1:]} per example"
                )
        if values.size and dtype.kind in "iu":
            low, high, limits = values.min(), values.max(), np.iinfo(dtype)
            if low < limits.min or high > limits.max:
                raise ValueError(
                    f"field {name!r}: value {low if low < limits.min else high} does not fit "
                    f"{dtype.name}"
                )
        columns[name] = (values.astype(dtype, copy=False), lengths)
    return columns


def _length(part: Any) -> int:
    if isinstance(part, np.ndarray) and part.ndim != 1:
        raise ValueError(f"expected a 1-D sequence per example, got shape {part.shape}")
    return len(part)


class FieldWriter:
    """Appends one field's values (and row ends) to ``<folder>/<name>[.offsets].bin``."""

    def __init__(self, folder: Path, name: str, dtype: Any, ragged: bool) -> None:
        self.name = name
        self.dtype = np.dtype(dtype)
        self.ragged = ragged
        self.values_file = open(folder / f"{name}.bin", "wb")  # noqa: SIM115
        self.offsets_file = open(folder / f"{name}.offsets.bin", "wb") if ragged else None  # noqa: SIM115
        self.total = 0
        if ragged:
            np.zeros(1, dtype=np.int64).tofile(self.offsets_file)

    def write(self, values: np.ndarray, lengths: np.ndarray | None) -> None:
        values.astype(self.dtype, copy=False).tofile(self.values_file)
        if self.ragged:
            ends = self.total + np.cumsum(lengths, dtype=np.int64)
            ends.tofile(self.offsets_file)
        self.total += len(values)

    def close(self) -> dict[str, Any]:
        self.values_file.close()
        if self.offsets_file is not None:
            self.offsets_file.close()
        return {"dtype": self.dtype.str, "ragged": self.ragged, "values": self.total}


class SplitWriter:
    """Writes one split's encoded examples chunk by chunk (see :func:`to_columns`)."""

    def __init__(self, folder: Path, fields: Mapping[str, tuple[Any, bool]]) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.fields = dict(fields)
        self.writers = {
            name: FieldWriter(folder, name, dtype, ragged)
            for name, (dtype, ragged) in fields.items()
        }
        self.count = 0

    def write_columns(self, columns: Columns, count: int) -> None:
        for name, writer in self.writers.items():
            values, lengths = columns[name]
            writer.write(values, lengths)
        self.count += count

    def write_examples(self, examples: Sequence[Example]) -> None:
        self.write_columns(to_columns(examples, self.fields), len(examples))

    def close(self) -> dict[str, Any]:
        fields = {name: writer.close() for name, writer in self.writers.items()}
        return {"examples": self.count, "fields": fields}


class MappedSplit(Dataset):
    """A prepared split on disk; item ``i`` is a dict of its fields' values.

    Variable-length fields give ``values[offsets[i]:offsets[i + 1]]`` (a 1-D array), the others
    ``values[i]`` (a Python number). Items are read with ``os.pread`` of their bytes (offsets,
    then values), not through a memory map: a map keeps every page it touched resident in
    this process, with the kernel's fault-around neighbours (16 pages a fault), so drawing
    random examples from a large split would grow the process by the whole split's size.
    :meth:`values` and :meth:`offsets` map whole arrays, for readers that sweep them in order.
    Files and maps open lazily in each process (worker processes never copy them).
    """

    def __init__(self, folder: Path, description: Mapping[str, Any]) -> None:
        self.folder = Path(folder)
        self.description = dict(description)
        self.size = int(description["examples"])
        self._arrays: dict[str, tuple[np.ndarray, np.ndarray | None]] | None = None
        self._readers: list[_FieldReader] | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_arrays": None, "_readers": None}

    def _open(self, name: str, dtype: str, length: int) -> np.ndarray:
        if length == 0:
            return np.zeros(0, dtype=dtype)
        return np.memmap(self.folder / name, dtype=dtype, mode="r", shape=(length,))

    @property
    def arrays(self) -> dict[str, tuple[np.ndarray, np.ndarray | None]]:
        if self._arrays is None:
            arrays = {}
            for name, field in self.description["fields"].items():
                values = self._open(f"{name}.bin", field["dtype"], field["values"])
                offsets = (
                    self._open(f"{name}.offsets.bin", "<i8", self.size + 1)
                    if field["ragged"]
                    else None
                )
                arrays[name] = (values, offsets)
            self._arrays = arrays
        return self._arrays

    def values(self, field: str) -> np.ndarray:
        """All values of ``field`` as one flat memory-mapped array."""
        return self.arrays[field][0]

    def offsets(self, field: str) -> np.ndarray:
        """``(N + 1,)`` int64 starts of each example's values of a variable-length field."""
        offsets = self.arrays[field][1]
        if offsets is None:
            raise ValueError(f"field {field!r} has one value per example, not a sequence")
        return offsets

    @property
    def readers(self) -> list[_FieldReader]:
        if self._readers is None:
            self._readers = [
                _FieldReader(self.folder, name, field, self.size)
                for name, field in self.description["fields"].items()
            ]
        return self._readers

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not -self.size <= index < self.size:
            raise IndexError(f"index {index} out of range for {self.size} examples")
        index %= self.size
        return {reader.name: reader.read(index) for reader in self.readers}

    def __getitems__(self, indices: Sequence[int]) -> list[dict[str, Any]]:
        return [self[i] for i in indices]


def sequence_lengths(dataset: Dataset | Sequence[dict[str, Any]], field: str) -> np.ndarray:
    """``(N,)`` lengths of a ragged field of an encoded split: from the offsets of a
    :class:`MappedSplit` (no example is read), through a :class:`Subset`, or by counting."""
    if isinstance(dataset, MappedSplit):
        return np.diff(dataset.offsets(field))
    if isinstance(dataset, Subset):
        return sequence_lengths(dataset.dataset, field)[np.asarray(dataset.indices)]
    return np.fromiter((len(e[field]) for e in dataset), dtype=np.int64, count=len(dataset))


class _FieldReader:
    """Reads one field of single examples of a :class:`MappedSplit` with ``os.pread``."""

    def __init__(self, folder: Path, name: str, field: Mapping[str, Any], size: int) -> None:
        self.folder, self.name = folder, name
        self.dtype = np.dtype(field["dtype"])
        self.ragged = bool(field["ragged"])
        # An empty field may have no bytes to read (its file is then never opened).
        self.empty = int(field["values"]) == 0
        flags = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0)
        self.values = None if self.empty else os.open(folder / f"{name}.bin", flags)
        self.offsets = os.open(folder / f"{name}.offsets.bin", flags) if self.ragged else None
        self._finalizer = weakref.finalize(self, _close, [self.values, self.offsets])

    def read(self, index: int) -> Any:
        itemsize = self.dtype.itemsize
        if not self.ragged:
            raw = self._pread(self.values, itemsize, index * itemsize)
            return np.frombuffer(raw, self.dtype)[0].item()
        bounds = self._pread(self.offsets, 16, index * 8, ".offsets")
        start, stop = np.frombuffer(bounds, "<i8").tolist()
        if stop == start:
            return np.zeros(0, dtype=self.dtype)
        raw = self._pread(self.values, (stop - start) * itemsize, start * itemsize)
        return np.frombuffer(raw, self.dtype)

    def _pread(self, descriptor: int, length: int, offset: int, kind: str = "") -> bytes:
        raw = os.pread(descriptor, length, offset)
        if len(raw) != length:  # the file was cut short after it was prepared
            raise ValueError(
                f"prepared data: {self.folder / self.name}{kind}.bin ends before byte "
                f"{offset + length}; "
                "rebuild it with data.rebuild_cache=true"
            )
        return raw


def _close(descriptors: list[int | None]) -> None:
    for descriptor in descriptors:
        if descriptor is not None:
            os.close(descriptor)


class PreparedCache:
    """One datamodule's prepared data under ``root``, for one key (see the module docstring)."""

    def __init__(self, root: str | os.PathLike, name: str, key: str) -> None:
        self.root = Path(root)
        self.name = name
        self.key = key
        self.folder = self.root / f"{name}-{key}"

    @property
    def complete(self) -> bool:
        return (self.folder / MANIFEST).is_file()

    def manifest(self) -> dict[str, Any]:
        path = self.folder / MANIFEST
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise ValueError(f"{path}: unreadable prepared-data manifest ({error})") from None

    def artifacts(self) -> dict[str, Any]:
        return json.loads((self.folder / ARTIFACTS).read_text(encoding="utf-8"))

    def splits(self) -> dict[str, MappedSplit]:
        manifest = self.manifest()
        return {
            split: MappedSplit(self.folder / description.get("folder", split), description)
            for split, description in manifest["splits"].items()
        }

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)

    def _remove_abandoned(self) -> None:
        """Temporary folders of this key whose writer process is gone (killed preparations)."""
        for stale in self.root.glob(f"{self.folder.name}.tmp-*"):
            pid = stale.name.rsplit("-", 1)[-1]
            if not pid.isdigit() or not process_alive(int(pid)):
                shutil.rmtree(stale, ignore_errors=True)

    @contextmanager
    def writing(self) -> Iterator[CacheWriter]:
        """A :class:`CacheWriter` into a temporary folder, published by its ``finish``.

        Leaving the block without ``finish`` (an error, an interrupt) removes the folder.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        self._remove_abandoned()
        temporary = self.root / f"{self.folder.name}.tmp-{os.getpid()}"
        shutil.rmtree(temporary, ignore_errors=True)
        temporary.mkdir()
        writer = CacheWriter(self, temporary)
        try:
            yield writer
            if not writer.finished:
                raise RuntimeError("prepared data: the writer was left without finish()")
        finally:
            shutil.rmtree(temporary, ignore_errors=True)


class CacheWriter:
    """Writes the splits and artifacts of one :class:`PreparedCache` folder."""

    def __init__(self, cache: PreparedCache, folder: Path) -> None:
        self.cache = cache
        self.folder = folder
        self.described: dict[str, Any] = {}
        self.open_splits: dict[str, SplitWriter] = {}
        self.finished = False

    def split(self, name: str, fields: Mapping[str, tuple[Any, bool]]) -> SplitWriter:
        writer = SplitWriter(self.folder / name, fields)
        self.open_splits[name] = writer
        return writer

    def finish(
        self,
        artifacts: Mapping[str, Any],
        extra: Mapping[str, Any] | None = None,
        aliases: Mapping[str, str] | None = None,
    ) -> None:
        """Close every split, write the artifacts and the manifest, publish the folder.

        ``aliases`` maps a split name to a written split it shares the arrays of."""
        described = {name: writer.close() for name, writer in self.open_splits.items()}
        for alias, target in (aliases or {}).items():
            described[alias] = {**described[target], "folder": target}
        (self.folder / ARTIFACTS).write_text(json.dumps(artifacts), encoding="utf-8")
        manifest = {
            "format": FORMAT_VERSION,
            "name": self.cache.name,
            "key": self.cache.key,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "splits": described,
            **(dict(extra) if extra else {}),
        }
        with open(self.folder / MANIFEST, "w", encoding="utf-8") as handle:
            json.dump(manifest, handle, indent=1)
            handle.flush()
            os.fsync(handle.fileno())
        final = self.cache.folder
        if final.exists():  # a rebuild, or another process finished the same key first
            shutil.rmtree(final, ignore_errors=True)
        os.replace(self.folder, final)
        self.finished = True


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` still runs (the writer of a temporary folder)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
