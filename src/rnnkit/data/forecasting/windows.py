"""The sliding windows of a split's series, cut on demand from flat arrays."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from torch.utils.data import Dataset

from rnnkit.data.forecasting.dates import format_dates
from rnnkit.data.io.prepared_cache import MappedSplit, to_columns


class EncodedColumns:
    """Encoded examples held in memory as flat columns, read like a
    :class:`~rnnkit.data.io.prepared_cache.MappedSplit` (``values(field)``,
    ``offsets(field)``)."""

    def __init__(self, examples: Sequence[Mapping[str, Any]], fields: Mapping[str, Any]) -> None:
        self.size = len(examples)
        self._columns = {}
        for name, (values, lengths) in to_columns(examples, fields).items():
            offsets = None
            if lengths is not None:
                offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
                np.cumsum(lengths, out=offsets[1:])
            self._columns[name] = (values, offsets)

    def __len__(self) -> int:
        return self.size

    def values(self, field: str) -> np.ndarray:
        return self._columns[field][0]

    def offsets(self, field: str) -> np.ndarray:
        offsets = self._columns[field][1]
        if offsets is None:
            raise ValueError(f"field {field!r} has one value per example, not a sequence")
        return offsets


class ArrayRows:
    """Rows of a ``(steps, width)`` array in memory, gathered per window."""

    def __init__(self, array: np.ndarray) -> None:
        self.array = array

    def read(self, starts: np.ndarray, count: int) -> np.ndarray:
        """``(N, count, width)``: rows ``[start, start + count)`` for each of ``starts``."""
        steps = starts[:, None] + np.arange(count)
        return np.asarray(self.array[steps.ravel()]).reshape(len(starts), count, -1)


class FileRows:
    """Rows of a flat binary array file (a prepared field), read with ``os.preadv``.

    Not through a memory map: the kernel maps the pages around every page a random window
    touches into the process (64 KiB at a time), so over an epoch a map would hold the whole
    file in the process's resident memory; reads leave the pages in the page cache only.
    """

    def __init__(self, path: str | os.PathLike, dtype: Any, width: int) -> None:
        self.path = Path(path)
        self.dtype = np.dtype(dtype)
        self.width = width
        self.row_bytes = self.dtype.itemsize * width
        self._file = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_file": None}

    def read(self, starts: np.ndarray, count: int) -> np.ndarray:
        """``(N, count, width)``: rows ``[start, start + count)`` for each of ``starts``."""
        if self._file is None:
            self._file = open(self.path, "rb", buffering=0)  # noqa: SIM115
        size = count * self.row_bytes
        out = np.empty((len(starts), size), dtype=np.uint8)
        descriptor = self._file.fileno()
        for row, start in zip(out, starts.tolist()):
            if os.preadv(descriptor, [row], start * self.row_bytes) != size:
                raise ValueError(f"{self.path}: shorter than its manifest says (rows {start}+)")
        return out.view(self.dtype).reshape(len(starts), count, self.width)


class SeriesWindows(Dataset):
    """Every window of the series of one split: item ``i`` is window ``i`` of all series in
    order, each starting ``stride`` steps after the one before, never across two series.

    The split is read through ``values(field)`` / ``offsets(field)`` (a prepared
    :class:`~rnnkit.data.io.prepared_cache.MappedSplit` or :class:`EncodedColumns`) with the
    fields of :meth:`ForecastingDataModule.encode
    <rnnkit.data.forecasting.datamodule.ForecastingDataModule.encode>`: ``values`` (each
    example's ``T * F`` normalised float32 values, row by row), ``dates`` (``T`` int64),
    ``first`` (1 where an example starts a series, 0 where it continues the one before),
    ``source`` (UTF-8 bytes of the series' name) and ``date_style``. A series' steps are thus
    one contiguous block of rows of the ``(steps, F)`` value matrix. Only per-series counts
    are held; a window is located with ``np.searchsorted`` over their cumulative sums, and its
    rows are read when asked for (:class:`FileRows` from a prepared split's files,
    :class:`ArrayRows` in memory).

    Item ``i`` is ``{"history": (L, F) float32, "target": (H, T) float32, "covariates": (H, C)
    float32 or None, "horizon_dates": H ISO strings ("" when unknown), "dates": (L + H,) int64
    stored dates of the whole window (:mod:`~rnnkit.data.forecasting.dates`), "source":
    "<series> step <k>"}``.
    """

    def __init__(
        self,
        split: Any,
        num_features: int,
        input_length: int,
        horizon: int,
        stride: int,
        target_indices: Sequence[int],
        covariate_indices: Sequence[int],
    ) -> None:
        self.split = split
        self.num_features = num_features
        self.input_length = input_length
        self.horizon = horizon
        self.stride = stride
        self.target_indices = list(target_indices)
        self.covariate_indices = list(covariate_indices)
        value_offsets = np.asarray(split.offsets("values"), dtype=np.int64)
        if value_offsets[-1] % num_features:
            raise ValueError(
                f"values: {value_offsets[-1]} numbers are no whole rows of {num_features} features"
            )
        step_offsets = value_offsets // num_features
        firsts = np.flatnonzero(np.asarray(split.values("first")))
        if len(split) and (not len(firsts) or firsts[0] != 0):
            raise ValueError("first: the first example of a split must start a series")
        bounds = np.append(firsts, len(split))
        self.series_starts = step_offsets[bounds[:-1]]
        self.series_ends = step_offsets[bounds[1:]]
        span = input_length + horizon
        counts = np.maximum((self.series_ends - self.series_starts - span) // stride + 1, 0)
        self.ends = np.cumsum(counts)  # windows before the end of each series
        source_offsets = np.asarray(split.offsets("source"))
        source_bytes = np.asarray(split.values("source"))
        self.sources = [
            bytes(source_bytes[source_offsets[i] : source_offsets[i + 1]]).decode("utf-8")
            for i in firsts
        ]
        self.styles = np.asarray(split.values("date_style"))[firsts].astype(np.int64)
        self._rows: tuple[Any, Any] | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_rows": None}

    @property
    def rows(self) -> tuple[ArrayRows | FileRows, ArrayRows | FileRows]:
        """Readers of the split's ``(steps, F)`` values and ``(steps, 1)`` dates."""
        if self._rows is None:
            split = self.split
            if isinstance(split, MappedSplit) and len(self):
                fields = split.description["fields"]
                self._rows = (
                    FileRows(
                        split.folder / "values.bin", fields["values"]["dtype"], self.num_features
                    ),
                    FileRows(split.folder / "dates.bin", fields["dates"]["dtype"], 1),
                )
            else:
                values = np.asarray(split.values("values")).reshape(-1, self.num_features)
                self._rows = (
                    ArrayRows(values),
                    ArrayRows(np.asarray(split.values("dates"))[:, None]),
                )
        return self._rows

    def __len__(self) -> int:
        return int(self.ends[-1]) if len(self.ends) else 0

    def locate(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(series, offset)`` of windows ``indices``: offset = first step within the series."""
        series = np.searchsorted(self.ends, indices, side="right")
        before = np.where(series > 0, self.ends[np.maximum(series - 1, 0)], 0)
        return series, (indices - before) * self.stride

    def __getitem__(self, index: int) -> dict[str, Any]:
        size = len(self)
        if not -size <= index < size:
            raise IndexError(f"window {index} out of range for {size} windows")
        return self.__getitems__([index % size])[0]

    def __getitems__(self, indices: Sequence[int]) -> list[dict[str, Any]]:
        """Windows ``indices``: their rows read at once, one date formatting per style."""
        indices = np.asarray(indices, dtype=np.int64)
        series, offsets = self.locate(indices)
        starts = self.series_starts[series] + offsets
        values, dates = self.rows
        length, span = self.input_length, self.input_length + self.horizon
        windows = values.read(starts, span)
        future = windows[:, length:]
        targets = future[:, :, self.target_indices]
        covariates = future[:, :, self.covariate_indices] if self.covariate_indices else None
        window_dates = dates.read(starts, span)[:, :, 0]
        horizon = window_dates[:, length:]
        horizon_dates: list[list[str]] = [[] for _ in indices]
        styles = self.styles[series]
        for style in np.unique(styles):
            rows = np.flatnonzero(styles == style)
            text = format_dates(horizon[rows], int(style))
            for row, row_dates in zip(rows, text.tolist()):
                horizon_dates[row] = row_dates
        return [
            {
                "history": windows[k, :length],
                "target": targets[k],
                "covariates": None if covariates is None else covariates[k],
                "horizon_dates": horizon_dates[k],
                "dates": window_dates[k],
                "source": f"{self.sources[s]} step {offset}",
            }
            for k, (s, offset) in enumerate(zip(series.tolist(), offsets.tolist()))
        ]
