"""Forecasting a real measured series that statsmodels ships: Mauna Loa CO2 (or sunspots).

``series="co2"`` (default): weekly atmospheric CO2 at Mauna Loa in ppm, 1958-03-29 to
2001-12-29, 2,284 weeks (``statsmodels.datasets.co2``, no download). 59 missing weeks (runs of
up to 18) are filled by linear interpolation between their neighbours. Features per week:
``co2`` (the target) and ``season_sin``/``season_cos``, the phase of the calendar year
(day of year / 365.25), a covariate known in advance for the forecast horizon too
(``known_future_names``). Task: from :data:`DEFAULT_INPUT_LENGTH` = 104 weeks (two seasonal
cycles) forecast the next :data:`DEFAULT_HORIZON` = 26 weeks (half a year).

``series="sunspots"``: yearly mean sunspot activity 1700-2008 (309 years,
``statsmodels.datasets.sunspots``), one feature ``sunactivity``; suggested window
``WINDOWS["sunspots"]`` = 22 years in (two ~11-year cycles), 5 out.

Splits: contiguous chronological segments, 70 / 15 / 15 % (co2: 1,599 / 343 / 342 weeks;
sunspots: 216 / 46 / 47 years), so val and test lie in the future of train. Each segment is
one example; windows are cut by the caller, within the segment. ``seed`` is accepted for the
common ``load`` signature and has no effect: the data is a measurement.

Why order matters: the future continues the trend and the phase of the seasonal cycle at the
END of the input window. The order-blind baseline, a function of the multiset of input values,
is the window mean repeated over the horizon; it lags the trend by half a window and ignores
the season. On the co2 test windows its mean absolute error is 2.62 ppm, against 0.91 ppm for
an order-aware rule as simple as "the value 52 weeks earlier plus the yearly increase seen in
the input window" (persistence of the last value: 2.62 ppm; measured by the tests). Note the
upward trend: test values (~360-372 ppm) lie above every training value, so scale per window
(e.g. subtract the last input value) rather than with global training statistics.

:class:`BuiltinForecastingDataModule` at the end of this file serves these examples to the task
(``data=forecasting_builtin``).
"""

from __future__ import annotations

import csv
import importlib.util
import math
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any, TypedDict

import numpy as np

from rnnkit.data.builtin import SPLITS, check_split
from rnnkit.data.forecasting.datamodule import ForecastingDataModule

SERIES = ("co2", "sunspots")
# (input length, horizon) per series, in steps of the series (weeks, years).
WINDOWS = {"co2": (104, 26), "sunspots": (22, 5)}
DEFAULT_INPUT_LENGTH, DEFAULT_HORIZON = WINDOWS["co2"]
SPLIT_FRACTIONS = {"train": 0.70, "val": 0.15, "test": 0.15}


class ForecastingExample(TypedDict):
    dates: list[str]
    values: list[list[float]]
    feature_names: list[str]
    target_names: list[str]
    known_future_names: list[str]


def _statsmodels_file(*parts: str) -> Path:
    """A file statsmodels ships under ``statsmodels/datasets``, without importing statsmodels."""
    spec = importlib.util.find_spec("statsmodels")
    for location in (spec.submodule_search_locations or []) if spec else []:
        path = Path(location, "datasets", *parts)
        if path.is_file():
            return path
    raise FileNotFoundError(
        f"statsmodels' bundled datasets/{'/'.join(parts)} was not found: install statsmodels"
    )


def _interpolate_missing(values: np.ndarray) -> np.ndarray:
    """Fill NaNs by linear interpolation over the (evenly spaced) steps."""
    missing = np.isnan(values)
    if missing.all():
        raise ValueError("values: expected at least one measured value, got only NaNs")
    steps = np.arange(len(values))
    filled = values.copy()
    filled[missing] = np.interp(steps[missing], steps[~missing], values[~missing])
    return filled


@cache
def _series(name: str) -> tuple[tuple[str, ...], np.ndarray, tuple[str, ...], tuple[str, ...]]:
    """(ISO dates, values (T, F) float64, feature names, known-future feature names)."""
    if name == "co2":
        with _statsmodels_file("co2", "co2.csv").open(newline="") as handle:
            rows = list(csv.DictReader(handle))
        days = [date(int(r["date"][:4]), int(r["date"][4:6]), int(r["date"][6:])) for r in rows]
        co2 = np.array([float(r["co2"]) if r["co2"] else math.nan for r in rows])
        stored = np.array(days, dtype="datetime64[us]").view(np.int64)
        values = np.stack([_interpolate_missing(co2), *season(stored)], axis=1)
        features, known = ("co2", "season_sin", "season_cos"), ("season_sin", "season_cos")
    else:
        with _statsmodels_file("sunspots", "sunspots.csv").open(newline="") as handle:
            rows = list(csv.DictReader(handle))
        days = [date(int(float(r["YEAR"])), 1, 1) for r in rows]
        values = np.array([[float(r["SUNACTIVITY"])] for r in rows])
        features, known = ("sunactivity",), ()
    values.setflags(write=False)
    return tuple(d.isoformat() for d in days), values, features, known


def season(dates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(sin, cos)`` of the phase of the calendar year, 2 pi * (day of year) / 365.25, of
    ``(T,)`` stored dates (int64 microseconds, :mod:`~rnnkit.data.forecasting.dates`)."""
    days = np.asarray(dates, dtype=np.int64).view("datetime64[us]").astype("datetime64[D]")
    day_of_year = (days - days.astype("datetime64[Y]").astype("datetime64[D]")).astype(np.int64)
    phase = 2 * math.pi * (day_of_year + 1) / 365.25
    return np.sin(phase), np.cos(phase)


def split_bounds(length: int) -> dict[str, tuple[int, int]]:
    """[start, stop) of each split in a series of ``length`` steps (70 / 15 / 15 %)."""
    n_train = round(SPLIT_FRACTIONS["train"] * length)
    n_val = round(SPLIT_FRACTIONS["val"] * length)
    stops = dict(zip(SPLITS, (n_train, n_train + n_val, length)))
    starts = dict(zip(SPLITS, (0, n_train, n_train + n_val)))
    return {split: (starts[split], stops[split]) for split in SPLITS}


def load(split: str, seed: int = 0, series: str = "co2") -> list[ForecastingExample]:
    """``[one example]``: the chronological segment ``split`` of ``series``.

    ``values`` is ``(T, num_features)`` as nested lists, the targets among the features
    (``target_names``); ``dates`` are ISO strings, one per step. ``seed`` has no effect.
    """
    check_split(split)
    if series not in SERIES:
        raise ValueError(f"series: expected one of {SERIES}, got {series!r}")
    dates, values, features, known = _series(series)
    start, stop = split_bounds(len(dates))[split]
    return [
        ForecastingExample(
            dates=list(dates[start:stop]),
            values=values[start:stop].tolist(),
            feature_names=list(features),
            target_names=[features[0]],
            known_future_names=list(known),
        )
    ]


# ---- the datamodule ---------------------------------------------------------------------------


class BuiltinForecastingDataModule(ForecastingDataModule):
    """Read offline (see the generator above); ``series`` is ``co2`` or
    ``sunspots``; each split is one chronological segment of it."""

    def __init__(self, series: str = "co2", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if series not in SERIES:
            raise ValueError(f"series: expected one of {SERIES}, got {series!r}")
        self.series = series

    def derived_features(self, dates: np.ndarray) -> dict[str, np.ndarray]:
        """``season_sin``/``season_cos`` of the co2 series: the phase of the calendar year
        (day of year / 365.25), computed from the dates as :func:`load` computes it."""
        if self.series != "co2":
            return {}
        return dict(zip(("season_sin", "season_cos"), season(dates)))

    def load_split(self, split: str) -> list[dict[str, Any]]:
        examples = load(split, seed=self.seed, series=self.series)
        for example in examples:
            example["source"] = f"{self.series} {split}"
        return examples
