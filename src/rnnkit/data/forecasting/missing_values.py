"""Missing values in a series file: which cells are missing, and what ``missing`` does.

A cell is missing when it is empty or one of :data:`MISSING_MARKERS` (``NA``, ``NaN``,
``null``, ...). ``missing`` (the policy, :data:`MISSING_POLICIES`):

* ``"error"`` (default): the row is a bad line: an error naming file, line and column, or,
  with ``on_bad_line=skip``, dropped and counted with the other bad lines.
* ``"drop"``: the row is dropped (it leaves a time gap); the drops are counted.
* ``"ffill"``: the last value before it is carried forward.
* ``"interpolate"``: linear in time between the values on either side (a categorical column
  carries its last category forward instead).

With ``ffill`` and ``interpolate``, rows at the start with no value before them (and with
``interpolate`` at the end, none after) are dropped and counted. :func:`fill_missing` does it
in a second pass over the rows read (in blocks, so memory stays flat): a backward pass writes
the next known value and date of every cell to scratch files, a forward pass fills.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rnnkit.data.forecasting.series_table import SeriesTable, TableWriter

MISSING_POLICIES = ("error", "drop", "ffill", "interpolate")
"""The values of ``missing``."""
MISSING_MARKERS = frozenset(
    {"", "NA", "N/A", "#N/A", "NaN", "nan", "NAN", "-nan", "null", "NULL", "None", "none"}
)
"""Cell texts (stripped) that mean "no value"."""
BLOCK_ROWS = 65_536
"""Rows read at a time by :func:`fill_missing`."""


class MissingValueWarning(UserWarning):
    """Rows of a series file had missing values (dropped or filled, with the counts)."""


def check_missing(value: Any) -> str:
    if value not in MISSING_POLICIES:
        raise ValueError(
            f"missing: expected one of {list(MISSING_POLICIES)} (what a missing cell such as "
            f"NA or an empty one does), got {value!r}"
        )
    return value


def numeric_column(texts: Sequence[str]) -> np.ndarray | None:
    """``(n,)`` float64 numbers of ``texts``, NaN where a cell is missing; None when a cell is
    neither a number nor missing (the caller looks at that chunk row by row)."""
    try:
        return np.array(texts, dtype=np.float64)  # plain numbers (NaN written as nan too)
    except ValueError:
        pass
    stripped = np.char.strip(np.asarray(texts, dtype=str))
    missing = np.isin(stripped, list(MISSING_MARKERS))
    values = np.full(len(stripped), np.nan)
    try:
        values[~missing] = stripped[~missing].astype(np.float64)
    except ValueError:
        return None
    return values


@dataclass
class MissingCounts:
    """What the missing values of one file came to (for the warning and the summary).

    Attributes:
        cells: missing cells in the rows kept (filled) or dropped.
        dropped: rows dropped for a missing value (``missing=drop``).
        dropped_at_ends: ``[start, end]`` rows dropped by ``ffill``/``interpolate`` because
            no value lies before (after) them.
        first: ``"line 26, column 'pm2.5'"`` of the first missing cell.
    """

    cells: int = 0
    dropped: int = 0
    dropped_at_ends: list[int] = field(default_factory=lambda: [0, 0])
    first: str = ""

    def note(self, line: int, column: str, cells: int = 1) -> None:
        if not self.first:
            self.first = f"line {line}, column {column!r}"
        self.cells += cells

    def describe(self, policy: str) -> str:
        """``"2067 missing values (first: line 26, column 'pm2.5'): 24 rows dropped at the
        start ..."``, or ``""`` when there were none."""
        if not self.cells:
            return ""
        parts = []
        if self.dropped:
            parts.append(f"{self.dropped} {'row' if self.dropped == 1 else 'rows'} dropped")
        if policy in ("ffill", "interpolate"):
            parts.append("filled" if policy == "ffill" else "interpolated")
        start, end = self.dropped_at_ends
        if start:
            parts.append(f"{start} rows at the start dropped (no value before them)")
        if end:
            parts.append(f"{end} rows at the end dropped (no value after them)")
        noun = "value" if self.cells == 1 else "values"
        return f"{self.cells} missing {noun} (first: {self.first}): {'; '.join(parts)}"

    @property
    def rows_dropped(self) -> int:
        return self.dropped + sum(self.dropped_at_ends)

    def warn(self, source: str, policy: str) -> None:
        if self.cells:
            warnings.warn(
                f"{source}: {self.describe(policy)} (data.missing={policy})",
                MissingValueWarning,
                stacklevel=3,
            )


def fill_missing(
    table: SeriesTable,
    policy: str,
    carried: Sequence[int],
    counts: MissingCounts,
    root: Any = None,
) -> SeriesTable:
    """A new table with the NaN cells of ``table`` filled by ``policy`` (``ffill`` or
    ``interpolate``; the columns ``carried`` are always carried forward), rows at the ends
    without a value before (after) them dropped and counted in ``counts``. Row numbers are
    kept. ``table`` is closed."""
    total, width = table.values.shape
    positions = _positions(table)
    interpolate = policy == "interpolate"
    linear = np.ones(width, dtype=bool)
    linear[list(carried)] = False
    scratch = None
    if interpolate:
        scratch = _next_known(table, positions, root)
    first_known = np.full(width, -1, dtype=np.int64)
    last_known = np.full(width, -1, dtype=np.int64)
    previous_value = np.full(width, np.nan)
    previous_at = np.zeros(width, dtype=np.float64)
    writer = TableWriter(table.columns, root)
    try:
        for start in range(0, total, BLOCK_ROWS):
            stop = min(start + BLOCK_ROWS, total)
            dates, values = table.read(start, stop)
            at = positions[start:stop]
            known = ~np.isnan(values)
            index = np.where(known, np.arange(start, stop)[:, None], -1)
            last_index = np.maximum.accumulate(np.vstack([last_known, index]), axis=0)[1:]
            fresh = last_index >= start
            local = np.clip(last_index - start, 0, None)
            columns = np.arange(width)
            before = np.where(fresh, values[local, columns], previous_value)
            before_at = np.where(fresh, at[local], previous_at)
            filled = np.where(known, values, before)
            if interpolate:
                after, after_at = scratch.read(start, stop)
                span = after_at - before_at
                with np.errstate(invalid="ignore", divide="ignore"):
                    share = np.where(span > 0, (at[:, None] - before_at) / span, 0.0)
                between = before + (after - before) * share
                use = ~known & linear[None, :]
                filled = np.where(use, between, filled)
            newly = known.any(axis=0) & (first_known < 0)
            first_known[newly] = start + known[:, newly].argmax(axis=0)
            last_known = last_index[-1]
            previous_value, previous_at = before[-1], before_at[-1]
            writer.write(dates, filled, np.asarray(table.rows[start:stop]))
        new = writer.finish(table.total_rows, table.date_style)
    except BaseException:
        writer.abandon()
        raise
    finally:
        if scratch is not None:
            scratch.close()
        table.close()
    return _trim(new, first_known, last_known, linear if interpolate else None, counts, root)


def _positions(table: SeriesTable) -> np.ndarray:
    """Where each row lies in time (its date, or its row number when there are no dates)."""
    dates = np.asarray(table.dates)
    if len(dates) and dates[0] == np.iinfo(np.int64).min:
        return np.asarray(table.rows, dtype=np.float64)
    return dates.astype(np.float64)


def _next_known(table: SeriesTable, positions: np.ndarray, root: Any) -> _ScratchPairs:
    """The next known value of every cell and its position (NaN when none follows), by a
    backward pass over ``table``, in scratch files."""
    total, width = table.values.shape
    writer = _ScratchPairs(width, root)
    next_value = np.full(width, np.nan)
    next_at = np.full(width, np.nan)
    for stop in range(total, 0, -BLOCK_ROWS):
        start = max(0, stop - BLOCK_ROWS)
        _, values = table.read(start, stop)
        at = positions[start:stop]
        known = ~np.isnan(values)
        rows = np.arange(stop - start)[:, None]
        index = np.where(known, rows, stop - start)
        next_index = np.minimum.accumulate(index[::-1], axis=0)[::-1]
        inside = next_index < stop - start
        local = np.clip(next_index, 0, stop - start - 1)
        columns = np.arange(width)
        after = np.where(inside, values[local, columns], next_value)
        after_at = np.where(inside, at[local], next_at)
        writer.write(start, after, after_at)
        next_value, next_at = after[0], after_at[0]
    return writer.finish(total)


class _ScratchPairs:
    """Two ``(R, C)`` float64 arrays written block by block in any order (scratch files in
    a temporary folder under ``root``)."""

    def __init__(self, width: int, root: Any) -> None:
        self.width = width
        self.folder = tempfile.mkdtemp(prefix=f".missing-{os.getpid()}-", dir=root)
        self.handles = [open(f"{self.folder}/{n}.bin", "w+b") for n in ("v", "p")]  # noqa: SIM115

    def write(self, start: int, values: np.ndarray, positions: np.ndarray) -> None:
        for handle, array in zip(self.handles, (values, positions)):
            handle.seek(8 * self.width * start)
            np.ascontiguousarray(array, dtype=np.float64).tofile(handle)

    def finish(self, total: int) -> _ScratchPairs:
        for handle in self.handles:
            handle.flush()
        return self

    def read(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        out = []
        for handle in self.handles:
            handle.seek(8 * self.width * start)
            data = np.fromfile(handle, np.float64, (stop - start) * self.width)
            out.append(data.reshape(stop - start, self.width))
        return out[0], out[1]

    def close(self) -> None:
        for handle in self.handles:
            handle.close()
        shutil.rmtree(self.folder, ignore_errors=True)


def _trim(
    table: SeriesTable,
    first_known: np.ndarray,
    last_known: np.ndarray,
    linear: np.ndarray | None,
    counts: MissingCounts,
    root: Any,
) -> SeriesTable:
    """``table`` without the rows before every column has a value (and, for ``linear``
    columns, after the last value of one): those at the ends that could not be filled."""
    total = len(table.dates)
    if (first_known < 0).any():  # a column without any value: every row goes
        first, last = total, total - 1
    else:
        first = int(first_known.max())
        last = total - 1 if linear is None or not linear.any() else int(last_known[linear].min())
        last = max(last, first - 1)
    counts.dropped_at_ends = [first, total - 1 - last]
    if first == 0 and last == total - 1:
        return table
    writer = TableWriter(table.columns, root)
    try:
        for start in range(first, last + 1, BLOCK_ROWS):
            stop = min(start + BLOCK_ROWS, last + 1)
            dates, values = table.read(start, stop)
            writer.write(dates, values, np.asarray(table.rows[start:stop]))
        trimmed = writer.finish(table.total_rows, table.date_style)
    except BaseException:
        writer.abandon()
        raise
    finally:
        table.close()
    return trimmed
