"""Series dates as int64: bulk ISO parsing agrees with datetime.fromisoformat, refuses what it
cannot vouch for, writes dates back as they were written; calendar phases as datetime's."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from rnnkit.data.forecasting.csv_series import time_feature_values
from rnnkit.data.forecasting.dates import (
    NO_DATE,
    calendar_phases,
    date_style,
    format_dates,
    from_us,
    parse_dates,
    parse_iso_layouts,
    wall_clock_us,
)

LAYOUTS = ["%Y-%m-%d", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S"]


def random_dates(seed: int, count: int = 200) -> list[datetime]:
    rng = random.Random(seed)
    start = datetime(1, 1, 1)
    span = (datetime(9999, 12, 31) - start).total_seconds()
    return [start + timedelta(seconds=int(rng.random() * span)) for _ in range(count)]


@pytest.mark.parametrize("layout", LAYOUTS)
def test_bulk_parsing_agrees_with_fromisoformat_and_writes_dates_back(layout):
    texts = [
        d.strftime(layout).rjust(len(datetime(2000, 1, 1).strftime(layout)), "0")
        for d in random_dates(0)
    ]
    texts += ["2016-02-29" + texts[0][10:], "1969-12-31" + texts[0][10:]]  # leap day, before 1970
    values = parse_iso_layouts(texts)
    assert values is not None and values.dtype == np.int64
    assert values.tolist() == [wall_clock_us(datetime.fromisoformat(t)) for t in texts]
    assert format_dates(values, date_style(texts[0])).tolist() == texts


@pytest.mark.parametrize(
    "texts",
    [
        ["2017-02-29"],  # not a leap year
        ["2016-04-31"],
        ["2016-13-01"],
        ["0000-01-01"],
        ["2016-07-01 24:00"],
        ["2016-07-01 23:60"],
        ["2016-07-01 23:59:60"],
        ["2016-07-01", "2016-07-01 01:00"],  # two layouts
        [" 2016-07-01"],
        ["2016/07/01"],
        ["2016-07-01x01:00"],
        ["2016-07-0١"],  # an Arabic-Indic digit
        ["2016-07-01T00:00:00+02:00"],
    ],
)
def test_bulk_parsing_leaves_anything_else_to_fromisoformat(texts):
    assert parse_iso_layouts(texts) is None


def test_parse_dates_keeps_unknown_dates_unknown_and_drops_offsets():
    values, style = parse_dates(["", "week 5", "2016-07-01T12:30:00+02:00", "2016-07-01 13:00"])
    assert values[:2].tolist() == [NO_DATE, NO_DATE]
    assert from_us(values[2]) == datetime(2016, 7, 1, 12, 30)  # the wall clock as written
    assert format_dates(values, style).tolist() == [
        "",
        "",
        "2016-07-01T12:30:00",
        "2016-07-01T13:00:00",
    ]
    assert parse_dates([])[0].shape == (0,)


@pytest.mark.parametrize(
    ("text", "written"),
    [
        ("2016-07-01", "2016-07-01"),
        ("2016-07-01 06:00", "2016-07-01 06:00"),
        ("2016-07-01T06:00:00", "2016-07-01T06:00:00"),
        ("2016-07-01 06:00:00.250000", "2016-07-01 06:00:00.250000"),
        ("2016-07-01T06:00:00Z", "2016-07-01T06:00:00"),
    ],
)
def test_the_style_of_a_date_writes_it_back(text, written):
    values, style = parse_dates([text])
    assert format_dates(values, style).tolist() == [written]


def test_calendar_phases_are_those_of_the_datetime_fields():
    dates = random_dates(1) + [datetime(2016, 12, 31, 23, 59, 59), datetime(1900, 3, 1)]
    values = np.array([wall_clock_us(d) for d in dates])
    for kind in ("hour", "weekday", "day_of_year"):
        if kind == "hour":
            phase = [(d.hour + d.minute / 60 + d.second / 3600) / 24 for d in dates]
        elif kind == "weekday":
            phase = [d.weekday() / 7 for d in dates]
        else:
            leap = [d.year % 4 == 0 and (d.year % 100 != 0 or d.year % 400 == 0) for d in dates]
            phase = [(d.timetuple().tm_yday - 1) / (366 if y else 365) for d, y in zip(dates, leap)]
        angle = 2 * np.pi * np.asarray(phase)
        expected = np.stack([np.sin(angle), np.cos(angle)], axis=1)
        np.testing.assert_array_equal(calendar_phases(values, [kind]), expected)
    with_zone = [datetime(2016, 7, 1, 6, tzinfo=timezone(timedelta(hours=5)))]
    np.testing.assert_array_equal(
        time_feature_values(with_zone, ["hour"]),
        time_feature_values([datetime(2016, 7, 1, 6)], ["hour"]),
    )
    assert calendar_phases(values, []).shape == (len(dates), 0)
    with pytest.raises(ValueError, match="calendar phase: expected"):
        calendar_phases(values, ["minute"])
