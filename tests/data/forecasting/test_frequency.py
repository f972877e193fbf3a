"""Frequency: parsed from pandas-style aliases, inferred from dates, continued past the end."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rnnkit.data.forecasting.frequency import Frequency


def stored(texts: list[str]) -> np.ndarray:
    return np.array(texts, dtype="datetime64[us]").view(np.int64)


@pytest.mark.parametrize(
    ("dates", "label", "kinds"),
    [
        (
            ["2020-01-01 00:00", "2020-01-01 01:00", "2020-01-01 02:00"],
            "1h",
            ["hour", "weekday", "day_of_year"],
        ),
        (
            ["2020-01-01 00:00", "2020-01-01 00:15", "2020-01-01 00:45"],
            "15min",
            ["hour", "weekday", "day_of_year"],
        ),
        (["2020-01-01", "2020-01-02", "2020-01-03"], "1D", ["weekday", "day_of_year"]),
        (["2020-01-01", "2020-01-08", "2020-01-15"], "1W", ["day_of_year"]),
        (["1949-01-01", "1949-02-01", "1949-03-01", "1949-04-01"], "1MS", ["month"]),
        (["2020-01-31", "2020-02-29", "2020-03-31"], "1ME", ["month"]),
        (["2020-01-01", "2020-04-01", "2020-07-01"], "3MS", ["month"]),
        (["2019-01-01", "2020-01-01", "2021-01-01"], "12MS", []),
    ],
)
def test_the_frequency_of_dates_and_the_calendar_phases_that_vary_at_it(dates, label, kinds):
    frequency = Frequency.infer(stored(dates))
    assert frequency.label == label and frequency.calendar_kinds() == kinds
    assert Frequency.parse(label) == frequency


@pytest.mark.parametrize(
    ("dates", "alias"),
    [
        (["2020-01-01 22:00", "2020-01-01 23:00"], "h"),
        (["1949-11-01", "1949-12-01"], "MS"),
        (["2020-11-30", "2020-12-31"], "ME"),
        (["2020-01-15", "2020-02-15"], "MS"),
        (["2019-10-01", "2020-01-01"], "QS"),
    ],
)
def test_after_continues_as_pandas_date_range_does(dates, alias):
    frequency = Frequency.infer(stored(dates))
    last = pd.Timestamp(dates[-1])
    if alias == "MS" and last.day != 1:  # same day of each month
        expected = [last + pd.DateOffset(months=k) for k in range(1, 6)]
    else:
        expected = list(pd.date_range(last, periods=6, freq=alias))[1:]
    got = frequency.after(int(stored(dates)[-1]), 5).view("datetime64[us]")
    assert list(pd.DatetimeIndex(got)) == expected


@pytest.mark.parametrize("text", ["2x", "0h", "", "hourly", "1.5h"])
def test_an_unknown_frequency_is_refused(text):
    with pytest.raises(ValueError, match="frequency: expected a regular frequency such as"):
        Frequency.parse(text)
