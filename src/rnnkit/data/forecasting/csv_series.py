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

import math
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from rnnkit.data.datamodule import SPLITS
from rnnkit.data.forecasting.categories import (
    CategoryCodes,
    fitted_categories,
    one_hot,
    one_hot_names,
)
from rnnkit.data.forecasting.datamodule import ForecastingDataModule, split_trailing
from rnnkit.data.forecasting.date_parsing import PARTS, DateReader, check_date_format
from rnnkit.data.forecasting.dates import (
    NO_DATE,
    calendar_phases,
    from_us,
    wall_clock_us,
)
from rnnkit.data.forecasting.frequency import Frequency
from rnnkit.data.forecasting.missing_values import (
    MISSING_MARKERS,
    MissingCounts,
    check_missing,
    fill_missing,
    numeric_column,
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
from rnnkit.data.io.reading import (
    BadLinePolicy,
    check_data_folder,
    check_on_bad_line,
    location,
    read_csv_records,
)

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

TIME_FEATURES = ("hour", "weekday", "day_of_year", "month")
"""Calendar phases that ``time_features`` can add, each as a ``<name>_sin``/``<name>_cos``
pair: the time of day (minutes and seconds included), the day of the week (Monday = 0), the
day of the year (leap years included) and the month of the year; ``time_features=true`` takes
those that vary at the series' frequency
(:meth:`~rnnkit.data.forecasting.frequency.Frequency.calendar_kinds`)."""


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


def _check_time_features(value: Any) -> list[str] | None:
    """The calendar phases asked for: a list, ``[]`` for none, None for those of the
    frequency (``true``)."""
    if value is False or value is None:
        return []
    if value is True:
        return None
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

    The file has a header row and one row per step. The dates (strictly increasing) are in
    ``date_column``, in any one layout: ISO (``2016-07-01 00:00:00``, ``2016-07-01``), or one
    pandas guesses from the first date (``1990/1/1 0:00``, ``1949-01``), or ``date_format``;
    or split over ``date_columns`` (year, month, day, hour, ...); or absent
    (``date_column=None``, the rows being steps of ``frequency``), see
    :mod:`~rnnkit.data.forecasting.date_parsing`. The other columns are numbers, or text
    one-hot encoded (``categorical_columns``, :mod:`~rnnkit.data.forecasting.categories`), or
    left out (``exclude_columns``); missing cells follow ``missing``
    (:mod:`~rnnkit.data.forecasting.missing_values`). Settings of the
    long-horizon benchmarks: ``target_columns=null`` forecasts every feature from every feature
    ("M"); ``target_columns=[OT]`` forecasts one from all ("MS"); with also
    ``feature_columns=[OT]``, one from itself ("S").

    Bad rows are reported by file and line (``on_bad_line="error"``: ``ValueError``) or dropped
    with one warning that counts them (``"skip"``), see :mod:`rnnkit.data.io.reading`: a wrong
    number of columns, a date not in the file's layout, a date not after the previous row's
    (unsorted or duplicate; with ``skip`` the later row is dropped), a missing cell
    (``missing="error"``),
    a non-numeric or infinite cell, or one beyond the float32 range (1e308), in a used column
    (columns that are neither
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
        date_column: the date column's header name (None: no dates; ``frequency`` required).
        date_format: the strftime layout of ``date_column`` (None: ISO, or guessed by pandas
            from the first date).
        date_columns: 2-6 columns holding the year, month, day, hour, minute, second.
        frequency: the rows' spacing (``h``, ``15min``, ``D``, ``W``, ``MS``, ...;
            :mod:`~rnnkit.data.forecasting.frequency`); None: inferred from the dates, which must
            agree with it when given.
        target_columns: the columns to forecast (None: every numeric feature column).
        feature_columns: the columns the history shows (None: every column but the dates and
            ``exclude_columns``); must include the targets.
        categorical_columns: text columns one-hot encoded over the categories of the
            training rows (features ``<column>=<category>``).
        exclude_columns: columns left out.
        missing: ``"error"``, ``"drop"``, ``"ffill"`` or ``"interpolate"``: what a missing cell
            does (:mod:`~rnnkit.data.forecasting.missing_values`); dropped rows are counted in
            one warning and the summary.
        time_features: ``true`` adds the calendar phases of :data:`TIME_FEATURES` that vary at
            the frequency as features known in advance (history and horizon), e.g.
            ``hour_sin``, ``hour_cos``; a list picks some (``[hour, weekday]``); ``false``:
            none. They are never targets.
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
        date_column: str | None = "date",
        date_format: str | None = None,
        date_columns: list[str] | None = None,
        frequency: str | None = None,
        target_columns: list[str] | None = None,
        feature_columns: list[str] | None = None,
        categorical_columns: list[str] | None = None,
        exclude_columns: list[str] | None = None,
        missing: str = "error",
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
        if date_column is not None and (
            not isinstance(date_column, str) or not date_column.strip()
        ):
            raise ValueError(
                f"date_column: expected a column name (or null: no dates), got {date_column!r}"
            )
        self.date_format = check_date_format(date_format)
        self.date_columns = _check_names(date_columns, "date_columns")
        if self.date_columns is not None:
            if not 2 <= len(self.date_columns) <= len(PARTS):
                raise ValueError(
                    f"date_columns: expected 2 to {len(PARTS)} columns holding the "
                    f"{', '.join(PARTS)} in this order, got {self.date_columns}"
                )
            if date_column not in (None, "date") or self.date_format is not None:
                raise ValueError(
                    "date_columns: the dates come from these columns; leave date_column and "
                    f"date_format unset (got date_column={date_column!r}, "
                    f"date_format={date_format!r})"
                )
            self.date_column = None
        self.date_sources = self.date_columns or ([date_column] if date_column else [])
        if frequency is not None:
            Frequency.parse(frequency)
        self.frequency = frequency
        self.target_columns = _check_names(target_columns, "target_columns")
        self.feature_columns = _check_names(feature_columns, "feature_columns")
        self.categorical_columns = _check_names(categorical_columns, "categorical_columns")
        self.exclude_columns = _check_names(exclude_columns, "exclude_columns")
        for argument, names in (
            ("target_columns", self.target_columns),
            ("feature_columns", self.feature_columns),
            ("categorical_columns", self.categorical_columns),
            ("exclude_columns", self.exclude_columns),
        ):
            dates = [n for n in names or [] if n in self.date_sources]
            if dates:
                raise ValueError(
                    f"{argument}: {dates} hold the dates (date_column / date_columns); "
                    f"expected other columns, got {names}"
                )
        if self.target_columns and self.feature_columns:
            missing_targets = [n for n in self.target_columns if n not in self.feature_columns]
            if missing_targets:
                raise ValueError(
                    f"feature_columns: the targets {missing_targets} must be features too (the "
                    f"history shows them); got {self.feature_columns}"
                )
        for argument, names in (
            ("categorical_columns", self.categorical_columns),
            ("exclude_columns", self.exclude_columns),
        ):
            clash = [n for n in self.target_columns or [] if n in (names or [])]
            if clash:
                raise ValueError(
                    f"{argument}: {clash} are targets (target_columns); a target must be a "
                    "numeric column"
                )
        left_out = [n for n in self.exclude_columns or [] if n in (self.feature_columns or [])]
        left_out += [n for n in self.exclude_columns or [] if n in (categorical_columns or [])]
        if left_out:
            raise ValueError(
                f"exclude_columns: {left_out} are also named as features (feature_columns or "
                "categorical_columns); name each column once"
            )
        self.missing = check_missing(missing)
        self.time_features = time_features
        self._time_kinds = _check_time_features(time_features)
        if not self.date_sources:
            if frequency is None:
                raise ValueError(
                    "frequency: with date_column=null (no dates, the rows are the steps) the "
                    "spacing of the rows must be given, e.g. data.frequency=h (hourly), D, MS"
                )
            if self._time_kinds != []:
                raise ValueError(
                    "time_features: calendar features need dates, and date_column=null says "
                    "the file has none; set time_features=false (or name the date column)"
                )
        calendar = time_feature_names(TIME_FEATURES)
        clash = [n for n in self.target_columns or [] if n in calendar]
        if clash and self._time_kinds != []:
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
        # Fitted from the file: the columns read, the categories of the training rows (by
        # column), the frequency and what the missing values came to.
        self._columns_read: list[str] | None = None
        self._file_categories: dict[str, list[str]] = {}
        self._categories: dict[str, list[str]] | None = None
        self._frequency: str | None = frequency
        self._missing_summary = ""
        self._date_layout: str | None = None  # of the training file ("" for ISO)

    @property
    def time_kinds(self) -> list[str]:
        """The calendar phases added as features (known once the file's frequency is)."""
        if self._time_kinds is None:
            raise RuntimeError("time_features=true: the frequency is known once the file is read")
        return self._time_kinds

    @property
    def time_feature_names(self) -> list[str]:
        return time_feature_names(self._time_kinds or [])

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
                table, self._file_categories, counts = self._read(
                    self.file, policy, read_csv_chunks(self.file, policy)
                )
            self._missing_summary = counts.describe(self.missing)
            table = self._handle_gaps(table, self.file)
            self._fit_frequency(table, self.file)
            self._table = table
        return self._table

    def _fit_frequency(self, table: SeriesTable, file: Path) -> None:
        """The series' frequency (given, or inferred from the dates; they must agree), and the
        calendar phases of ``time_features=true`` that vary at it."""
        given = Frequency.parse(self.frequency) if self.frequency is not None else None
        found = Frequency.infer(np.asarray(table.dates)) if self.date_sources else None
        if given is not None and found is not None and given != found:
            table.close()
            raise ValueError(
                f"frequency: {self.frequency!r} ({given.label}), but the dates of {file} "
                f"step by {found.label} (most often); set data.frequency={found.label} or null"
            )
        frequency = given or found
        self._frequency = frequency.label if frequency is not None else None
        if self._time_kinds is None:
            kinds = frequency.calendar_kinds() if frequency is not None else []
            if not kinds:
                table.close()
                raise ValueError(
                    f"time_features: the rows of {file} step by "
                    f"{frequency.label if frequency else 'one date'}: no calendar phase varies "
                    "at that frequency; set time_features=false"
                )
            self._time_kinds = kinds
        clash = [n for n in table.columns if n in self.time_feature_names]
        if clash:
            table.close()
            raise ValueError(
                f"{location(file, 1)}: the columns {clash} have the names of the calendar "
                "features (time_features); rename them or set time_features=false"
            )

    def _handle_gaps(self, table: SeriesTable, file: Path) -> SeriesTable:
        """``table`` after the ``time_gaps`` policy: checked, warned about, or filled."""
        if not self.date_sources:
            return table
        gaps = find_gaps(table.dates)
        if not len(gaps):
            return table
        first = int(gaps.after[0])
        first_gap = describe_gap(
            str(file),
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
                f"{len(gaps)} time {noun} in {file} (first: "
                f"{first_gap.removeprefix(f'{file}, ')}); windows across "
                "a gap treat distant times as consecutive (data.time_gaps=fill interpolates "
                "them, error stops)"
            )
            return table
        try:
            stored = np.asarray(table.dates)
            frequency = (
                Frequency.parse(self.frequency) if self.frequency else Frequency.infer(stored)
            )
            dates, values = fill_gaps(stored, np.asarray(table.values), gaps, frequency)
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

    def _read(
        self,
        file: Path,
        policy: BadLinePolicy,
        chunks: Iterator[CsvChunk] | None = None,
        records: list[tuple[int, list[str]]] | None = None,
        columns: list[str] | None = None,
        categories: dict[str, list[str]] | None = None,
    ) -> tuple[SeriesTable, dict[str, list[str]], MissingCounts]:
        """The validated rows of ``file`` (its ``chunks``, or its ``records`` with the header
        first) as a table, the categories of each categorical column (codes in order, after
        ``categories``), and the missing values' counts (the ``missing`` policy applied).
        ``columns``: the columns to read (None: as the settings say)."""
        if chunks is not None:
            first = next(chunks, None)
            rows: Iterator[tuple[int, list[str]]] = first.rows() if first is not None else iter(())
        else:
            rows, chunks = iter(records or []), iter(())
        header_line, header = next(rows, (1, []))
        header = [name.strip() for name in header]
        if not any(header):
            raise ValueError(f"{location(file, header_line)}: expected a header row, found none")
        columns = self._columns(header, header_line, file, columns)
        categorical = set(self.categorical_columns or [])
        codes = {
            c: CategoryCodes((categories or {}).get(c, ())) for c in columns if c in categorical
        }
        counts = MissingCounts()
        writer = TableWriter(columns, self.cache_dir)
        try:
            reader = _RowReader(self, policy, header, columns, writer, codes, counts)
            reader.add_rows(rows)
            for chunk in chunks:
                reader.add(chunk)
            if self._date_layout is None and reader.dates.decided:
                self._date_layout = reader.dates.layout or ""
            if not writer.count:
                raise ValueError(self._none_left(file, policy, counts))
            table = writer.finish(reader.row + 1, reader.style or 0)
        except BaseException:
            writer.abandon()
            raise
        if counts.cells and self.missing in ("ffill", "interpolate"):
            carried = [i for i, c in enumerate(columns) if c in categorical]
            table = fill_missing(table, self.missing, carried, counts, self.cache_dir)
            if not len(table.dates):
                table.close()
                raise ValueError(self._none_left(file, policy, counts))
        counts.warn(str(file), self.missing)
        return table, {c: code.names for c, code in codes.items()}, counts

    def _none_left(self, file: Path, policy: BadLinePolicy, counts: MissingCounts) -> str:
        """The error of a file none of whose rows survived, with what became of them."""
        why = [policy.summary(), counts.describe(self.missing)]
        details = "; ".join(w for w in why if w)
        if not details:
            return f"{file}: expected rows of data after the header, found none"
        return f"{file}: no rows of data left: {details}; expected rows of data that survive"

    def _columns(
        self, header: list[str], line: int, file: Path, columns: list[str] | None = None
    ) -> list[str]:
        """The columns to read: ``columns`` (prediction: those of training), else
        ``feature_columns`` (and ``categorical_columns``), else every column but the dates
        and ``exclude_columns``."""
        where = location(file, line)
        repeated = sorted({n for n in header if header.count(n) > 1})
        if repeated:
            raise ValueError(f"{where}: the header names the columns {repeated} twice")
        absent_dates = [n for n in self.date_sources if n not in header]
        if absent_dates:
            what = (
                f"a date column named {absent_dates[0]!r} (date_column)"
                if self.date_columns is None
                else f"the date columns {absent_dates} (date_columns)"
            )
            raise ValueError(
                f"{where}: expected {what} in the header, found columns {header} (no dates: "
                "set date_column=null and data.frequency)"
            )
        for argument, names in (
            ("target_columns", self.target_columns),
            ("feature_columns", self.feature_columns),
            ("categorical_columns", self.categorical_columns),
            ("exclude_columns", self.exclude_columns),
            ("the columns the model was trained on", columns),
        ):
            missing = [n for n in names or [] if n not in header]
            if missing:
                raise ValueError(
                    f"{where}: expected the columns {missing} ({argument}) in the header, "
                    f"found columns {header}"
                )
        if columns is not None:
            return list(columns)
        if self.feature_columns is not None:
            chosen = list(self.feature_columns)
            return chosen + [c for c in self.categorical_columns or [] if c not in chosen]
        skipped = set(self.date_sources) | set(self.exclude_columns or [])
        chosen = [n for n in header if n not in skipped]
        if not chosen:
            raise ValueError(
                f"{where}: expected numeric columns beside the dates {self.date_sources}"
            )
        return chosen

    def _cells(
        self, fields: list[str], indices: list[int], columns: list[str], codes: list[Any]
    ) -> tuple[str | None, list[float], list[str]]:
        """``(problem, values, missing columns)`` of one row's ``columns`` (categorical ones
        coded by ``codes``); a missing cell is NaN."""
        numbers: list[float] = []
        missing: list[str] = []
        for index, name, code in zip(indices, columns, codes):
            cell = fields[index].strip()
            if cell in MISSING_MARKERS:
                missing.append(name)
                numbers.append(math.nan)
                continue
            if code is not None:
                numbers.append(code.code(cell))
                continue
            try:
                value = float(cell)
            except ValueError:
                return (
                    f"column {name!r}: expected a number, got {cell!r} (a text column? name it "
                    f"in data.categorical_columns to one-hot encode it, or in "
                    f"data.exclude_columns to leave it out)",
                    [],
                    [],
                )
            if not math.isfinite(value):
                return f"column {name!r}: expected a finite number, got {cell!r}", [], []
            if abs(value) > FLOAT32_MAX:
                return (
                    f"column {name!r}: {cell} is beyond the float32 range the model computes "
                    f"in; expected a number of magnitude <= {FLOAT32_MAX:.3g}",
                    [],
                    [],
                )
            numbers.append(value)
        return None, numbers, missing

    def _missing_problem(self, fields: list[str], header: list[str], name: str) -> str:
        cell = fields[header.index(name)].strip()
        what = "empty cell (a missing value)" if not cell else f"missing value {cell!r}"
        return (
            f"column {name!r}: {what}; expected a value (set data.missing=drop, ffill or "
            "interpolate to drop or fill such rows)"
        )

    def _order(self, date: int, previous: int, previous_line: int) -> str | None:
        if date > previous:
            return None
        what = "duplicate date" if date == previous else "date not in increasing order"
        return (
            f"{self._date_name()}: {what}: {from_us(date).isoformat(sep=' ')} is not after "
            f"{from_us(previous).isoformat(sep=' ')} (line {previous_line}); expected strictly "
            "increasing dates (sort the file and drop duplicates, or set "
            "data.on_bad_line=skip to drop such rows)"
        )

    def _date_name(self) -> str:
        if self.date_columns is not None:
            return f"columns {self.date_columns}"
        return f"column {self.date_column!r}"

    def date_reader(self) -> DateReader:
        """A reader of the dates: of the training file (its layout decided by the first date
        it reads), or once that is read, of a prediction file (the same layout)."""
        return DateReader(
            self.date_sources,
            self.date_format,
            parts=self.date_columns is not None,
            trained=self._date_layout,
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
        self._fit_categories(table)
        names = {
            "feature_names": self._column_names(table.columns) + self.time_feature_names,
            "target_names": list(self.target_columns or self._numeric(table.columns)),
            "known_future_names": list(self.time_feature_names),
            "source": f"{self.file} rows {start}-{end}",
            "date_style": table.date_style,
        }
        return self._pieces(table, first, last, names)

    def _numeric(self, columns: list[str]) -> list[str]:
        return [c for c in columns if c not in (self.categorical_columns or [])]

    def _fit_categories(self, table: SeriesTable) -> None:
        """The categories of each categorical column that occur in the training rows."""
        if self._categories is not None:
            return
        self._columns_read = list(table.columns)
        start, end = self.segments()["train"]
        first, last = (int(i) for i in np.searchsorted(table.rows, [start, end]))
        indices = [i for i, c in enumerate(table.columns) if c in (self.categorical_columns or [])]
        seen: dict[int, set[float]] = {i: set() for i in indices}
        for block in range(first, last, TABLE_READ_ROWS) if indices else ():
            _, values = table.read(block, min(block + TABLE_READ_ROWS, last))
            for i in indices:
                seen[i].update(np.unique(values[:, i]).tolist())
        self._categories = {
            table.columns[i]: fitted_categories(
                np.array(sorted(seen[i]), dtype=np.float64), self._file_categories[table.columns[i]]
            )
            for i in indices
        }

    def _column_names(self, columns: list[str]) -> list[str]:
        """The feature names of the columns read: each categorical column becomes its
        one-hot features ``<column>=<category>``."""
        names: list[str] = []
        for column in columns:
            if column in (self._categories or {}):
                names += one_hot_names(column, self._categories[column])
            else:
                names.append(column)
        return names

    def _column_values(
        self, values: np.ndarray, columns: list[str], file_categories: dict[str, list[str]]
    ) -> np.ndarray:
        """``(T, F)`` the features of :meth:`_column_names` from ``(T, C)`` values read
        (categorical columns as codes into ``file_categories``)."""
        parts = []
        for index, column in enumerate(columns):
            if column in (self._categories or {}):
                codes = values[:, index]
                parts.append(one_hot(codes, file_categories[column], self._categories[column]))
            else:
                parts.append(values[:, index : index + 1])
        return np.concatenate(parts, axis=1) if parts else values[:, :0]

    def _pieces(
        self, table: SeriesTable, first: int, last: int, names: dict[str, Any]
    ) -> Iterator[dict[str, Any]]:
        step = max(TABLE_READ_ROWS // PIECE_ROWS, 1) * PIECE_ROWS
        for block in range(first, last, step):
            block_dates, block_values = table.read(block, min(block + step, last))
            block_dates = block_dates.view("datetime64[us]")
            for piece in range(0, len(block_dates), PIECE_ROWS):
                dates = block_dates[piece : piece + PIECE_ROWS]
                values = self._column_values(
                    block_values[piece : piece + PIECE_ROWS], table.columns, self._file_categories
                )
                if self.time_kinds:
                    calendar = time_feature_values(dates, self.time_kinds)
                    values = np.concatenate([values, calendar], axis=1)
                continues = block + piece > first
                yield {"dates": dates, "values": values, **names, "continues": continues}

    def artifacts(self) -> dict[str, Any]:
        """:class:`ForecastingDataModule`'s, the rows of the file (for the summary), and what
        prediction needs to read a file the same way: the columns read, the categories, the
        frequency."""
        artifacts = super().artifacts()
        if self._borders is not None:
            segments = self.segments()
            artifacts["rows"] = {
                split: {"rows": list(rows), "series": list(segments[split])}
                for split, rows in self._borders.items()
            }
        artifacts["series_file"] = {
            "columns": self._columns_read,
            "categories": self._categories,
            "frequency": self._frequency,
            "missing": self._missing_summary,
            "date_layout": self._date_layout,
        }
        return artifacts

    def load_artifacts(self, artifacts: dict[str, Any]) -> None:
        super().load_artifacts(artifacts)
        self._prepared_rows = artifacts.get("rows")
        fitted = artifacts.get("series_file") or {}
        self._columns_read = fitted.get("columns")
        self._categories = fitted.get("categories") or {}
        self._frequency = fitted.get("frequency") or self.frequency
        self._missing_summary = fitted.get("missing") or ""
        self._date_layout = fitted.get("date_layout")
        self._time_kinds = [k for k in TIME_FEATURES if f"{k}_sin" in self.feature_names]

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
        if self._frequency:
            out["frequency"] = self._frequency
        if self._missing_summary:
            out["missing"] = self._missing_summary
        return out

    # ---- prediction input --------------------------------------------------------------

    def derived_features(self, dates: np.ndarray) -> dict[str, np.ndarray]:
        """The calendar features of ``(T,)`` stored dates (``time_features``)."""
        kinds = self._time_kinds or []
        return dict(zip(time_feature_names(kinds), calendar_phases(dates, kinds).T))

    def parse_raw(self, raw: str) -> list[dict[str, Any]]:
        """A CSV file read as the training file was (the same date layout or date columns,
        missing-value policy, categorical and excluded columns, ``on_bad_line``, time gaps):
        its last ``input_length`` rows are the history; every derived feature (calendar
        phases, one-hot categories) is computed, not read. Trailing rows whose target cells
        are empty are the horizon's rows (needed when the model reads other known-future
        columns); without them the horizon's dates continue the series' frequency."""
        path = Path(raw)
        if not path.is_file():
            raise FileNotFoundError(2, "CSV file not found", str(path))
        derived = set(self.time_feature_names)
        columns = self._columns_read or [n for n in self.feature_names if n not in derived]
        with BadLinePolicy(path, self.on_bad_line) as policy:
            records = list(read_csv_records(path, policy))
            history_records, future = self._future_rows(records)
            table, file_categories, _ = self._read(
                path, policy, records=history_records, columns=columns, categories=self._categories
            )
        table = self._handle_gaps(table, path)
        total = len(table.dates)
        try:
            if total < self.input_length:
                raise ValueError(
                    f"{path}: expected at least {self.input_length} (input_length) rows of "
                    f"history, got {total}"
                )
            dates, values = table.read(total - self.input_length, total)
            style = table.date_style
        finally:
            table.close()
        names = self._column_names(columns)
        history = dict(zip(names, self._column_values(values, columns, file_categories).T))
        header = [n.strip() for n in records[0][1]]
        future_dates, given = self._future_values(path, header, future)
        if future_dates is None and self.date_sources and self._frequency:
            future_dates = Frequency.parse(self._frequency).after(int(dates[-1]), self.horizon)
        return [self.prediction_example(str(path), history, dates, future_dates, given, style)]

    def _future_rows(
        self, records: list[tuple[int, list[str]]]
    ) -> tuple[list[tuple[int, list[str]]], list[tuple[int, list[str]]]]:
        """``(header and history records, future records)``: the future ones are the trailing
        records whose target cells are all missing."""
        if not records:
            return records, []
        header = [n.strip() for n in records[0][1]]
        targets = [header.index(n) for n in self.target_names if n in header]
        body = list(records[1:])
        while body and not "".join(body[-1][1]).strip():
            body.pop()
        body, future = split_trailing(
            body,
            lambda record: (
                bool(targets)
                and len(record[1]) == len(header)
                and all(record[1][i].strip() in MISSING_MARKERS for i in targets)
            ),
        )
        return [records[0], *body], future

    def _future_values(
        self, path: Path, header: list[str], future: list[tuple[int, list[str]]]
    ) -> tuple[np.ndarray | None, dict[str, np.ndarray]]:
        """The dates and the given known-future values of the future rows."""
        other = [n for n in self.known_future_names if n not in self.time_feature_names]
        if not future:
            return None, {}
        if len(future) != self.horizon:
            raise ValueError(
                f"{path}: expected {self.horizon} (horizon) future rows with empty "
                f"{self.target_names} at the end, or none, got {len(future)}"
            )
        reader = self.date_reader()
        indices = [header.index(n) for n in self.date_sources]
        dates = np.full(len(future), NO_DATE, dtype=np.int64)
        if reader.has_dates:
            dates = reader.read([[fields[i] for _, fields in future] for i in indices])
        if reader.has_dates and (dates == NO_DATE).any():
            line = future[int(np.flatnonzero(dates == NO_DATE)[0])][0]
            raise ValueError(
                f"{location(path, line)}: {self._date_name()}: expected {reader.expected()}"
            )
        given: dict[str, list[float]] = {n: [] for n in other}
        for line, fields in future:
            problem, numbers, missing = self._cells(
                fields, [header.index(n) for n in other], other, [None] * len(other)
            )
            if problem is None and missing:
                problem = self._missing_problem(fields, header, missing[0])
            if problem is not None:
                raise ValueError(f"{location(path, line)}: {problem}")
            for name, number in zip(other, numbers):
                given[name].append(number)
        return (dates if reader.has_dates else None), {n: np.asarray(v) for n, v in given.items()}


class _RowReader:
    """Validates the data rows of a series file chunk by chunk and writes the good ones.

    A chunk by column (:class:`~rnnkit.data.io.csv_chunks.CsvChunk`) whose dates all parse
    (:class:`~rnnkit.data.forecasting.date_parsing.DateReader`), whose cells are all numbers,
    categories or missing (as the ``missing`` policy allows), and whose dates increase is
    taken in a few numpy operations; any other chunk row by row, with the checks and messages
    of the module (so the first problem is always reported as the row-by-row reading reports
    it).
    """

    def __init__(
        self,
        module: CSVSeriesDataModule,
        policy: BadLinePolicy,
        header: list[str],
        columns: list[str],
        writer: TableWriter,
        codes: dict[str, CategoryCodes],
        counts: MissingCounts,
    ) -> None:
        self.module = module
        self.policy = policy
        self.header = header
        self.columns = columns
        self.writer = writer
        self.counts = counts
        self.dates = module.date_reader()
        self.date_indices = [header.index(c) for c in module.date_sources]
        self.indices = [header.index(c) for c in columns]
        self.codes = [codes.get(c) for c in columns]
        self.row = -1  # the last data-row number given out (skipped rows count)
        self.blank_lines: list[int] = []  # an error only if more rows follow
        self.style: int | None = None
        self.last: tuple[int, int] | None = None  # the last kept row: (date, line)

    def add(self, chunk: CsvChunk) -> None:
        if chunk.columns is None or self.blank_lines or not self._add_columns(chunk):
            self.add_rows(chunk.rows())

    def _add_columns(self, chunk: CsvChunk) -> bool:
        """Take a clean chunk at once; False (nothing taken) when anything needs a closer look."""
        date_texts = [chunk.columns[i] for i in self.date_indices]
        if not self.dates.has_dates:
            dates = np.full(len(chunk), NO_DATE, dtype=np.int64)
        elif (dates := self.dates.read(date_texts)).min() == NO_DATE:
            return False
        values = np.empty((len(chunk), len(self.indices)), dtype=np.float64)
        for column, (index, codes) in enumerate(zip(self.indices, self.codes)):
            texts = chunk.columns[index]
            numbers = codes.codes(texts) if codes is not None else numeric_column(texts)
            if numbers is None:
                return False
            values[:, column] = numbers
        if (np.abs(values) > FLOAT32_MAX).any():
            return False
        if self.dates.has_dates and (
            not (dates[1:] > dates[:-1]).all()
            or (self.last is not None and dates[0] <= self.last[0])
        ):
            return False
        lines = chunk.lines
        rows = np.arange(self.row + 1, self.row + 1 + len(chunk), dtype=np.int64)
        missing = np.isnan(values)
        keep = slice(None)
        if missing.any():
            if self.module.missing == "error":
                return False
            first_row, first_column = np.argwhere(missing)[0]
            self.counts.note(int(lines[first_row]), self.columns[first_column], 0)
            self.counts.cells += int(missing.sum())
            if self.module.missing == "drop":
                keep = ~missing.any(axis=1)
                self.counts.dropped += int((~keep).sum())
        if self.style is None and len(rows[keep]):
            self.style = self.dates.style([texts[0] for texts in date_texts])
        self.writer.write(dates[keep], values[keep], rows[keep])
        self.row += len(chunk)
        if self.dates.has_dates:
            self.last = (int(dates[-1]), int(lines[-1]))
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
            problem, row_values, missing = None, [], []
            date_cells = [fields[i] for i in self.date_indices]
            date = self.dates.read_one(date_cells) if self.dates.has_dates else NO_DATE
            if self.dates.has_dates and date == NO_DATE:
                shown = date_cells[0].strip() if len(date_cells) == 1 else date_cells
                problem = f"{module._date_name()}: expected {self.dates.expected()}, got {shown!r}"
            if problem is None:
                problem, row_values, missing = module._cells(
                    fields, self.indices, self.columns, self.codes
                )
            if problem is None and missing and module.missing == "error":
                problem = module._missing_problem(fields, header, missing[0])
            if problem is None and self.last is not None and self.dates.has_dates:
                problem = module._order(date, *self.last)
            if problem is not None:
                policy.report(problem, line_number)
                continue
            if missing:
                self.counts.note(line_number, missing[0], len(missing))
                if module.missing == "drop":
                    self.counts.dropped += 1
                    continue
            if self.style is None:
                self.style = self.dates.style(date_cells)
            dates.append(date)
            values.append(row_values)
            numbers.append(self.row)
            if self.dates.has_dates:
                self.last = (date, line_number)
        if dates:
            self.writer.write(
                np.asarray(dates, dtype=np.int64),
                np.asarray(values, dtype=np.float64).reshape(len(dates), len(self.columns)),
                np.asarray(numbers, dtype=np.int64),
            )
