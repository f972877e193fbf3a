"""Where a series file keeps its dates, and how they are read: a column of dates in any one
layout, dates split over columns (year, month, day, hour, ...), or none at all.

:class:`DateReader` turns the date cells of a chunk of rows into stored dates (int64
microseconds, :mod:`~rnnkit.data.forecasting.dates`), :data:`~.dates.NO_DATE` where a cell is no
date:

* one column (``date_column``), ``date_format=None``: the ISO layouts in bulk with numpy (ETT's
  ``2016-07-01 00:00:00``); any other layout is guessed once, from the first date, by pandas
  (``1990/1/1 0:00`` -> ``%Y/%m/%d %H:%M``; ``1949-01`` -> ``%Y-%m``) and every later date
  must have it. ``date_format`` (strftime codes, e.g. ``%d.%m.%Y %H:%M``) says it when pandas
  cannot guess, or guesses wrong (``01/02/2020``: month first unless told).
* ``date_columns=[year, month, day, hour]``: 2 to 6 integer columns, in the order year, month,
  day, hour, minute, second (absent ones are 1 for the day, 0 for the rest).
* neither: no dates (``date_column=null``); the rows are steps of ``frequency``.

A time-zone offset, when written, is dropped (the wall-clock time is kept).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import numpy as np

from rnnkit.data.forecasting.dates import (
    NO_DATE,
    combine_parts,
    date_style,
    parse_iso_layouts,
    wall_clock_us,
)

PARTS = ("year", "month", "day", "hour", "minute", "second")
"""What each column of ``date_columns`` holds, in order."""
ISO_EXAMPLE = "2016-07-01 00:00:00"


class DateReader:
    """Stored dates from the date cells of rows (see the module docstring).

    Args:
        columns: the columns holding the date: one (a date column), 2-6 (parts), or none.
        date_format: the strftime layout of a one-column date (None: ISO or guessed).
        parts: whether ``columns`` are parts (``date_columns``) rather than one date column.
        trained: the layout a training file had (:attr:`layout` after reading it, ``""`` for
            ISO): a prediction file must have it too.
    """

    def __init__(
        self,
        columns: Sequence[str],
        date_format: str | None = None,
        parts: bool = False,
        trained: str | None = None,
    ) -> None:
        self.columns = list(columns)
        self.date_format = date_format
        self.parts = parts
        self.trained = trained
        self.layout: str | None = date_format or trained or None  # None: ISO; else strftime
        self.decided = date_format is not None or parts or trained is not None

    @property
    def has_dates(self) -> bool:
        return bool(self.columns)

    def read(self, cells: Sequence[Sequence[str]]) -> np.ndarray:
        """``(n,)`` int64 dates of ``n`` rows; ``cells[k]`` holds column ``k``'s ``n`` texts."""
        if not self.columns:
            raise ValueError("no date columns: the rows have no dates to read")
        if self.parts:
            return self._from_parts(cells)
        texts = cells[0]
        if not self.decided:
            self._decide(texts)
        if self.layout is None:
            values = parse_iso_layouts(texts)  # the usual case: no copy of the texts
            if values is None:
                stripped = [str(t).strip() for t in texts]
                values = parse_iso_layouts(stripped)
            if values is None:
                values = np.fromiter((_iso(t) for t in stripped), np.int64, len(stripped))
            return values
        return _with_layout([str(t).strip() for t in texts], self.layout)

    def read_one(self, cells: Sequence[str]) -> int:
        """The date of one row (its date cells in :attr:`columns` order)."""
        return int(self.read([[cell] for cell in cells])[0])

    def style(self, cells: Sequence[str]) -> int:
        """The style code (:func:`~rnnkit.data.forecasting.dates.date_style`) to write the
        dates back in, from the date cells of the first row."""
        if not self.columns:
            return 0
        if self.parts:
            return (0, 0, 0, 1, 1, 2)[len(self.columns) - 1]
        if self.layout is None:
            return date_style(str(cells[0]))
        if "%S" in self.layout:
            return 2
        return 1 if any(code in self.layout for code in ("%H", "%I", "%M")) else 0

    def expected(self) -> str:
        """What a date cell should look like, for messages."""
        if self.parts:
            return (
                f"whole numbers for the {', '.join(PARTS[: len(self.columns)])} "
                f"(date_columns {self.columns}) that make a valid date"
            )
        if self.trained is not None and self.date_format is None:
            layout = f"the layout {self.layout!r}" if self.layout else "ISO dates"
            return f"a date such as the training file's ({layout})"
        if self.layout is None:
            return (
                f"an ISO date such as {ISO_EXAMPLE} (as the first row; another layout: set "
                "data.date_format, e.g. '%d/%m/%Y %H:%M')"
            )
        if self.date_format is not None:
            return f"a date in the layout {self.layout!r} (data.date_format)"
        return (
            f"a date in the layout {self.layout!r} (guessed from the first row; set "
            "data.date_format if the file uses another)"
        )

    def _decide(self, texts: Sequence[str]) -> None:
        """Take the layout of the first date: ISO, or what pandas guesses."""
        first = next((s for s in (str(t).strip() for t in texts) if s), None)
        if first is None:
            return
        self.decided = True
        if _iso(first) != NO_DATE:
            return
        from pandas.tseries.api import guess_datetime_format

        self.layout = guess_datetime_format(first)  # None: stays ISO (every date refused)

    def _from_parts(self, cells: Sequence[Sequence[str]]) -> np.ndarray:
        numbers = []
        for texts in cells:
            try:
                values = np.array([str(t).strip() for t in texts], dtype=np.float64)
            except ValueError:
                values = np.array([_number(t) for t in texts], dtype=np.float64)
            bad = ~np.isfinite(values) | (values != np.round(values))
            numbers.append(np.where(bad, -1, values).astype(np.int64))
        defaults = [None, None, np.ones_like(numbers[0])]
        year, month, day = (numbers + defaults[len(numbers) :])[:3]
        return combine_parts(year, month, day, *numbers[3:])


def check_date_format(value: object) -> str | None:
    """``date_format``: None or a strftime layout (with at least one ``%`` code)."""
    if value is None:
        return None
    if not isinstance(value, str) or "%" not in value:
        raise ValueError(
            f"date_format: expected a strftime layout such as '%Y/%m/%d %H:%M' or '%d.%m.%Y' "
            f"(or null: ISO dates, or guessed from the first row), got {value!r}"
        )
    return value


def _iso(text: str) -> int:
    try:
        return wall_clock_us(datetime.fromisoformat(text))
    except ValueError:
        return NO_DATE


def _number(text: str) -> float:
    try:
        return float(str(text).strip())
    except ValueError:
        return float("nan")


def _with_layout(texts: list[str], layout: str) -> np.ndarray:
    """Dates in the strftime ``layout`` (pandas, in bulk); :data:`NO_DATE` where one is not."""
    import pandas as pd

    parsed = pd.to_datetime(pd.Series(texts, dtype=object), format=layout, errors="coerce")
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_localize(None)  # the wall-clock time, as for ISO offsets
    values = parsed.astype("datetime64[us]").to_numpy().view(np.int64)
    return np.where(parsed.isna().to_numpy(), NO_DATE, values)
