"""Stream an export (see :mod:`rnnkit.data.io.parquet_export`) from a folder or a bucket:
each training process reads its own share, every example once per epoch.

:class:`Export` reads ``manifest.json`` and ``artifacts.json``; each split is a
:class:`StreamedSplit` (its size and shards, nothing downloaded). :class:`StreamedBatches`
turns a split into one process's batches through a Hugging Face ``datasets`` streaming
dataset of the Parquet shards (``load_dataset("parquet", data_files=..., streaming=True)``):
shards are fetched as they are read, row group by row group, so memory stays at one row group
plus the shuffle buffer whatever the size of the data.

**Sharing out under DDP** (:func:`rank_share`). With ``W`` processes, a split of ``N``
examples in ``K`` shards, and ``R = len(epoch_rounds(N, batch_size, W))`` batches per process
(the count :class:`~rnnkit.data.io.sharded_batches.ShardedBatches` gives a cached split):

* shard rule, when ``K`` is a multiple of ``W`` and every process's shards hold at least
  ``R`` examples: process ``r`` streams shards ``r, r + W, r + 2W, ...`` (as
  ``datasets.distributed.split_dataset_by_node`` deals them) and nothing else;
* example rule, otherwise: every process streams every shard and keeps examples
  ``r, r + W, r + 2W, ...`` of the stream (``split_dataset_by_node``'s fallback).

Each process knows its exact example count from the manifest's shard counts and cuts its
stream into exactly ``R`` batches, so every process runs the same number of steps (DDP would
hang otherwise) and together they read every example exactly once. Batches hold
``batch_size`` examples but the last, as with a cached split; when a process's shards hold
more or fewer than that, its ``R`` batches are near-equal instead.

rnnkit deals the shards itself rather than calling ``split_dataset_by_node`` on a shuffled
dataset: ``datasets`` shuffles the shard list before it deals it out, with its own generator,
so which shards (and how many examples) a process gets would not be known in advance.

**Shuffling** (training): ``datasets``' ``shuffle(seed, buffer_size)`` with ``set_epoch``
reorders the process's shards and mixes examples in a buffer, the same way on every process.
Under the shard rule no example leaves its process's shards; under the example rule every
process shuffles the whole stream identically before keeping its every ``W``-th example, so
the examples are still split exactly once.

DataLoader worker processes are not used: each would stream the whole share again.

Streaming needs the ``stream`` extra (``pip install 'rnnkit[stream]'``).
"""

from __future__ import annotations

import inspect
import json
import logging
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from torch.utils.data import IterableDataset, get_worker_info

from rnnkit.data.io.parquet_export import (
    ARTIFACTS,
    EXPORT_FORMAT,
    EXPORT_VERSION,
    MANIFEST,
    STREAM_EXTRA,
    filesystem,
    is_local,
    require_pyarrow,
)
from rnnkit.data.io.sharded_batches import epoch_rounds

log = logging.getLogger(__name__)

DEFAULT_SHUFFLE_BUFFER = 10_000
"""Examples held in the shuffle buffer of a streamed training split."""
READ_ROWS = 1024
"""Rows per table read from the stream."""


def require_datasets() -> Any:
    """The Hugging Face :mod:`datasets` module, or an ImportError saying which extra to
    install."""
    try:
        import datasets
    except ImportError:
        raise ImportError(f"streaming needs Hugging Face datasets: {STREAM_EXTRA}") from None
    return datasets


# ---- sharing out ------------------------------------------------------------------------


@dataclass(frozen=True)
class RankShare:
    """What one process streams of a split: the rule (``"shards"`` or ``"examples"``), the
    shards it reads, its example count and the size of each of its batches."""

    rule: str
    shards: tuple[int, ...]
    examples: int
    batch_sizes: tuple[int, ...]


def batch_sizes(examples: int, batches: int, batch_size: int) -> tuple[int, ...]:
    """``batches`` non-empty batch sizes summing to ``examples``: ``batch_size`` each but the
    last (which holds 1 to ``batch_size + 1``) when that fits, else near-equal."""
    if batches == 0:
        if examples:
            raise ValueError(f"{examples} examples cannot fill 0 batches")
        return ()
    last = examples - (batches - 1) * batch_size
    if 1 <= last <= batch_size + 1:
        return (batch_size,) * (batches - 1) + (last,)
    if examples < batches:
        raise ValueError(f"{examples} examples cannot fill {batches} non-empty batches")
    base, extra = divmod(examples, batches)
    return (base + 1,) * extra + (base,) * (batches - extra)


def rank_share(
    shard_examples: Sequence[int], batch_size: int, rank: int = 0, world_size: int = 1
) -> RankShare:
    """Process ``rank`` of ``world_size``'s share of a split whose shards hold
    ``shard_examples`` examples (see the module docstring for the rules)."""
    if not 0 <= rank < world_size:
        raise ValueError(f"rank: expected 0 <= rank < {world_size}, got {rank}")
    counts = [int(c) for c in shard_examples]
    total = sum(counts)
    rounds = len(epoch_rounds(total, batch_size, world_size))
    if len(counts) % world_size == 0:
        per_rank = [sum(counts[r::world_size]) for r in range(world_size)]
        if min(per_rank) >= rounds:
            return RankShare(
                "shards",
                tuple(range(rank, len(counts), world_size)),
                per_rank[rank],
                batch_sizes(per_rank[rank], rounds, batch_size),
            )
    examples = len(range(rank, total, world_size))
    return RankShare(
        "examples", tuple(range(len(counts))), examples, batch_sizes(examples, rounds, batch_size)
    )


# ---- the export -------------------------------------------------------------------------


class Export:
    """An export at a folder or URL: its manifest, artifacts and splits.

    Raises FileNotFoundError (one line, naming the URL) when there is no ``manifest.json``:
    nothing was exported there, or the export is unfinished. ``cache_dir`` is where
    ``datasets`` keeps its few lock files (None: its own default, ``~/.cache/huggingface``);
    no data is cached.
    """

    def __init__(
        self,
        url: str,
        storage_options: Mapping[str, Any] | None = None,
        cache_dir: str | os.PathLike | None = None,
    ) -> None:
        self.url = str(url)
        self.storage_options = dict(storage_options or {})
        self.cache_dir = None if cache_dir is None else str(cache_dir)
        self.fs, self.root = filesystem(self.url, self.storage_options)
        self.manifest = self._read_json(MANIFEST, "manifest")
        if self.manifest.get("format") != EXPORT_FORMAT or not isinstance(
            self.manifest.get("version"), int
        ):
            raise ValueError(f"{self.url}/{MANIFEST}: not an rnnkit export manifest")
        if self.manifest["version"] > EXPORT_VERSION:
            raise ValueError(
                f"{self.url}/{MANIFEST}: export format version {self.manifest['version']} is "
                f"newer than this rnnkit reads ({EXPORT_VERSION}); upgrade rnnkit"
            )

    def _read_json(self, name: str, what: str) -> dict[str, Any]:
        path = f"{self.root}/{name}"
        try:
            text = self.fs.cat_file(path)
        except FileNotFoundError:
            raise FileNotFoundError(
                f"{self.url}: no {name}; expected a complete export there (rnnkit-prepare "
                f"export=<url> writes the {what} last: the export is missing or unfinished)"
            ) from None
        except OSError as error:
            raise OSError(f"{self.url}: cannot read {name} ({error})") from None
        try:
            return json.loads(text)
        except ValueError as error:
            raise ValueError(f"{self.url}/{name}: unreadable {what} ({error})") from None

    def artifacts(self) -> dict[str, Any]:
        return self._read_json(ARTIFACTS, "artifacts")

    @property
    def fields(self) -> dict[str, tuple[np.dtype, bool]]:
        return {
            name: (np.dtype(field["dtype"]), bool(field["ragged"]))
            for name, field in self.manifest["fields"].items()
        }

    @property
    def splits(self) -> list[str]:
        return list(self.manifest["splits"])

    def split(self, name: str) -> StreamedSplit:
        if name not in self.manifest["splits"]:
            raise KeyError(f"{self.url}: the export holds no {name!r} split, only {self.splits}")
        return StreamedSplit(self, name)

    def path(self, relative: str) -> str:
        """A file of the export as a path of :attr:`fs`."""
        return f"{self.root}/{relative}"

    def file_url(self, relative: str) -> str:
        """A file of the export as ``datasets`` reads it: a local path, or a full URL."""
        path = self.path(relative)
        return path if is_local(self.fs) else self.fs.unstrip_protocol(path)


class StreamedSplit:
    """One split of an :class:`Export`: ``len()`` examples in shards; read it with
    :meth:`batches` (one process's batches), :meth:`read_values` (a range of one field's flat
    values) or by iterating (every example in order, as a dict like a mapped split's)."""

    def __init__(self, export: Export, name: str) -> None:
        self.export = export
        self.name = name
        description = export.manifest["splits"][name]
        self.shards: list[dict[str, Any]] = list(description["shards"])
        self.size = int(description["examples"])
        if sum(int(s["examples"]) for s in self.shards) != self.size:
            raise ValueError(
                f"{export.url}/{MANIFEST}: split {name!r} holds {self.size} examples but its "
                f"shards add up to another count"
            )

    def __len__(self) -> int:
        return self.size

    def __repr__(self) -> str:
        return f"StreamedSplit({self.export.url!r}, {self.name!r}, {self.size} examples)"

    @property
    def shard_examples(self) -> list[int]:
        return [int(s["examples"]) for s in self.shards]

    def batches(
        self,
        collate: Callable[[list[Any]], Any],
        batch_size: int,
        shuffle: bool,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        buffer_size: int = DEFAULT_SHUFFLE_BUFFER,
    ) -> StreamedBatches:
        return StreamedBatches(
            self, collate, batch_size, shuffle, seed, rank, world_size, buffer_size
        )

    def tables(self, shards: Sequence[int], columns: Sequence[str] | None = None) -> Iterator[Any]:
        """pyarrow tables (one per row group) of ``shards``, in order."""
        pa = require_pyarrow()
        for index in shards:
            path = self.export.path(self.shards[index]["file"])
            with self.export.fs.open(path, "rb") as handle:
                parquet = pa.parquet.ParquetFile(handle)
                for group in range(parquet.num_row_groups):
                    yield parquet.read_row_group(group, columns=columns)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        fields = self.export.fields
        for table in self.tables(range(len(self.shards))):
            yield from table_examples(table, fields)

    def value_count(self, field: str) -> int:
        """Values of a variable-length field over the split."""
        return sum(int(s["values"][field]) for s in self.shards)

    def read_values(
        self, field: str, start: int, stop: int, out: np.ndarray, flag: str | None = None
    ) -> np.ndarray:
        """Copy values ``[start, stop)`` of the variable-length ``field`` (the split's examples'
        values end to end) into ``out`` (``stop - start`` long), reading only the shards they
        lie in; returns the positions in ``out`` where an example whose ``flag`` field is
        non-zero begins (empty without ``flag``)."""
        if len(out) != stop - start:
            raise ValueError(f"out: expected {stop - start} values, got {len(out)}")
        marks: list[np.ndarray] = []
        shard_start = 0
        for index, shard in enumerate(self.shards):
            shard_stop = shard_start + int(shard["values"][field])
            if shard_stop > start and shard_start < stop:
                position = shard_start
                columns = [field] if flag is None else [field, flag]
                for table in self.tables([index], columns):
                    column = table.column(field).combine_chunks()
                    offsets = column.offsets.to_numpy().astype(np.int64)
                    values = column.values.to_numpy(zero_copy_only=False)
                    base = position - offsets[0]
                    low, high = max(start, position), min(stop, base + offsets[-1])
                    if low < high:
                        out[low - start : high - start] = values[low - base : high - base]
                    if flag is not None:
                        begins = base + offsets[:-1]
                        flags = table.column(flag).to_numpy() != 0
                        inside = flags & (begins >= start) & (begins < stop)
                        marks.append(begins[inside] - start)
                    position = base + offsets[-1]
                    if position >= stop:
                        break
            shard_start = shard_stop
            if shard_start >= stop:
                break
        require_pyarrow().default_memory_pool().release_unused()  # decoding buffers
        return np.concatenate(marks) if marks else np.zeros(0, dtype=np.int64)


def table_examples(table: Any, fields: Mapping[str, tuple[Any, bool]]) -> list[dict[str, Any]]:
    """A pyarrow table's rows as encoded examples: ``{field: 1-D numpy view (variable-length)
    or Python scalar}``, as a mapped split's items are."""
    names, columns = [], []
    for name, (_, ragged) in fields.items():
        column = table.column(name).combine_chunks()
        if ragged:
            offsets = column.offsets.to_numpy()
            values = column.values.to_numpy(zero_copy_only=False)
            columns.append([values[offsets[i] : offsets[i + 1]] for i in range(len(column))])
        else:
            columns.append(column.to_numpy(zero_copy_only=False).tolist())
        names.append(name)
    return [dict(zip(names, row)) for row in zip(*columns)]


# ---- one process's batches --------------------------------------------------------------


class StreamedBatches(IterableDataset):
    """Process ``rank`` of ``world_size``'s collated batches of a :class:`StreamedSplit`, one
    epoch per iteration: exactly ``len(self)`` batches, the counts of :func:`rank_share`.

    Args:
        split: the streamed split.
        collate: a list of encoded examples -> a batch.
        batch_size: examples per batch and process.
        shuffle: reorder every epoch (from ``seed`` and the epoch number), the same way on
            every process.
        rank, world_size: this process among the DDP processes.
        buffer_size: examples in the shuffle buffer.

    The epoch number advances on each iteration. Raises RuntimeError when the stream holds
    more or fewer examples than the manifest says (the export changed while being read).
    """

    def __init__(
        self,
        split: StreamedSplit,
        collate: Callable[[list[Any]], Any],
        batch_size: int,
        shuffle: bool,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        buffer_size: int = DEFAULT_SHUFFLE_BUFFER,
    ) -> None:
        self.split = split
        self.collate = collate
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.buffer_size = buffer_size
        self.epoch = 0
        self.share = rank_share(split.shard_examples, batch_size, rank, world_size)
        self._files: Any = None  # the datasets streaming dataset of this share, made once
        largest = max(self.share.batch_sizes, default=0)
        if largest > batch_size + 1:
            log.warning(
                "%s %s split: process %d streams %d examples in %d batches of up to %d "
                "(batch_size %d); export with shard_multiple=%d for even shares",
                split.export.url,
                split.name,
                rank,
                self.share.examples,
                len(self.share.batch_sizes),
                largest,
                batch_size,
                world_size,
            )

    def __len__(self) -> int:
        return len(self.share.batch_sizes)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_files": None}

    def stream(self, epoch: int) -> Any:
        """This process's ``datasets`` streaming dataset for ``epoch`` (arrow format)."""
        if self._files is None:  # resolving the files costs a request per file: once
            datasets = require_datasets()
            export = self.split.export
            files = [export.file_url(self.split.shards[i]["file"]) for i in self.share.shards]
            self._files = datasets.load_dataset(
                "parquet",
                data_files=files,
                split="train",
                streaming=True,
                storage_options=export.storage_options or None,
                cache_dir=export.cache_dir,
            )
        dataset = self._files
        if self.shuffle:
            options = {"seed": self.seed, "buffer_size": self.buffer_size}
            if "max_buffer_input_shards" in inspect.signature(dataset.shuffle).parameters:
                # One shard at a time into the buffer: reading several in threads makes
                # datasets wait 5 s at the end of every epoch (an arrow work-around).
                options["max_buffer_input_shards"] = 1
            dataset = dataset.shuffle(**options).with_format("arrow")
            dataset.set_epoch(epoch)  # after with_format, which starts again at epoch 0
            return dataset
        return dataset.with_format("arrow")

    def rank_tables(self, epoch: int) -> Iterator[Any]:
        """pyarrow tables of this process's examples, in the epoch's order."""
        if not self.share.shards or not self.share.examples:
            return
        position = 0
        for table in self.stream(epoch).iter(batch_size=READ_ROWS):
            if self.share.rule == "examples":
                rows = position + np.arange(len(table))
                position += len(table)
                table = table.take(np.flatnonzero(rows % self.world_size == self.rank))
            if len(table):
                yield table

    def __iter__(self) -> Iterator[Any]:
        worker = get_worker_info()
        if worker is not None and worker.num_workers > 1:
            raise RuntimeError(
                "streamed batches: expected a DataLoader without worker processes "
                "(num_workers=0); each worker would stream the whole share again"
            )
        pa = require_pyarrow()
        epoch = self.epoch
        self.epoch += 1
        fields = self.split.export.fields
        sizes = iter(self.share.batch_sizes)
        need = next(sizes, None)
        pending: list[Any] = []
        held = read = 0
        for table in self.rank_tables(epoch):
            pending.append(table)
            held += len(table)
            read += len(table)
            if need is None or read > self.share.examples:
                break
            while need is not None and held >= need:
                joined = pa.concat_tables(pending) if len(pending) > 1 else pending[0]
                yield self.collate(table_examples(joined.slice(0, need), fields))
                rest = joined.slice(need)
                pending = [rest] if len(rest) else []
                held -= need
                need = next(sizes, None)
        if read != self.share.examples:
            raise RuntimeError(
                f"{self.split.export.url}: process {self.rank} streamed "
                f"{'more than ' if read > self.share.examples else ''}{read} examples of the "
                f"{self.split.name} split, the manifest promises {self.share.examples}; the "
                f"export changed while being read, or is damaged"
            )
