"""The regular spacing of a series' rows: a fixed step (minutes to weeks) or calendar months.

``data.frequency`` names it with pandas' aliases (``15min``, ``h``, ``6h``, ``D``, ``W``,
``MS`` (month starts) or ``ME`` (month ends), ``QS``/``QE``, ``YS``/``YE``; a number in front
multiplies); without it, it is inferred from the dates (:meth:`Frequency.infer`): the most
common difference between consecutive dates, read as calendar months when the dates fall on
one day of the month (or on each month's last day) 28 to 31 days (or a multiple) apart. It
decides which calendar phases ``time_features=true`` adds (:meth:`Frequency.calendar_kinds`)
and the dates of a forecast's horizon (:meth:`Frequency.after`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from rnnkit.data.forecasting.dates import DAY_US

HOUR_US = 3_600_000_000
_UNITS_US = {"s": 1_000_000, "min": 60_000_000, "h": HOUR_US, "D": DAY_US, "W": 7 * DAY_US}
_UNIT_ALIASES = {"S": "s", "T": "min", "H": "h", "d": "D"}
_MONTH_UNITS = {"MS": 1, "M": 1, "ME": 1, "QS": 3, "Q": 3, "QE": 3, "YS": 12, "Y": 12, "YE": 12}
_MONTH_ENDS = {"M", "ME", "Q", "QE", "Y", "YE"}
_PATTERN = re.compile(r"^\s*(\d*)\s*([A-Za-z]+)\s*$")
FREQUENCY_EXAMPLES = "15min, h, 6h, D, W, MS (months), QS, YS"


@dataclass(frozen=True)
class Frequency:
    """A fixed step of ``step_us`` microseconds, or ``months`` calendar months (one is 0),
    on the same day of the month or, ``month_end``, on the last day of each month."""

    step_us: int = 0
    months: int = 0
    month_end: bool = False

    @classmethod
    def parse(cls, text: str, key: str = "frequency") -> Frequency:
        """``"6h"`` -> 6 hours, ``"MS"`` -> one month, ... (see the module docstring)."""
        match = _PATTERN.match(str(text))
        unit = match and _UNIT_ALIASES.get(match.group(2), match.group(2))
        count = int(match.group(1) or 1) if match else 0
        if not match or count < 1 or (unit not in _UNITS_US and unit not in _MONTH_UNITS):
            raise ValueError(
                f"{key}: expected a regular frequency such as {FREQUENCY_EXAMPLES}, got {text!r}"
            )
        if unit in _MONTH_UNITS:
            return cls(months=count * _MONTH_UNITS[unit], month_end=unit in _MONTH_ENDS)
        return cls(step_us=count * _UNITS_US[unit])

    @classmethod
    def infer(cls, dates: np.ndarray) -> Frequency | None:
        """The frequency of ``(T,)`` int64 increasing dates (None for fewer than two)."""
        dates = np.asarray(dates, dtype=np.int64)
        if len(dates) < 2:
            return None
        values, counts = np.unique(np.diff(dates), return_counts=True)
        step = int(values[counts.argmax()])
        days = dates.view("datetime64[us]").astype("datetime64[D]")
        month_starts = days.astype("datetime64[M]")
        offsets = dates - month_starts.astype("datetime64[us]").view(np.int64)
        times = dates - days.astype("datetime64[us]").view(np.int64)
        month_end = bool(((days + 1).astype("datetime64[M]") != month_starts).all())
        same_time = len(np.unique(times)) == 1
        if step >= 28 * DAY_US and same_time and (len(np.unique(offsets)) == 1 or month_end):
            months = np.diff(month_starts.view(np.int64))
            values, counts = np.unique(months, return_counts=True)
            return cls(months=int(values[counts.argmax()]), month_end=month_end)
        return cls(step_us=step)

    @property
    def label(self) -> str:
        """Written as :meth:`parse` reads it: ``1h``, ``15min``, ``1D``, ``3MS``."""
        if self.months:
            return f"{self.months}{'ME' if self.month_end else 'MS'}"
        for unit in ("W", "D", "h", "min", "s"):
            if self.step_us % _UNITS_US[unit] == 0:
                return f"{self.step_us // _UNITS_US[unit]}{unit}"
        return f"{self.step_us}us"

    def calendar_kinds(self) -> list[str]:
        """The calendar phases that vary at this frequency (``time_features=true``): hour,
        weekday and day of year below a day; weekday and day of year up to a week; day of year
        up to a month; the month for monthly and quarterly series; none for yearly ones."""
        if self.months:
            return ["month"] if self.months < 12 else []
        if self.step_us < DAY_US:
            return ["hour", "weekday", "day_of_year"]
        if self.step_us < 7 * DAY_US:
            return ["weekday", "day_of_year"]
        if self.step_us < 28 * DAY_US:
            return ["day_of_year"]
        return ["month"]

    def after(self, last: int, count: int) -> np.ndarray:
        """``(count,)`` int64 dates continuing the series after the date ``last``."""
        steps = np.arange(1, count + 1, dtype=np.int64)
        if not self.months:
            return last + steps * self.step_us
        moment = np.int64(last).view("datetime64[us]")
        month = moment.astype("datetime64[M]")
        start = month + 1 if self.month_end else month  # offsets from the next month's start
        offset = int(last) - int(start.astype("datetime64[us]").view(np.int64))
        months = start + steps * self.months
        return months.astype("datetime64[us]").view(np.int64) + offset
