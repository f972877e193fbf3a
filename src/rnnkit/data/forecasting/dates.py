"""Dates of forecasting series as int64 numbers: parsed in bulk, written back as ISO text.

A step's date is stored as microseconds since 1970-01-01 of its wall-clock time (a time-zone
offset, when written, is not kept), :data:`NO_DATE` (numpy's ``NaT``) when it is unknown. How
the dates were written is kept as a small *style* code (:func:`date_style`): date only, minutes,
seconds or microseconds, and ``T`` or a space between date and time, so that
:func:`format_dates` gives back ``2016-07-01 00:00:00`` for ETT's dates and ``1958-03-29`` for
weekly ones.

:func:`parse_iso_layouts` reads the common layouts ``YYYY-MM-DD``, ``YYYY-MM-DD HH:MM`` and
``YYYY-MM-DD HH:MM:SS`` (``T`` or a space) with numpy, a few operations per column of dates;
other text goes through ``datetime.fromisoformat`` one date at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import numpy as np

NO_DATE = np.iinfo(np.int64).min
"""The stored value of an unknown date (numpy's ``NaT``); written back as ``""``."""
EPOCH = datetime(1970, 1, 1)
MICROSECOND = timedelta(microseconds=1)
DAY_US = 86_400_000_000
UNITS = ("D", "m", "s", "us")
"""The units a style writes dates in (the low two bits of a style code)."""
T_SEPARATOR = 4
"""The style bit for a ``T`` (rather than a space) between date and time."""
_WIDTHS = {"m": 16, "s": 19, "us": 26}  # of numpy's text of a date in years 1000-9999

# Positions of the digits of each layout (by its width) and its fixed characters.
_DIGITS = {
    10: [0, 1, 2, 3, 5, 6, 8, 9],
    16: [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15],
    19: [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18],
}
_FIXED = {10: {4: b"-", 7: b"-"}, 16: {4: b"-", 7: b"-", 13: b":"}}
_FIXED[19] = {**_FIXED[16], 16: b":"}


def wall_clock_us(date: datetime) -> int:
    """Microseconds since 1970-01-01 of ``date``'s wall-clock time (any offset dropped)."""
    return (date.replace(tzinfo=None) - EPOCH) // MICROSECOND


def from_us(value: int) -> datetime:
    """The naive ``datetime`` of a stored date."""
    return EPOCH + timedelta(microseconds=int(value))


def date_style(text: str) -> int:
    """The style code of a date written as ``text`` (see the module docstring)."""
    text = text.strip()
    if len(text) <= 10 or text[4:5] != "-":
        return 0 if len(text) <= 10 else 2
    separator = T_SEPARATOR if text[10] == "T" else 0
    time = text[11:].split("+")[0].split("-")[0].rstrip("Z")
    if "." in time or "," in time:
        unit = 3
    elif time.count(":") >= 2:
        unit = 2
    else:
        unit = 1
    return unit + separator


def format_dates(values: np.ndarray, style: int) -> np.ndarray:
    """Stored dates (any shape, int64) as ISO strings in ``style``; unknown dates as ``""``."""
    values = np.asarray(values, dtype=np.int64)
    unit = UNITS[style & 3]
    text = np.datetime_as_string(values.view("datetime64[us]"), unit=unit)
    if unit != "D" and not style & T_SEPARATOR:
        if text.dtype.itemsize == 4 * _WIDTHS[unit] and text.flags.c_contiguous:
            codes = text.view(np.uint32).reshape(*text.shape, _WIDTHS[unit])
            codes[..., 10] = ord(" ")  # every date has its T there (unknown ones are cleared)
        else:
            text = np.char.replace(text, "T", " ")
    unknown = values == NO_DATE
    if unknown.any():
        text = np.where(unknown, "", text)
    return text


def parse_iso_layouts(texts: Sequence[str]) -> np.ndarray | None:
    """``(n,)`` int64 stored dates of ``texts`` when every one is a valid date in the same one
    of the layouts ``YYYY-MM-DD``, ``YYYY-MM-DD?HH:MM``, ``YYYY-MM-DD?HH:MM:SS`` (``?`` a
    space or ``T``), with nothing around it; else None (nothing is refused here: the caller
    reads such text one date at a time)."""
    count = len(texts)
    if count == 0:
        return np.zeros(0, dtype=np.int64)
    widths = set(map(len, texts))
    if len(widths) != 1 or (width := widths.pop()) not in _DIGITS:
        return None
    try:
        data = "".join(texts).encode("ascii")
    except UnicodeEncodeError:
        return None
    chars = np.frombuffer(data, dtype=np.uint8).reshape(count, width)
    digits = chars[:, _DIGITS[width]].astype(np.int64) - ord("0")
    if ((digits < 0) | (digits > 9)).any():
        return None
    for position, char in _FIXED[width].items():
        if (chars[:, position] != ord(char)).any():
            return None
    if width > 10 and not np.isin(chars[:, 10], (ord(" "), ord("T"))).all():
        return None
    numbers = [digits[:, k] * 10 + digits[:, k + 1] for k in range(2, digits.shape[1], 2)]
    year = digits[:, 0] * 1000 + digits[:, 1] * 100 + numbers[0]
    zero = np.zeros(count, dtype=np.int64)
    hour, minute = (numbers[3], numbers[4]) if width > 10 else (zero, zero)
    second = numbers[5] if width > 16 else zero
    values = combine_parts(year, numbers[1], numbers[2], hour, minute, second)
    return None if (values == NO_DATE).any() else values


def combine_parts(
    year: np.ndarray,
    month: np.ndarray,
    day: np.ndarray,
    hour: np.ndarray | None = None,
    minute: np.ndarray | None = None,
    second: np.ndarray | None = None,
) -> np.ndarray:
    """``(n,)`` int64 stored dates of integer parts (``(n,)`` each; None: 0), :data:`NO_DATE`
    where the parts are no valid date (month 13, February 30, hour 24, ...)."""
    year, month, day = (np.asarray(a, dtype=np.int64) for a in (year, month, day))
    zero = np.zeros_like(year)
    hour, minute, second = (
        zero if a is None else np.asarray(a, np.int64) for a in (hour, minute, second)
    )
    valid = (year >= 1) & (year <= 9999) & (month >= 1) & (month <= 12)
    months = np.where(valid, (year - 1970) * 12 + month - 1, 0).astype("datetime64[M]")
    first_days = months.astype("datetime64[D]").astype(np.int64)
    month_lengths = (months + 1).astype("datetime64[D]").astype(np.int64) - first_days
    valid &= (day >= 1) & (day <= month_lengths) & (hour >= 0) & (hour <= 23)
    valid &= (minute >= 0) & (minute <= 59) & (second >= 0) & (second <= 59)
    seconds = (first_days + day - 1) * 86_400 + hour * 3600 + minute * 60 + second
    return np.where(valid, seconds * 1_000_000, NO_DATE)


def parse_dates(texts: Sequence[str]) -> tuple[np.ndarray, int]:
    """``(stored dates (n,) int64, style)`` of ISO date strings; a string that is no ISO date
    (empty, ``"week 5"``) is an unknown date. The style is that of the first known date."""
    texts = [str(t).strip() for t in texts]
    values = parse_iso_layouts(texts)
    if values is None:
        values = np.fromiter((_one_date(t) for t in texts), dtype=np.int64, count=len(texts))
    known = np.flatnonzero(values != NO_DATE)
    return values, date_style(texts[known[0]]) if len(known) else 0


def _one_date(text: str) -> int:
    try:
        return wall_clock_us(datetime.fromisoformat(text))
    except ValueError:
        return NO_DATE


def calendar_phases(values: np.ndarray, kinds: Sequence[str]) -> np.ndarray:
    """``(n, 2 * len(kinds))`` sin/cos of calendar phases of stored dates: ``hour`` (time of
    day; minutes and seconds included), ``weekday`` (Monday = 0), ``day_of_year`` (leap
    years included) and ``month`` (January = 0), each in ``[0, 1)`` of a turn. Computed as
    ``datetime`` fields would be."""
    values = np.asarray(values, dtype=np.int64)
    days = values // DAY_US
    phases = []
    for kind in kinds:
        if kind == "hour":
            seconds = (values // 1_000_000) % 86_400
            hours, minutes, secs = seconds // 3600, seconds // 60 % 60, seconds % 60
            phase = (hours + minutes / 60 + secs / 3600) / 24
        elif kind == "weekday":
            phase = ((days + 3) % 7) / 7  # 1970-01-01 was a Thursday
        elif kind == "day_of_year":
            years = days.astype("datetime64[D]").astype("datetime64[Y]")
            start = years.astype("datetime64[D]").astype(np.int64)
            length = (years + 1).astype("datetime64[D]").astype(np.int64) - start
            phase = (days - start) / length
        elif kind == "month":
            months = days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
            phase = (months % 12) / 12
        else:
            raise ValueError(
                f"calendar phase: expected hour, weekday, day_of_year or month, got {kind!r}"
            )
        angle = 2 * np.pi * np.asarray(phase, dtype=np.float64)
        phases += [np.sin(angle), np.cos(angle)]
    return np.stack(phases, axis=1) if phases else np.zeros((len(values), 0))
