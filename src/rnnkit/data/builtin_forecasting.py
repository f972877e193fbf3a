"""The built-in forecasting dataset: Mauna Loa CO2 (or sunspots), shipped with statsmodels."""

from __future__ import annotations

from typing import Any

from rnnkit.data.builtin import forecasting
from rnnkit.data.forecasting import ForecastingDataModule


class BuiltinForecastingDataModule(ForecastingDataModule):
    """Read offline (see :mod:`rnnkit.data.builtin.forecasting`); ``series`` is ``co2`` or
    ``sunspots``; each split is one chronological segment of it."""

    def __init__(self, series: str = "co2", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if series not in forecasting.SERIES:
            raise ValueError(f"series: expected one of {forecasting.SERIES}, got {series!r}")
        self.series = series

    def load_split(self, split: str) -> list[dict[str, Any]]:
        examples = forecasting.load(split, seed=self.seed, series=self.series)
        for example in examples:
            example["source"] = f"{self.series} {split}"
        return examples
