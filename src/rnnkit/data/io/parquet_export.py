"""Export prepared splits as Parquet shards to a folder or a bucket, for streaming.

A datamodule prepared once (see :mod:`rnnkit.data.io.prepared_cache`) is exported to a local
folder or any fsspec URL (``s3://``, ``gs://``, ``hf://``, ``memory://``, ...) as::

    <url>/
        manifest.json                  written last: its presence marks the export complete
        artifacts.json                 the fitted state (vocabularies, label maps, scalers)
        <split>/part-00000.parquet     the split's examples in order, one row per example
        <split>/part-00001.parquet     ...

Columns are the datamodule's encoded fields (:meth:`encoded_fields`): a field with one value
per example is a column of its dtype, a variable-length field a list column of its dtype.
Each split is cut into near-equal shards (sizes differ by at most one example) of at most
``shard_examples`` examples, their number rounded up to a multiple of ``shard_multiple``: with
a shard count that is a multiple of the number of training processes, every process streams
whole shards of its own (see :mod:`rnnkit.data.io.streamed_split`).

``manifest.json`` records the fields, every shard's file and example count (and value count
per variable-length field), the datamodule class, the task and the preparation counts. An
export first removes a previous export's manifest, then writes the shards and artifacts, then
the manifest, so a reader never sees a half-written export as complete. Nothing here is kept
in memory beyond one Parquet row group.

Writing needs :mod:`pyarrow` (the ``stream`` extra: ``pip install 'rnnkit[stream]'``).
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Mapping
from typing import Any

import fsspec
import numpy as np

from rnnkit.data.io.prepared_cache import MappedSplit, to_columns

EXPORT_FORMAT = "rnnkit-parquet-export"
EXPORT_VERSION = 1
MANIFEST = "manifest.json"
ARTIFACTS = "artifacts.json"
TARGET_SHARD_BYTES = 64 << 20
"""Default shard size: about this many bytes of values per shard."""
TARGET_ROW_GROUP_BYTES = 1 << 20
"""Parquet row groups of about this many bytes: the unit a streaming reader fetches and
decodes at once (decoding a list column takes several times its size in memory)."""
STREAM_EXTRA = "pip install 'rnnkit[stream]'"


def require_pyarrow() -> Any:
    """The :mod:`pyarrow` module, or an ImportError saying which extra to install."""
    try:
        import pyarrow
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        raise ImportError(
            f"Parquet export and streaming need pyarrow and Hugging Face datasets: {STREAM_EXTRA}"
        ) from None
    return pyarrow


def filesystem(url: str, storage_options: Mapping[str, Any] | None = None) -> tuple[Any, str]:
    """``(fsspec filesystem, root path)`` of a folder or URL; credentials and endpoints go in
    ``storage_options`` or the filesystem's usual environment variables."""
    fs, root = fsspec.core.url_to_fs(str(url), **dict(storage_options or {}))
    return fs, root.rstrip("/")


def is_local(fs: Any) -> bool:
    protocols = fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)
    return "file" in protocols or "local" in protocols


def write_bytes(fs: Any, path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` at once: on a local disk through a temporary file renamed
    into place, on object storage by one upload (which is atomic there)."""
    if is_local(fs):
        temporary = f"{path}.tmp-{os.getpid()}"
        with open(temporary, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    else:
        fs.pipe_file(path, data)


def shard_sizes(examples: int, shard_examples: int, shard_multiple: int = 1) -> list[int]:
    """Near-equal shard sizes (differing by at most one) summing to ``examples``: at most
    ``shard_examples`` each, their number a multiple of ``shard_multiple`` when there are
    that many examples."""
    for name, value in (("shard_examples", shard_examples), ("shard_multiple", shard_multiple)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name}: expected a positive integer, got {value!r}")
    if examples == 0:
        return []
    count = math.ceil(examples / shard_examples)
    count = min(math.ceil(count / shard_multiple) * shard_multiple, examples)
    base, extra = divmod(examples, count)
    return [base + 1] * extra + [base] * (count - extra)


def split_aliases(datasets: Mapping[str, Any]) -> dict[str, str]:
    """Splits holding the same examples as an earlier split (the same list, or a mapped split
    of the same folder), e.g. ``{"test": "val"}``: exported once."""
    aliases: dict[str, str] = {}
    seen: list[str] = []
    for split, data in datasets.items():
        for other in seen:
            if _same_examples(data, datasets[other]):
                aliases[split] = aliases.get(other, other)
                break
        else:
            seen.append(split)
    return aliases


def _same_examples(a: Any, b: Any) -> bool:
    if isinstance(a, MappedSplit) and isinstance(b, MappedSplit):
        return a.folder == b.folder
    return a is b


class ColumnSource:
    """A split's encoded examples as column slices: ``columns(start, stop)`` gives
    ``{field: (values, lengths or None)}`` of examples ``[start, stop)`` (see
    :func:`~rnnkit.data.io.prepared_cache.to_columns`)."""

    def __init__(self, data: Any, fields: Mapping[str, tuple[Any, bool]]) -> None:
        self.data = data
        self.fields = dict(fields)

    def __len__(self) -> int:
        return len(self.data)

    def value_counts(self) -> dict[str, int]:
        """Values per variable-length field over the whole split."""
        if isinstance(self.data, MappedSplit):
            return {
                name: int(self.data.offsets(name)[-1])
                for name, (_, ragged) in self.fields.items()
                if ragged
            }
        counts = dict.fromkeys((n for n, (_, r) in self.fields.items() if r), 0)
        for start in range(0, len(self.data), 4096):
            for name, (_, lengths) in self.columns(start, start + 4096).items():
                if lengths is not None:
                    counts[name] += int(lengths.sum())
        return counts

    def columns(self, start: int, stop: int) -> dict[str, tuple[np.ndarray, np.ndarray | None]]:
        stop = min(stop, len(self.data))
        if not isinstance(self.data, MappedSplit):
            return to_columns(self.data[start:stop], self.fields)
        columns = {}
        for name, (dtype, ragged) in self.fields.items():
            values = self.data.values(name)
            if ragged:
                offsets = np.asarray(self.data.offsets(name)[start : stop + 1])
                part = np.asarray(values[offsets[0] : offsets[-1]], dtype=dtype)
                columns[name] = (part, np.diff(offsets))
            else:
                columns[name] = (np.asarray(values[start:stop], dtype=dtype), None)
        return columns


def arrow_table(columns: Mapping[str, tuple[np.ndarray, np.ndarray | None]]) -> Any:
    """A pyarrow table of the columns: list columns for variable-length fields."""
    pa = require_pyarrow()
    arrays = {}
    for name, (values, lengths) in columns.items():
        if lengths is None:
            arrays[name] = pa.array(values)
            continue
        if len(values) > np.iinfo(np.int32).max:
            raise ValueError(
                f"field {name!r}: {len(values)} values in one row group exceed Parquet list "
                f"offsets; export with a smaller shard_examples"
            )
        offsets = np.zeros(len(lengths) + 1, dtype=np.int32)
        np.cumsum(lengths, out=offsets[1:])
        arrays[name] = pa.ListArray.from_arrays(pa.array(offsets), pa.array(values))
    return pa.table(arrays)


def arrow_schema(fields: Mapping[str, tuple[Any, bool]]) -> Any:
    pa = require_pyarrow()
    schema = []
    for name, (dtype, ragged) in fields.items():
        value_type = pa.from_numpy_dtype(np.dtype(dtype))
        schema.append((name, pa.list_(value_type) if ragged else value_type))
    return pa.schema(schema)


def write_shard(
    fs: Any,
    path: str,
    source: ColumnSource,
    start: int,
    stop: int,
    row_group_examples: int,
) -> dict[str, int]:
    """Examples ``[start, stop)`` of ``source`` as one Parquet file, row group by row group;
    returns the values written per variable-length field."""
    pa = require_pyarrow()
    values: dict[str, int] = {}
    schema = arrow_schema(source.fields)
    with fs.open(path, "wb") as handle, pa.parquet.ParquetWriter(handle, schema) as writer:
        for first in range(start, stop, row_group_examples):
            columns = source.columns(first, min(first + row_group_examples, stop))
            for name, (part, lengths) in columns.items():
                if lengths is not None:
                    values[name] = values.get(name, 0) + len(part)
            writer.write_table(arrow_table(columns).cast(schema))
    return values


def _bytes_per_example(source: ColumnSource) -> float:
    if not len(source):
        return 1.0
    counts = source.value_counts()
    total = sum(
        np.dtype(dtype).itemsize * (counts[name] if ragged else len(source))
        for name, (dtype, ragged) in source.fields.items()
    )
    return max(total / len(source), 1.0)


def export_prepared(
    datamodule: Any,
    url: str | os.PathLike,
    shard_examples: int | None = None,
    shard_multiple: int = 1,
    storage_options: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Write ``datamodule``'s encoded splits and fitted artifacts to ``url`` (see the module
    docstring) and return the manifest.

    Args:
        datamodule: an :class:`~rnnkit.data.datamodule.RnnkitDataModule` whose
            ``encoded_fields()`` is defined; it is set up first if it is not yet.
        url: a local folder or an fsspec URL (``s3://bucket/prefix``).
        shard_examples: most examples per shard; None: about
            :data:`TARGET_SHARD_BYTES` of values per shard.
        shard_multiple: the shard count of every split is rounded up to a multiple of this
            (use the number of training processes, or a multiple of it).
        storage_options: fsspec options for the URL's filesystem (credentials are better
            left to the filesystem's environment variables).
    """
    require_pyarrow()
    if getattr(datamodule, "streamed", False):
        raise ValueError(
            f"{type(datamodule).__name__}: streams from {datamodule.stream_from}, which is an "
            f"export already; export from the data's files instead"
        )
    if not datamodule.datasets:
        datamodule.setup("fit")
    fields = datamodule.encoded_fields()
    if fields is None:
        raise ValueError(
            f"{type(datamodule).__name__}: cannot be exported; its encoded examples are not "
            f"flat fields (it defines no encoded_fields())"
        )
    fields = {name: (np.dtype(dtype), bool(ragged)) for name, (dtype, ragged) in fields.items()}
    fs, root = filesystem(url, storage_options)
    manifest_path = f"{root}/{MANIFEST}"
    if fs.exists(manifest_path):  # a previous export: no longer complete from here on
        fs.rm(manifest_path)
    fs.makedirs(root, exist_ok=True)
    datasets = datamodule.datasets
    aliases = split_aliases(datasets)
    described: dict[str, Any] = {}
    for split, data in datasets.items():
        if split in aliases:
            continue
        source = ColumnSource(data, fields)
        size = _bytes_per_example(source)
        limit = shard_examples or max(1, int(TARGET_SHARD_BYTES / size))
        row_group = max(1, min(limit, int(TARGET_ROW_GROUP_BYTES / size)))
        folder = f"{root}/{split}"
        if fs.exists(folder):
            fs.rm(folder, recursive=True)
        fs.makedirs(folder, exist_ok=True)
        shards = []
        start = 0
        for number, count in enumerate(shard_sizes(len(source), limit, shard_multiple)):
            relative = f"{split}/part-{number:05d}.parquet"
            values = write_shard(fs, f"{root}/{relative}", source, start, start + count, row_group)
            shards.append({"file": relative, "examples": count, "values": values})
            start += count
        described[split] = {"examples": len(source), "shards": shards}
    for alias, target in aliases.items():
        described[alias] = {**described[target], "same_as": target}
    write_bytes(fs, f"{root}/{ARTIFACTS}", json.dumps(datamodule.artifacts()).encode("utf-8"))
    cls = type(datamodule)
    manifest = {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "datamodule": f"{cls.__module__}.{cls.__qualname__}",
        "task": getattr(datamodule, "task", ""),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "fields": {
            name: {"dtype": dtype.name, "ragged": ragged}
            for name, (dtype, ragged) in fields.items()
        },
        "splits": described,
        "settings": datamodule.preparation_settings(),
        "counts": dict(getattr(datamodule, "preparation", {}).get("counts", {})),
    }
    text = json.dumps(manifest, indent=1, default=str)
    write_bytes(fs, manifest_path, text.encode("utf-8"))
    return manifest
