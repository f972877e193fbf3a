"""The validated rows of a series file, written once to flat files in a temporary folder."""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rnnkit.data.forecasting.dates import format_dates
from rnnkit.data.io.prepared_cache import process_alive

TABLE_PREFIX = ".series-table-"
"""Folders of tables being read or in use: ``<prefix><pid>-<random>``."""


@dataclass
class SeriesTable:
    """The rows of a series file that passed validation, in flat files of a temporary folder:
    the attributes map them (for looking up rows), :meth:`read` reads a range of rows.

    Attributes:
        dates: ``(R,)`` int64 dates (see :mod:`rnnkit.data.forecasting.dates`).
        values: ``(R, C)`` float64 values of ``columns``.
        columns: the numeric columns read.
        rows: ``(R,)`` int64 0-based data-row numbers (counting skipped rows too): split
            borders refer to these.
        total_rows: data rows in the file, skipped ones included.
        date_style: how the file writes its dates (that of its first row).
        folder: the folder holding the arrays; :meth:`close` removes it.
    """

    dates: np.ndarray
    values: np.ndarray
    columns: list[str]
    rows: np.ndarray
    total_rows: int
    date_style: int
    folder: Path | None = field(default=None, repr=False)

    def read(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        """``(dates, values)`` of rows ``[start, stop)``, read from the files (not through the
        maps, whose pages would stay counted in the process's resident memory)."""
        count = max(0, stop - start)
        if self.folder is None or not count:
            return np.array(self.dates[start:stop]), np.array(self.values[start:stop])
        width = self.values.shape[1]
        dates = np.fromfile(self.folder / "dates.bin", np.int64, count, offset=8 * start)
        values = np.fromfile(
            self.folder / "values.bin", np.float64, count * width, offset=8 * width * start
        )
        return dates, values.reshape(count, width)

    def date_strings(self, start: int = 0, stop: int | None = None) -> list[str]:
        """The dates of rows ``[start, stop)`` of the table, as ISO strings."""
        return format_dates(np.asarray(self.dates[start:stop]), self.date_style).tolist()

    def close(self) -> None:
        """Remove the folder (the arrays already handed out stay readable on POSIX)."""
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None


class TableWriter:
    """Appends validated rows to ``dates``, ``values`` and ``rows`` files in a new folder under
    ``root`` (the system's temporary folder when None), removed when the table is closed, or,
    after a crash, by the next writer under the same root."""

    def __init__(self, columns: list[str], root: str | os.PathLike | None = None) -> None:
        self.columns = list(columns)
        if root is not None:
            Path(root).mkdir(parents=True, exist_ok=True)
            _remove_abandoned(Path(root))
        self.folder = Path(tempfile.mkdtemp(prefix=f"{TABLE_PREFIX}{os.getpid()}-", dir=root))
        self._files = {
            name: open(self.folder / f"{name}.bin", "wb")  # noqa: SIM115
            for name in ("dates", "values", "rows")
        }
        self.count = 0

    def write(self, dates: np.ndarray, values: np.ndarray, rows: np.ndarray) -> None:
        """Append ``(n,)`` int64 dates, ``(n, C)`` float64 values and ``(n,)`` row numbers."""
        np.ascontiguousarray(dates, dtype=np.int64).tofile(self._files["dates"])
        np.ascontiguousarray(values, dtype=np.float64).tofile(self._files["values"])
        np.ascontiguousarray(rows, dtype=np.int64).tofile(self._files["rows"])
        self.count += len(dates)

    def finish(self, total_rows: int, date_style: int) -> SeriesTable:
        for handle in self._files.values():
            handle.close()
        width = len(self.columns)
        return SeriesTable(
            dates=self._map("dates", np.int64, (self.count,)),
            values=self._map("values", np.float64, (self.count, width)),
            columns=self.columns,
            rows=self._map("rows", np.int64, (self.count,)),
            total_rows=total_rows,
            date_style=date_style,
            folder=self.folder,
        )

    def abandon(self) -> None:
        for handle in self._files.values():
            handle.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    def _map(self, name: str, dtype: type, shape: tuple[int, ...]) -> np.ndarray:
        if not self.count:
            return np.zeros(shape, dtype=dtype)
        return np.memmap(self.folder / f"{name}.bin", dtype=dtype, mode="r", shape=shape)


def _remove_abandoned(root: Path) -> None:
    """Table folders under ``root`` whose process is gone."""
    for folder in root.glob(f"{TABLE_PREFIX}*"):
        pid = folder.name[len(TABLE_PREFIX) :].split("-", 1)[0]
        if pid.isdigit() and not process_alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)
