"""Time gaps in a series: missing steps between two rows whose dates are further apart than the
series' usual step.

A window that spans a gap puts distant times side by side as if they were consecutive; the
model learns from it silently. The ``time_gaps`` setting of the file-based forecasting loaders
decides what a gap does:

* ``"warn"`` (the default): one :class:`TimeGapWarning` per file with the count and the first
  gap; the rows are kept as they are. The default, because a gap is not always a mistake
  (business days, market hours, rows dropped by ``on_bad_line=skip``) and the data is left
  untouched, yet never accepted silently.
* ``"error"``: the first gap stops the run, naming the file, its rows and dates.
* ``"fill"``: the missing steps are inserted, their values interpolated linearly between the
  rows on either side; only for gaps that are a whole number of steps.

The step is the most common difference between consecutive dates; a gap is a difference of
more than 1.5 steps (so monthly data, 28 to 31 days apart, has none until a month is missing).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from rnnkit.data.forecasting.frequency import Frequency

TIME_GAPS = ("warn", "error", "fill")
"""The values of ``time_gaps``."""
GAP_FACTOR = 1.5
"""A difference of more than this many steps between consecutive dates is a gap."""


class TimeGapWarning(UserWarning):
    """A series has time gaps (``time_gaps="warn"``)."""


def check_time_gaps(value: Any) -> str:
    if value not in TIME_GAPS:
        raise ValueError(f"time_gaps: expected one of {list(TIME_GAPS)}, got {value!r}")
    return value


@dataclass
class Gaps:
    """The gaps of one series of ``(T,)`` int64 dates (microseconds).

    Attributes:
        step: the usual difference between consecutive dates (0 for fewer than two dates).
        after: ``(G,)`` indices ``i`` of the rows followed by a gap (``dates[i + 1] - dates[i]``
            more than :data:`GAP_FACTOR` steps).
    """

    step: int
    after: np.ndarray

    def __len__(self) -> int:
        return len(self.after)

    def missing_steps(self, dates: np.ndarray) -> np.ndarray:
        """``(G,)`` whole steps missing in each gap (rounded)."""
        spans = dates[self.after + 1] - dates[self.after]
        return np.rint(spans / self.step).astype(np.int64) - 1


def find_gaps(dates: np.ndarray) -> Gaps:
    """The step and the gaps of ``dates`` (``(T,)`` int64, increasing)."""
    differences = np.diff(np.asarray(dates, dtype=np.int64))
    if not len(differences):
        return Gaps(0, np.zeros(0, dtype=np.int64))
    values, counts = np.unique(differences, return_counts=True)
    step = int(values[counts.argmax()])
    return Gaps(step, np.flatnonzero(differences > GAP_FACTOR * step))


def describe_gap(where: str, step: int, rows: tuple[int, int], dates: tuple[str, str]) -> str:
    """``"<where>, data rows 4-5: no rows between <date> and <date> (the series steps by
    1:00:00)"``: the rows (``(R,)`` table row numbers) and dates on either side of one gap."""
    span = np.timedelta64(step, "us").astype(object)
    return (
        f"{where}, data rows {rows[0]}-{rows[1]}: no rows between {dates[0]} and {dates[1]} "
        f"(the series steps by {span}); expected evenly spaced dates"
    )


def fill_gaps(
    dates: np.ndarray, values: np.ndarray, gaps: Gaps, frequency: Frequency | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``(dates, values)`` with every gap's missing steps inserted, values interpolated
    linearly in time; ``dates (T,)`` int64, ``values (T, C)`` float64. The steps are those of
    ``frequency`` when it counts calendar months (28 to 31 days each), else ``gaps.step``.

    Raises:
        ValueError: a gap is not a whole number of steps (its index in the message).
    """
    if frequency is not None and frequency.months:
        months = dates.view("datetime64[us]").astype("datetime64[M]").view(np.int64)
        spans = months[gaps.after + 1] - months[gaps.after]
        ahead = [frequency.after(int(dates[i]), 1)[0] for i in gaps.after]
        uneven = np.flatnonzero(
            (spans % frequency.months) | (np.array(ahead) >= dates[gaps.after + 1])
        )
        if len(uneven):
            raise ValueError(f"gap {int(uneven[0])}: not a whole number of {frequency.label} steps")
        missing = spans // frequency.months - 1
        inserted = [frequency.after(int(dates[i]), int(m)) for i, m in zip(gaps.after, missing)]
    else:
        spans = dates[gaps.after + 1] - dates[gaps.after]
        uneven = np.flatnonzero(spans % gaps.step)
        if len(uneven):
            raise ValueError(f"gap {int(uneven[0])}: not a whole number of steps of {gaps.step} us")
        missing = spans // gaps.step - 1
        inserted = [dates[i] + gaps.step * np.arange(1, m + 1) for i, m in zip(gaps.after, missing)]
    inserted_dates = np.concatenate(inserted)
    all_dates = np.concatenate([dates, inserted_dates])
    order = np.argsort(all_dates, kind="stable")
    filled_dates = all_dates[order]
    filled_values = np.stack(
        [np.interp(filled_dates, dates, values[:, j]) for j in range(values.shape[1])], axis=1
    )
    return filled_dates, filled_values.reshape(len(filled_dates), values.shape[1])


def warn_gaps(message: str) -> None:
    warnings.warn(message, TimeGapWarning, stacklevel=3)
