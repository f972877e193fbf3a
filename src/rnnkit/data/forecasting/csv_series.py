"""Forecasting from one CSV file: a date column, numeric series columns, chronological splits.

The layout is the one of the long-horizon forecasting benchmarks (ETT, Electricity, Traffic,
Weather as the Informer/Autoformer code reads them): a header row, one row per time step, a
date column and one column per variable::

    date,HUFL,HULL,MUFL,MULL,LUFL,LULL,OT
    2016-07-01 00:00:00,5.827000141143799,2.009000062942505,...,30.5310001373291

The three splits are consecutive row ranges of the one file (``split=ratio`` or ``rows``). As in
the Informer/Autoformer data loaders, the val and test series start ``input_length`` rows
before their first row: the history of their first window lies in the rows before, and every
forecast target lies inside its split. Train is exactly its rows, and the scaler is fitted on
them alone.

The file is read once per preparation, in chunks
(:func:`~rnnkit.data.io.csv_chunks.read_csv_chunks`): a chunk in the usual layout (ISO dates
as ``YYYY-MM-DD[ HH:MM[:SS]]``, plain numbers) is validated and converted with a few numpy
operations per column; a chunk with anything else (a bad row, quoting, another date layout) is
read row by row with the same checks and messages. The validated rows go to a temporary table
on disk (:mod:`.series_table`), whose splits are then handed out in pieces of
:data:`PIECE_ROWS` rows, so memory stays flat whatever the file's size.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from rnnkit.data.datamodule import SPLITS
from rnnkit.data.forecasting.datamodule import ForecastingDataModule, infer_dates
from rnnkit.data.forecasting.dates import (
    calendar_phases,
    date_style,
    from_us,
    parse_iso_layouts,
    wall_clock_us,
)
from rnnkit.data.forecasting.series_table import SeriesTable, TableWriter
from rnnkit.data.forecasting.time_gaps import (
    check_time_gaps,
    describe_gap,
    fill_gaps,
    find_gaps,
    warn_gaps,
)
from rnnkit.data.io.csv_chunks import CsvChunk, read_csv_chunks
from rnnkit.data.io.download import check_download
from rnnkit.data.io.download import download as download_file
from rnnkit.data.io.reading import BadLinePolicy, check_data_folder, check_on_bad_line, location

SPLIT_MODES = ("ratio", "rows")
"""The values of ``split``: ``ratio`` (``split_ratios``) or ``rows`` (``split_rows``)."""

PIECE_ROWS = 1024
"""Rows per raw example that :meth:`CSVSeriesDataModule.load_split` yields (pieces of one
series, see :class:`~rnnkit.data.forecasting.datamodule.ForecastingDataModule`)."""
TABLE_READ_ROWS = 65_536
"""Rows read from the table at a time (then cut into pieces)."""
FLOAT32_MAX = float(np.finfo(np.float32).max)
"""The largest value a series may hold: it is computed in float32 (NaN and inf are refused too)."""
DOWNLOAD_SETTINGS = frozenset({"download", "url", "sha256"})
"""Settings of how the file is fetched, not of what it holds (its identity keys the cache)."""

TIME_FEATURES = ("hour", "weekday", "day_of_year")
"""Calendar phases that ``time_features`` can add, each as a ``<name>_sin``/``<name>_cos``
pair: the time of day (minutes and seconds included), the day of the week (Monday = 0) and the
day of the year (leap years included)."""


def time_feature_names(kinds: Sequence[str]) -> list[str]:
    """``["hour_sin", "hour_cos", ...]`` for the calendar phases ``kinds``."""
    return [f"{kind}_{wave}" for kind in kinds for wave in ("sin", "cos")]


def time_feature_values(dates: Sequence[datetime] | np.ndarray, kinds: Sequence[str]) -> np.ndarray:
    """``(T, 2 * len(kinds))`` sin/cos of each calendar phase of ``dates`` (``datetime`` objects
    or a datetime64 array; known in advance)."""
    if isinstance(dates, np.ndarray) and dates.dtype.kind == "M":
        values = dates.astype("datetime64[us]").view(np.int64)
    else:
        values = np.fromiter((wall_clock_us(d) for d in dates), dtype=np.int64, count=len(dates))
    return calendar_phases(values, kinds)


def _check_names(value: Any, argument: str) -> list[str] | None:
    """``value`` as a list of distinct, non-empty column names (None passes through)."""
    if value is None:
        return None
    if isinstance(value, str) or not isinstance(value, Sequence) or not value:
        raise ValueError(f"{argument}: expected a non-empty list of column names, got {value!r}")
    names = list(value)
    if not all(isinstance(n, str) and n.strip() for n in names):
        raise ValueError(f"{argument}: expected column names (non-empty strings), got {names!r}")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"{argument}: expected distinct column names, got {repeated} twice")
    return names


def _check_time_features(value: Any) -> list[str]:
    if value is False or value is None:
        return []
    if value is True:
        return list(TIME_FEATURES)
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ValueError(
            f"time_features: expected true, false or a list of {list(TIME_FEATURES)}, got {value!r}"
        )
    unknown = [k for k in value if k not in TIME_FEATURES]
    if unknown or len(set(value)) != len(value):
        raise ValueError(
            f"time_features: expected distinct names among {list(TIME_FEATURES)}, got {value!r}"
        )
    return list(value)


def _check_ratios(value: Any) -> list[float]:
    numbers = list(value) if isinstance(value, Sequence) and not isinstance(value, str) else []
    if (
        len(numbers) != 3
        or not all(isinstance(r, (int, float)) and not isinstance(r, bool) for r in numbers)
        or not all(r > 0 for r in numbers)
        or not math.isclose(sum(numbers), 1.0, abs_tol=1e-6)
    ):
        raise ValueError(
            "split_ratios: expected three positive fractions [train, val, test] summing to 1, "
            f"e.g. [0.7, 0.1, 0.2], got {value!r}"
        )
    return [float(r) for r in numbers]


def _check_rows(value: Any) -> list[tuple[int, int]]:
    expected = (
        "split_rows: expected three [start, end) row ranges [[train], [val], [test]] in "
        "chronological order, 0-based over the data rows, e.g. "
        f"[[0, 8640], [8640, 11520], [11520, 14400]], got {value!r}"
    )
    if isinstance(value, str) or not isinstance(value, Sequence) or len(value) != 3:
        raise ValueError(expected)
    ranges = []
    for pair in value:
        if (
            isinstance(pair, str)
            or not isinstance(pair, Sequence)
            or len(pair) != 2
            or not all(isinstance(b, int) and not isinstance(b, bool) for b in pair)
            or not 0 <= pair[0] < pair[1]
        ):
            raise ValueError(expected)
        ranges.append((int(pair[0]), int(pair[1])))
    for (name, (_, end)), (later, (start, _)) in zip(
        zip(SPLITS, ranges), zip(SPLITS[1:], ranges[1:])
    ):
        if start < end:
            raise ValueError(
                f"split_rows: the {later} rows start at {start}, before the {name} rows end "
                f"({end}); expected chronological, non-overlapping ranges"
            )
    return ranges


class CSVSeriesDataModule(ForecastingDataModule):
    """One multivariate series from one CSV file, split chronologically into train/val/test.

    The file has a header row; ``date_column`` holds ISO dates (``2016-07-01 00:00:00``,
    ``2016-07-01``, ``2016-07-01T00:00:00+00:00``; read by ``datetime.fromisoformat``) that
    must increase strictly from row to row, and the other columns are numbers. Settings of the
    long-horizon benchmarks: ``target_columns=null`` forecasts every feature from every feature
    ("M"); ``target_columns=[OT]`` forecasts one from all ("MS"); with also
    ``feature_columns=[OT]``, one from itself ("S").

    Bad rows are reported by file and line (``on_bad_line="error"``: ``ValueError``) or dropped
    with one warning that counts them (``"skip"``), see :mod:`rnnkit.data.io.reading`: a wrong
    number of columns, a date that is not ISO, a date not after the previous row's (unsorted or
    duplicate; with ``skip`` the later row is dropped), an empty, non-numeric, NaN or infinite
    cell, or one beyond the float32 range (1e308), in a used column (columns that are neither
    features nor targets are not read), bytes
    that are not UTF-8, or a blank line followed by more rows. A missing column is always an
    error.

    Splits (``split``), over the file's data rows ``0 .. n-1`` (a skipped row keeps its number
    and leaves a gap):

    * ``ratio``: ``split_ratios = [train, val, test]`` as in Autoformer's ``Dataset_Custom``:
      train ``int(n * train)`` rows, test ``int(n * test)`` rows at the end, val the rows
      between.
    * ``rows``: ``split_rows = [[start, end), [start, end), [start, end)]`` explicit borders
      (e.g. ETT's 12/4/4 months, :mod:`rnnkit.data.forecasting.ett`); rows outside them are unused.

    Train is exactly its rows (``n_train - input_length - horizon + 1`` windows at stride 1).
    The val and test series begin ``input_length`` rows before their first row, so their
    first window's history lies in the rows before and every target inside the split:
    ``n_split - horizon + 1`` windows each.

    Args:
        path: the CSV file, or the folder of ``file``.
        file: the file name inside ``path`` (None: ``path`` is the file).
        date_column: the date column's header name.
        target_columns: the columns to forecast (None: every feature column).
        feature_columns: the columns the history shows (None: every column but the date);
            must include the targets.
        time_features: ``true`` adds the calendar phases of :data:`TIME_FEATURES` as features
            known in advance (history and horizon), e.g. ``hour_sin``, ``hour_cos``; a list
            picks some (``[hour, weekday]``); ``false``: none. They are never targets.
        split: ``"ratio"`` or ``"rows"`` (see above).
        split_ratios: the fractions of ``split=ratio``.
        split_rows: the row ranges of ``split=rows`` (must be None otherwise).
        on_bad_line: ``"error"`` or ``"skip"``.
        time_gaps: what a gap in the dates does (more than 1.5 of the usual step between two
            rows): ``"warn"`` (default: warn once, keep the rows), ``"error"`` (stop, naming
            the rows and dates) or ``"fill"`` (insert the missing steps, values interpolated
            linearly; row numbers, and so ``split_rows``, then count the inserted rows); see
            :mod:`rnnkit.data.forecasting.time_gaps`.
        download, url, sha256: when the file is missing and ``download`` is true, fetch ``url``
            (a CSV file) to it with :func:`rnnkit.data.io.download.download`, verified against
            ``sha256`` (required).
        **kwargs: :class:`~rnnkit.data.forecasting.datamodule.ForecastingDataModule`'s
            (``input_length``, ``horizon``, ``stride``, ``batch_size``, ``known_future``, ...).

    Raw examples: each split is one series ``"<file> rows <a>-<b>"``, yielded in pieces of
    :data:`PIECE_ROWS` rows ``{"dates": datetime64[us], "values" (T, F), "feature_names",
    "target_names", "known_future_names", "source", "continues", "date_style"}``.

    The file is read once per preparation into a temporary table (under ``cache_dir``, else the
    system's temporary folder), removed when :meth:`setup` or :meth:`prepare_data` ends.
    """

    split_modes: tuple[str, ...] = SPLIT_MODES

    def __init__(
        self,
        path: str,
        file: str | None = None,
        date_column: str = "date",
        target_columns: list[str] | None = None,
        feature_columns: list[str] | None = None,
        time_features: bool | list[str] = False,
        split: str = "ratio",
        split_ratios: list[float] = (0.7, 0.1, 0.2),
        split_rows: list[list[int]] | None = None,
        on_bad_line: str = "error",
        time_gaps: str = "warn",
        download: bool = False,
        url: str | None = None,
        sha256: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(date_column=date_column, **kwargs)
        if not isinstance(path, (str, Path)) or not str(path):
            raise ValueError(f"path: expected the CSV file or its folder, got {path!r}")
        if file is not None and (not isinstance(file, (str, Path)) or not str(file)):
            raise ValueError(f"file: expected a file name (or null), got {file!r}")
        self.path = Path(str(path)).expanduser()
        self.file = self.path / str(file) if file is not None else self.path
        if not isinstance(date_column, str) or not date_column.strip():
            raise ValueError(f"date_column: expected a column name, got {date_column!r}")
        self.target_columns = _check_names(target_columns, "target_columns")
        self.feature_columns = _check_names(feature_columns, "feature_columns")
        for argument, names in (
            ("target_columns", self.target_columns),
            ("feature_columns", self.feature_columns),
        ):
            if names and date_column in names:
                raise ValueError(
                    f"{argument}: {date_column!r} is the date column (date_column); "
                    f"expected numeric columns, got {names}"
                )
        if self.target_columns and self.feature_columns:
            missing = [n for n in self.target_columns if n not in self.feature_columns]
            if missing:
                raise ValueError(
                    f"feature_columns: the targets {missing} must be features too (the "
                    f"history shows them); got {self.feature_columns}"
                )
        self.time_kinds = _check_time_features(time_features)
        self.time_feature_names = time_feature_names(self.time_kinds)
        clash = [n for n in self.target_columns or [] if n in self.time_feature_names]
        if clash:
            raise ValueError(
                f"target_columns: {clash} are calendar features (time_features), known in "
                "advance; they cannot be targets"
            )
        if split not in self.split_modes:
            raise ValueError(f"split: expected one of {list(self.split_modes)}, got {split!r}")
        self.split = split
        self.split_ratios = _check_ratios(split_ratios)
        if split_rows is not None and split != "rows":
            raise ValueError(
                f"split_rows: only used with split=rows (split is {split!r}); set it to null "
                "or set split=rows"
            )
        if split == "rows" and split_rows is None:
            raise ValueError("split_rows: split=rows needs three [start, end) row ranges")
        self.split_rows = _check_rows(split_rows) if split_rows is not None else None
        self.on_bad_line = check_on_bad_line(on_bad_line)
        self.time_gaps = check_time_gaps(time_gaps)
        self.download = check_download(download, url)
        self.url, self.sha256 = url, sha256
        self._table: SeriesTable | None = None
        self._borders: dict[str, tuple[int, int]] | None = None
        self._prepared_rows: dict[str, Any] | None = None  # the borders a cache was made with

    # ---- the file ----------------------------------------------------------------------

    def ensure_file(self) -> None:
        """Check that the CSV file exists; download it first if asked to."""
        if self.file.is_file():
            return
        if self.download:
            download_file(self.url, self.sha256, self.file.parent, filename=self.file.name)
            return
        if self.file != self.path:
            check_data_folder(self.path, f"{self.file.name}")
        fetch = f", or set data.download=true to fetch {self.url}" if self.url else ""
        raise FileNotFoundError(
            f"{self.file}: not found; put the file there (or point data.path at it){fetch}"
        )

    def source_files(self) -> list[Path]:
        """The CSV file (fetched first when ``download`` is set): it keys the prepared cache."""
        self.ensure_file()
        return [self.file]

    def preparation_settings(self) -> dict[str, Any]:
        """:class:`ForecastingDataModule`'s, less how the file is fetched."""
        return {
            name: value
            for name, value in super().preparation_settings().items()
            if name not in DOWNLOAD_SETTINGS
        }

    def table(self) -> SeriesTable:
        """The validated rows of the file (read once, kept until :meth:`close_table`)."""
        if self._table is None:
            self.ensure_file()
            with BadLinePolicy(self.file, self.on_bad_line) as policy:
                self._table = self._read(policy)
            self._table = self._handle_gaps(self._table)
        return self._table

    def _handle_gaps(self, table: SeriesTable) -> SeriesTable:
        """``table`` after the ``time_gaps`` policy: checked, warned about, or filled."""
        gaps = find_gaps(table.dates)
        if not len(gaps):
            return table
        first = int(gaps.after[0])
        first_gap = describe_gap(
            str(self.file),
            gaps.step,
            (int(table.rows[first]), int(table.rows[first + 1])),
            tuple(table.date_strings(first, first + 2)),
        )
        if self.time_gaps == "error":
            table.close()
            raise ValueError(
                f"{first_gap} (data.time_gaps=error; set data.time_gaps=fill to interpolate "
                "the missing steps, or warn to keep the rows as they are)"
            )
        if self.time_gaps == "warn":
            noun = "gap" if len(gaps) == 1 else "gaps"
            warn_gaps(
                f"{len(gaps)} time {noun} in {self.file} (first: "
                f"{first_gap.removeprefix(f'{self.file}, ')}); windows across "
                "a gap treat distant times as consecutive (data.time_gaps=fill interpolates "
                "them, error stops)"
            )
            return table
        try:
            dates, values = fill_gaps(np.asarray(table.dates), np.asarray(table.values), gaps)
        except ValueError as error:
            table.close()
            raise ValueError(
                f"{first_gap}; data.time_gaps=fill: {error}, so it cannot be filled"
            ) from None
        writer = TableWriter(table.columns, self.cache_dir)
        writer.write(dates, values, np.arange(len(dates), dtype=np.int64))
        filled = writer.finish(len(dates), table.date_style)
        table.close()
        return filled

    def close_table(self) -> None:
        """Remove the table read by :meth:`table` (it is read again when needed)."""
        if self._table is not None:
            self._table.close()
            self._table = None

    def prepare_data(self) -> None:
        try:
            super().prepare_data()
        finally:
            self.close_table()

    def setup(self, stage: str | None = None) -> None:
        try:
            super().setup(stage)
        finally:
            self.close_table()

    def _read(self, policy: BadLinePolicy) -> SeriesTable:
        file = self.file
        chunks = read_csv_chunks(file, policy)
        first = next(chunks, None)
        rows = first.rows() if first is not None else iter(())
        header_line, header = next(rows, (1, []))
        header = [name.strip() for name in header]
        if not any(header):
            raise ValueError(f"{location(file, header_line)}: expected a header row, found none")
        columns = self._columns(header, header_line)
        writer = TableWriter(columns, self.cache_dir)
        try:
            reader = _RowReader(self, policy, header, columns, writer)
            reader.add_rows(rows)
            for chunk in chunks:
                reader.add(chunk)
            if not writer.count:
                raise ValueError(f"{file}: expected rows of data after the header, found none")
            return writer.finish(reader.row + 1, reader.style or 0)
        except BaseException:
            writer.abandon()
            raise

    def _columns(self, header: list[str], line: int) -> list[str]:
        """The numeric columns to read: ``feature_columns``, or every column but the date."""
        where = location(self.file, line)
        repeated = sorted({n for n in header if header.count(n) > 1})
        if repeated:
            raise ValueError(f"{where}: the header names the columns {repeated} twice")
        if self.date_column not in header:
            raise ValueError(
                f"{where}: expected a date column named {self.date_column!r} (date_column) in "
                f"the header, found columns {header}"
            )
        for argument, names in (
            ("target_columns", self.target_columns),
            ("feature_columns", self.feature_columns),
        ):
            missing = [n for n in names or [] if n not in header]
            if missing:
                raise ValueError(
                    f"{where}: expected the columns {missing} ({argument}) in the header, "
                    f"found columns {header}"
                )
        clash = [n for n in header if n in self.time_feature_names]
        if clash:
            raise ValueError(
                f"{where}: the columns {clash} have the names of the calendar features "
                "(time_features); rename them or set time_features=false"
            )
        if self.feature_columns is not None:
            return list(self.feature_columns)
        columns = [n for n in header if n != self.date_column]
        if not columns:
            raise ValueError(f"{where}: expected numeric columns beside {self.date_column!r}")
        return columns

    def _date(self, cell: str) -> tuple[str | None, datetime | None]:
        text = cell.strip()
        try:
            return None, datetime.fromisoformat(text)
        except ValueError:
            return (
                f"column {self.date_column!r}: expected an ISO date such as "
                f"2016-07-01 00:00:00, got {text!r}",
                None,
            )

    @staticmethod
    def _numbers(
        fields: list[str], indices: list[int], columns: list[str]
    ) -> tuple[str | None, list[float]]:
        numbers = []
        for index, name in zip(indices, columns):
            cell = fields[index].strip()
            if not cell:
                return f"column {name!r}: empty cell (a missing value); expected a number", []
            try:
                value = float(cell)
            except ValueError:
                return f"column {name!r}: expected a number, got {cell!r}", []
            if not math.isfinite(value):
                return f"column {name!r}: expected a finite number, got {cell!r}", []
            if abs(value) > FLOAT32_MAX:
                return (
                    f"column {name!r}: {cell} is beyond the float32 range the model computes "
                    f"in; expected a number of magnitude <= {FLOAT32_MAX:.3g}",
                    [],
                )
            numbers.append(value)
        return None, numbers

    def _order(self, date: datetime, previous: datetime, previous_line: int) -> str | None:
        try:
            later = date > previous
        except TypeError:  # one has a time zone, the other not
            return (
                f"column {self.date_column!r}: {date.isoformat(sep=' ')} and the previous "
                f"row's {previous.isoformat(sep=' ')} (line {previous_line}) cannot be "
                "compared; expected dates all with or all without a time zone"
            )
        if later:
            return None
        what = "duplicate date" if date == previous else "date not in increasing order"
        return (
            f"column {self.date_column!r}: {what}: {date.isoformat(sep=' ')} is not after "
            f"{previous.isoformat(sep=' ')} (line {previous_line}); expected strictly "
            "increasing dates (sort the file and drop duplicates, or set "
            "data.on_bad_line=skip to drop such rows)"
        )

    # ---- splits ------------------------------------------------------------------------

    def borders(self, total_rows: int) -> dict[str, tuple[int, int]]:
        """The ``[start, end)`` data rows whose values each split forecasts."""
        if self.split == "ratio":
            train = int(total_rows * self.split_ratios[0])
            test = int(total_rows * self.split_ratios[2])
            ranges = [(0, train), (train, total_rows - test), (total_rows - test, total_rows)]
            for name, (start, end) in zip(SPLITS, ranges):
                if start >= end:
                    raise ValueError(
                        f"split_ratios: {self.split_ratios} of the {total_rows} data rows of "
                        f"{self.file} leaves the {name} split empty"
                    )
            return dict(zip(SPLITS, ranges))
        ranges = self.split_rows
        if ranges[-1][1] > total_rows:
            raise ValueError(
                f"split_rows: the test rows end at {ranges[-1][1]}, but {self.file} has only "
                f"{total_rows} data rows"
            )
        return dict(zip(SPLITS, ranges))

    def segments(self) -> dict[str, tuple[int, int]]:
        """The ``[start, end)`` data rows of each split's series: its rows, and for val and
        test also the ``input_length`` rows before them (the first window's history)."""
        if self._borders is None:
            self._borders = self.borders(self.table().total_rows)
        out = {}
        for split, (start, end) in self._borders.items():
            if split != "train":
                if start < self.input_length:
                    raise ValueError(
                        f"input_length: the first {split} window needs {self.input_length} "
                        f"rows of history before row {start} (where the {split} rows start "
                        f"in {self.file}), but there are only {start}"
                    )
                start -= self.input_length
            out[split] = (start, end)
        return out

    def load_split(self, split: str) -> Iterator[dict[str, Any]]:
        """The split's series in pieces of :data:`PIECE_ROWS` rows (see the class docstring)."""
        if split not in SPLITS:
            raise ValueError(f"split: expected one of {list(SPLITS)}, got {split!r}")
        table = self.table()
        start, end = self.segments()[split]
        first, last = (int(i) for i in np.searchsorted(table.rows, [start, end]))
        names = {
            "feature_names": table.columns + self.time_feature_names,
            "target_names": list(self.target_columns or table.columns),
            "known_future_names": list(self.time_feature_names),
            "source": f"{self.file} rows {start}-{end}",
            "date_style": table.date_style,
        }
        return self._pieces(table, first, last, names)

    def _pieces(
        self, table: SeriesTable, first: int, last: int, names: dict[str, Any]
    ) -> Iterator[dict[str, Any]]:
        step = max(TABLE_READ_ROWS // PIECE_ROWS, 1) * PIECE_ROWS
        for block in range(first, last, step):
            block_dates, block_values = table.read(block, min(block + step, last))
            block_dates = block_dates.view("datetime64[us]")
            for piece in range(0, len(block_dates), PIECE_ROWS):
                dates = block_dates[piece : piece + PIECE_ROWS]
                values = block_values[piece : piece + PIECE_ROWS]
                if self.time_kinds:
                    calendar = time_feature_values(dates, self.time_kinds)
                    values = np.concatenate([values, calendar], axis=1)
                continues = block + piece > first
                yield {"dates": dates, "values": values, **names, "continues": continues}

    def artifacts(self) -> dict[str, Any]:
        """:class:`ForecastingDataModule`'s, and the rows of the file (for the summary)."""
        artifacts = super().artifacts()
        if self._borders is not None:
            segments = self.segments()
            artifacts["rows"] = {
                split: {"rows": list(rows), "series": list(segments[split])}
                for split, rows in self._borders.items()
            }
        return artifacts

    def load_artifacts(self, artifacts: dict[str, Any]) -> None:
        super().load_artifacts(artifacts)
        self._prepared_rows = artifacts.get("rows")

    def summary(self) -> dict[str, Any]:
        out = super().summary()
        rows = self.artifacts().get("rows") or self._prepared_rows
        if rows is not None:
            out["file"] = str(self.file)
            out["split_rows"] = ", ".join(
                f"{split} [{part['rows'][0]}, {part['rows'][1]})"
                + (f" (history from {part['series'][0]})" if split != "train" else "")
                for split, part in rows.items()
            )
        return out

    # ---- prediction input --------------------------------------------------------------

    def parse_raw(self, raw: str) -> list[dict[str, Any]]:
        """A CSV file as :meth:`ForecastingDataModule.parse_raw
        <rnnkit.data.forecasting.datamodule.ForecastingDataModule.parse_raw>` reads it; with
        ``time_features`` the calendar features are computed from ``date_column`` instead of
        read. The horizon's dates are those of trailing rows whose target cells are empty
        (needed when other known-future columns must be given), else they continue the
        history's regular spacing.
        """
        if not self.time_kinds:
            return super().parse_raw(raw)
        path = Path(raw)
        if not path.is_file():
            raise FileNotFoundError(2, "CSV file not found", str(path))
        derived = set(self.time_feature_names)
        read = [n for n in self.feature_names if n not in derived]
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            columns = reader.fieldnames or []
            missing = [n for n in [self.date_column, *read] if n not in columns]
            if missing:
                raise ValueError(
                    f"{path}: missing the columns {missing}; expected a header with "
                    f"{[self.date_column, *read]}, got {columns}"
                )
            rows = list(enumerate(reader, start=2))
        targets = set(self.target_names)
        future: list[tuple[int, dict[str, str]]] = []
        while rows and all(not (rows[-1][1].get(n) or "").strip() for n in targets):
            future.insert(0, rows.pop())
        if future and len(future) != self.horizon:
            raise ValueError(
                f"{path}: expected {self.horizon} (horizon) future rows with empty "
                f"{self.target_names} at the end, or none, got {len(future)}"
            )
        if len(rows) < self.input_length:
            raise ValueError(
                f"{path}: expected at least {self.input_length} (input_length) rows of "
                f"history, got {len(rows)}"
            )
        history = rows[-self.input_length :]
        dates = [self._parsed_date(path, line, row) for line, row in history]
        known = np.array([self._row_values(path, line, row, read) for line, row in history])
        calendar = time_feature_values(dates, self.time_kinds)
        by_name = {n: known[:, i] for i, n in enumerate(read)}
        by_name.update({n: calendar[:, i] for i, n in enumerate(self.time_feature_names)})
        values = np.stack([by_name[n] for n in self.feature_names], axis=1)
        if future:
            future_dates = [self._parsed_date(path, line, row) for line, row in future]
            written_future = [(row.get(self.date_column) or "").strip() for _, row in future]
        else:
            written = [(row.get(self.date_column) or "").strip() for _, row in history]
            inferred = infer_dates(written, self.horizon)
            if not all(inferred):
                raise ValueError(
                    f"{path}: the history's dates are not evenly spaced, so the horizon's "
                    f"dates (for the calendar features) are unknown; expected {self.horizon} "
                    f"(horizon) future rows with dates and empty {self.target_names} at the end"
                )
            future_dates = [datetime.fromisoformat(d) for d in inferred]
            written_future = inferred
        other = [n for n in self.known_future_names if n not in derived]
        if other and not future:
            raise ValueError(
                f"{path}: the model reads the known-future features {other}: expected "
                f"{self.horizon} (horizon) future rows at the end with empty "
                f"{self.target_names} and filled {other}"
            )
        ahead = {
            n: column
            for n, column in zip(
                self.time_feature_names, time_feature_values(future_dates, self.time_kinds).T
            )
        }
        if other:
            given = np.array([self._row_values(path, line, row, other) for line, row in future])
            ahead.update({n: given[:, i] for i, n in enumerate(other)})
        example: dict[str, Any] = {
            "dates": [(row.get(self.date_column) or "").strip() for _, row in history],
            "values": values,
            "feature_names": self.feature_names,
            "source": str(path),
            "future_dates": written_future,
        }
        if self.known_future_names:
            example["future_covariates"] = np.stack(
                [ahead[n] for n in self.known_future_names], axis=1
            )
        return [example]

    def _parsed_date(self, path: Path, line: int, row: dict[str, str]) -> datetime:
        problem, date = self._date(row.get(self.date_column) or "")
        if problem is not None:
            raise ValueError(f"{location(path, line)}: {problem}")
        return date


class _RowReader:
    """Validates the data rows of a series file chunk by chunk and writes the good ones.

    A chunk by column (:class:`~rnnkit.data.io.csv_chunks.CsvChunk`) whose dates all have one
    of the layouts of :func:`~rnnkit.data.forecasting.dates.parse_iso_layouts`, whose numbers
    are all finite and whose dates increase is taken in a few numpy operations; any other chunk
    row by row, with the checks and messages of the module (so the first problem is always
    reported as the row-by-row reading reports it).
    """

    def __init__(
        self,
        module: CSVSeriesDataModule,
        policy: BadLinePolicy,
        header: list[str],
        columns: list[str],
        writer: TableWriter,
    ) -> None:
        self.module = module
        self.policy = policy
        self.header = header
        self.columns = columns
        self.writer = writer
        self.date_index = header.index(module.date_column)
        self.indices = [header.index(c) for c in columns]
        self.row = -1  # the last data-row number given out (skipped rows count)
        self.blank_lines: list[int] = []  # an error only if more rows follow
        self.style: int | None = None
        # The last kept row: (date as stored, its datetime or None if naive, its line).
        self.last: tuple[int, datetime | None, int] | None = None

    def add(self, chunk: CsvChunk) -> None:
        if chunk.columns is None or self.blank_lines or not self._add_columns(chunk):
            self.add_rows(chunk.rows())

    def _add_columns(self, chunk: CsvChunk) -> bool:
        """Take a clean chunk at once; False (nothing taken) when anything needs a closer look."""
        texts = chunk.columns[self.date_index]
        dates = parse_iso_layouts(texts)
        if dates is None:
            return False
        values = np.empty((len(chunk), len(self.indices)), dtype=np.float64)
        try:
            for column, index in enumerate(self.indices):
                values[:, column] = np.array(chunk.columns[index], dtype=np.float64)
        except ValueError:
            return False
        if not (np.abs(values) <= FLOAT32_MAX).all() or not (dates[1:] > dates[:-1]).all():
            return False
        if self.last is not None and (self.last[1] is not None or dates[0] <= self.last[0]):
            return False
        if self.style is None:
            self.style = date_style(texts[0])
        rows = np.arange(self.row + 1, self.row + 1 + len(chunk), dtype=np.int64)
        self.writer.write(dates, values, rows)
        self.row += len(chunk)
        self.last = (int(dates[-1]), None, int(chunk.lines[-1]))
        return True

    def add_rows(self, rows: Iterable[tuple[int, list[str]]]) -> None:
        module, policy, header = self.module, self.policy, self.header
        dates: list[int] = []
        values: list[list[float]] = []
        numbers: list[int] = []
        for line_number, fields in rows:
            if len(fields) <= 1 and not "".join(fields).strip():
                self.blank_lines.append(line_number)
                continue
            for blank in self.blank_lines:
                self.row += 1
                policy.report(f"blank line; expected a row of {len(header)} columns", blank)
            self.blank_lines = []
            self.row += 1
            if len(fields) != len(header):
                policy.report(
                    f"expected {len(header)} comma-separated columns ({', '.join(header)}), "
                    f"found {len(fields)}",
                    line_number,
                )
                continue
            numbers_of_row: list[float] = []
            problem, date = module._date(fields[self.date_index])
            if problem is None:
                problem, numbers_of_row = module._numbers(fields, self.indices, self.columns)
            if problem is None and self.last is not None:
                stored, previous, previous_line = self.last
                previous = previous if previous is not None else from_us(stored)
                problem = module._order(date, previous, previous_line)
            if problem is not None:
                policy.report(problem, line_number)
                continue
            if self.style is None:
                self.style = date_style(fields[self.date_index])
            stored = wall_clock_us(date)
            dates.append(stored)
            values.append(numbers_of_row)
            numbers.append(self.row)
            self.last = (stored, date if date.tzinfo is not None else None, line_number)
        if dates:
            self.writer.write(
                np.asarray(dates, dtype=np.int64),
                np.asarray(values, dtype=np.float64).reshape(len(dates), len(self.columns)),
                np.asarray(numbers, dtype=np.int64),
            )
