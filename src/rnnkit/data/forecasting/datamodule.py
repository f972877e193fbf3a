"""Multivariate time-series forecasting data: dated series cut into sliding windows."""

from __future__ import annotations

import csv
import math
from collections import Counter
from collections.abc import Callable, Iterable
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rnnkit.data.datamodule import RnnkitDataModule
from rnnkit.data.forecasting.dates import NO_DATE, format_dates, parse_dates
from rnnkit.data.forecasting.frequency import Frequency
from rnnkit.data.forecasting.linear_baseline import LinearForecaster, fit_on_windows
from rnnkit.data.forecasting.moments import RunningMoments
from rnnkit.data.forecasting.windows import EncodedColumns, SeriesWindows

FITTED = frozenset({"feature_names", "target_names", "known_future_names", "mean", "std"})
"""Attributes set by fitting, not settings of the preparation."""
READ_SETTINGS = frozenset({"horizon", "stride", "seed"})
"""Settings of how the prepared series are read (the windows are cut, and shuffled, when
read): changing them reuses the prepared series."""


class ForecastingDataModule(RnnkitDataModule):
    """Series in, windows ``history -> next horizon steps`` out.

    A raw example is one series: ``{"dates": ISO date strings or a datetime64 array, one per
    step, "values": (T, F) numbers, "feature_names": list[str], "target_names": list[str] (the
    features to forecast), "known_future_names": list[str] (optional: features known in advance
    for the horizon too, e.g. calendar phases)}``, optionally with ``"source"`` (a name for
    errors), or a piece of one: ``"continues": True`` marks an example that continues the
    previous example's series (readers of large files yield pieces, so no series is held
    whole). Subclasses say where the series come from (:meth:`load_split`); a split may hold
    several series (windows never cross from one to the next).

    Fitted on the training split only: a standard scaler (per-feature mean and standard
    deviation, stored as JSON) and the feature, target and known-future names.

    Windows start every ``stride`` steps; each has ``input_length`` history steps and the next
    ``horizon`` steps. Batches (all on the scaler's normalised scale):

    * ``history (N, L, F)``: every feature over the input window;
    * ``target (N, H, T)``: the target features over the horizon (absent in prediction);
    * ``future_covariates (N, H, C)``: the known-future features over the horizon, only when
      there are some (``C > 0``);
    * ``horizon_dates``: per window, the ISO dates of the horizon steps (empty strings when
      unknown; written as the series wrote its first date, without a time-zone offset), and
      ``sources``.

    An encoded series is flat (:meth:`encode`): its normalised values as one float32 row of
    ``T * F`` numbers and its dates as int64 (:mod:`~rnnkit.data.forecasting.dates`). Prepared
    once (a subclass with files and a ``cache_dir``), a split is these arrays on disk; windows
    are never materialised: :class:`~rnnkit.data.forecasting.windows.SeriesWindows`
    cuts them on demand, so changing ``horizon``, ``stride`` or ``seed`` reuses the prepared
    series.

    Args:
        input_length: ``L``, history steps per window.
        horizon: ``H``, forecast steps per window.
        stride: steps between consecutive window starts.
        known_future: names of the known-future features; None takes them from the data
            (``known_future_names``), ``[]`` uses none.
        date_column: the date column of prediction CSV files.
        cache_dir, rebuild_cache, prepare_workers: see :class:`RnnkitDataModule`.
    """

    task = "forecasting"
    # Series (or pieces of up to 1024 rows, as the CSV reader cuts them) per preparation chunk.
    prepare_chunk = 256

    def __init__(
        self,
        batch_size: int = 32,
        num_workers: int = 0,
        seed: int = 0,
        input_length: int = 24,
        horizon: int = 6,
        stride: int = 1,
        known_future: list[str] | None = None,
        date_column: str = "date",
        cache_dir: str | None = None,
        rebuild_cache: bool = False,
        prepare_workers: int | None = None,
    ) -> None:
        super().__init__(batch_size, num_workers, seed, cache_dir, rebuild_cache, prepare_workers)
        for name, value in (
            ("input_length", input_length),
            ("horizon", horizon),
            ("stride", stride),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: expected a positive integer, got {value!r}")
        self.input_length = input_length
        self.horizon = horizon
        self.stride = stride
        self.known_future_option = None if known_future is None else list(known_future)
        self.date_column = date_column
        self.feature_names: list[str] = []
        self.target_names: list[str] = []
        self.known_future_names: list[str] = []
        self.mean: list[float] = []
        self.std: list[float] = []

    # ---- fitted state ------------------------------------------------------------------

    def fit_artifacts(self, train_examples: Iterable[dict[str, Any]]) -> None:
        """Names from the first series, the scaler from all training steps (one pass)."""
        examples = iter(train_examples)
        first = next(examples, None)
        if first is None:
            raise ValueError("train split: expected at least one series, got none")
        self.feature_names = [str(n) for n in first["feature_names"]]
        self.target_names = [str(n) for n in first["target_names"]]
        known = (
            first.get("known_future_names") or []
            if self.known_future_option is None
            else self.known_future_option
        )
        self.known_future_names = [str(n) for n in known]
        for name, names in (
            ("target_names", self.target_names),
            ("known_future", self.known_future_names),
        ):
            missing = [n for n in names if n not in self.feature_names]
            if missing:
                raise ValueError(
                    f"{name}: {missing} are not among the features {self.feature_names}"
                )
        if not self.target_names:
            raise ValueError("target_names: expected at least one target feature, got none")
        overlap = set(self.target_names) & set(self.known_future_names)
        if overlap:
            raise ValueError(
                f"known_future: {sorted(overlap)} are targets; a target cannot be known in advance"
            )
        moments = RunningMoments(len(self.feature_names))
        for example in chain([first], examples):
            moments.add(self.raw_values(example))
        mean, std = moments.mean, moments.std
        for name, m, s in zip(self.feature_names, mean, std):
            if not (np.isfinite(m) and np.isfinite(s)):
                raise ValueError(
                    f"train split: feature {name!r} cannot be scaled (mean {m}, standard "
                    f"deviation {s}); expected finite values whose squares stay finite"
                )
        self.mean = mean.tolist()
        self.std = np.maximum(std, 1e-8).tolist()

    def artifacts(self) -> dict[str, Any]:
        return {
            "feature_names": self.feature_names,
            "target_names": self.target_names,
            "known_future_names": self.known_future_names,
            "scaler": {"mean": self.mean, "std": self.std},
        }

    def load_artifacts(self, artifacts: dict[str, Any]) -> None:
        self.feature_names = list(artifacts["feature_names"])
        self.target_names = list(artifacts["target_names"])
        self.known_future_names = list(artifacts["known_future_names"])
        self.mean = list(artifacts["scaler"]["mean"])
        self.std = list(artifacts["scaler"]["std"])

    @property
    def target_indices(self) -> list[int]:
        return [self.feature_names.index(n) for n in self.target_names]

    @property
    def covariate_indices(self) -> list[int]:
        return [self.feature_names.index(n) for n in self.known_future_names]

    @property
    def spec(self) -> dict[str, Any]:
        return {
            "num_features": len(self.feature_names),
            "num_targets": len(self.target_names),
            "horizon": self.horizon,
            "num_covariates": len(self.known_future_names),
            "input_length": self.input_length,
            "target_indices": self.target_indices,
            "feature_names": self.feature_names,
            "target_names": self.target_names,
            "target_mean": [self.mean[i] for i in self.target_indices],
            "target_std": [self.std[i] for i in self.target_indices],
        }

    # ---- scaling -----------------------------------------------------------------------

    def scale(self, values: np.ndarray) -> np.ndarray:
        """``(..., F)`` original units -> normalised."""
        return (values - np.asarray(self.mean)) / np.asarray(self.std)

    def unscale_targets(self, targets: torch.Tensor) -> torch.Tensor:
        """``(..., T)`` normalised targets -> original units."""
        index = self.target_indices
        mean = torch.tensor(
            [self.mean[i] for i in index], dtype=targets.dtype, device=targets.device
        )
        std = torch.tensor([self.std[i] for i in index], dtype=targets.dtype, device=targets.device)
        return targets * std + mean

    def raw_values(self, example: dict[str, Any]) -> np.ndarray:
        """``(T, F)`` float64 values of a series, columns in the fitted feature order."""
        source = example.get("source", "the data")
        values = np.asarray(example["values"], dtype=np.float64)
        names = [str(n) for n in example["feature_names"]]
        if values.ndim != 2 or values.shape[1] != len(names):
            raise ValueError(
                f"values in {source}: expected shape (T, {len(names)}) for the "
                f"features {names}, got {values.shape}"
            )
        if self.feature_names and names != self.feature_names:
            missing = [n for n in self.feature_names if n not in names]
            if missing:
                raise ValueError(
                    f"series in {source}: missing the features {missing} (expected "
                    f"{self.feature_names})"
                )
            values = values[:, [names.index(n) for n in self.feature_names]]
        if not np.isfinite(values).all():
            step, column = np.argwhere(~np.isfinite(values))[0]
            raise ValueError(
                f"values in {source}: NaN or infinite value at step {step} of "
                f"{self.feature_names[column] if self.feature_names else column}"
            )
        return values

    # ---- examples and windows ----------------------------------------------------------

    def preparation_settings(self) -> dict[str, Any]:
        """The base class's, less the fitted state and the settings of reading
        (:data:`READ_SETTINGS`): the prepared series do not depend on them."""
        return {
            name: value
            for name, value in super().preparation_settings().items()
            if name not in FITTED | READ_SETTINGS
        }

    def encoded_fields(self) -> dict[str, tuple[Any, bool]]:
        """Per encoded series (or piece of one): ``values`` float32 ``(T * F,)``, ``dates``
        int64 ``(T,)``, ``source`` UTF-8 bytes, ``first`` and ``date_style`` (one each)."""
        return {
            "values": (np.float32, True),
            "dates": (np.int64, True),
            "source": (np.uint8, True),
            "first": (np.uint8, False),
            "date_style": (np.uint8, False),
        }

    def encode(self, example: dict[str, Any]) -> dict[str, Any]:
        """A series (or a piece of one), normalised and flat: ``{"values": (T * F,) float32,
        "dates": (T,) int64 (see :mod:`~rnnkit.data.forecasting.dates`), "source": bytes of its
        name (empty for a piece that continues a series), "first": 1 unless it continues,
        "date_style"}``."""
        return self.encode_counts(example, Counter())

    def encode_counts(self, example: dict[str, Any], counts: Counter) -> dict[str, Any]:
        values = self.raw_values(example)
        dates, style = self.encoded_dates(example, len(values))
        continues = bool(example.get("continues"))
        source = b"" if continues else str(example.get("source", "series")).encode("utf-8")
        counts["steps"] += len(values)
        counts["series"] += 0 if continues else 1
        return {
            "values": self.scale(values).astype(np.float32).reshape(-1),
            "dates": dates,
            "source": np.frombuffer(source, dtype=np.uint8),
            "first": 0 if continues else 1,
            "date_style": int(example.get("date_style", style)),
        }

    @staticmethod
    def encoded_dates(example: dict[str, Any], steps: int) -> tuple[np.ndarray, int]:
        """``(dates (T,) int64, style)`` of a raw example (unknown dates when it has none)."""
        dates = example.get("dates")
        if dates is None or (not isinstance(dates, np.ndarray) and not dates):
            dates = [""] * steps
        array = np.asarray(dates)
        if len(array) != steps:
            raise ValueError(
                f"dates in {example.get('source', 'the data')}: expected one per "
                f"step ({steps}), got {len(array)}"
            )
        if array.dtype.kind == "M":
            return array.astype("datetime64[us]").view(np.int64), 2
        return parse_dates(list(dates))

    def windows(self, split: Any) -> SeriesWindows:
        """The windows of an encoded split (prepared, or a list of encoded series)."""
        if isinstance(split, list):
            split = EncodedColumns(split, self.encoded_fields())
        return SeriesWindows(
            split,
            len(self.feature_names),
            self.input_length,
            self.horizon,
            self.stride,
            self.target_indices,
            self.covariate_indices,
        )

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        super().setup(stage)
        for split, series in self.datasets.items():
            self.datasets[split] = self.windows(series)
            if not len(self.datasets[split]):
                raise ValueError(
                    f"{split} split: no window of input_length + horizon = "
                    f"{self.input_length + self.horizon} steps fits in its series"
                )

    def linear_baseline(self) -> LinearForecaster | None:
        """The NLinear-style ridge regression from the window to the horizon
        (:mod:`~rnnkit.data.forecasting.linear_baseline`), fitted on first use on the training
        windows; None before set-up."""
        if not isinstance(self.datasets.get("train"), SeriesWindows):
            return None
        return self.fitted_baseline("linear_baseline", fit_on_windows)

    def collate(self, windows: list[dict[str, Any]]) -> dict[str, Any]:
        """Windows (:class:`~rnnkit.data.forecasting.windows.SeriesWindows` items) to a batch:
        ``history (N, L, F)``, ``target (N, H, T)`` (when every window has one),
        ``future_covariates (N, H, C)`` (when ``C > 0``), ``horizon_dates``, ``sources`` and
        ``window_dates (N, L + H)`` int64 stored dates (when the windows have them)."""
        batch: dict[str, Any] = {
            "history": _stack([w["history"] for w in windows]),
            "horizon_dates": [list(w["horizon_dates"]) for w in windows],
            "sources": [w["source"] for w in windows],
        }
        if all(w.get("target") is not None for w in windows):
            batch["target"] = _stack([w["target"] for w in windows])
        if self.known_future_names:
            batch["future_covariates"] = _stack([w["covariates"] for w in windows])
        if all(w.get("dates") is not None for w in windows):
            batch["window_dates"] = torch.from_numpy(np.stack([w["dates"] for w in windows]))
        return batch

    # ---- prediction input --------------------------------------------------------------

    def derived_features(self, dates: np.ndarray) -> dict[str, np.ndarray]:
        """Features the datamodule computes from ``(T,)`` stored dates (int64, see
        :mod:`~rnnkit.data.forecasting.dates`) rather than reads: ``{name: (T,) values}``, none
        here (subclasses: calendar phases). Prediction input need not hold them."""
        return {}

    def derived_feature_names(self) -> list[str]:
        """The names :meth:`derived_features` gives (among :attr:`feature_names`)."""
        return [n for n in self.feature_names if n in self.derived_features(np.zeros(1, np.int64))]

    def parse_raw(self, raw: str) -> list[dict[str, Any]]:
        """A CSV file with a header: one column per training feature that is read, not derived
        from the dates (any order, extra columns ignored), and the date column
        (``date_column``, ISO dates; needed when features are derived from them), one row per
        step.

        The last ``input_length`` complete rows are the history. When the model uses
        known-future features that are not derived from dates, the file must end with
        ``horizon`` future rows in which the target cells are empty and those cells are
        filled. Errors name the file and line: a missing column, too few rows, an empty,
        non-numeric or NaN cell, a date that is not ISO.
        """
        path = Path(raw)
        if not path.is_file():
            raise FileNotFoundError(2, "CSV file not found", str(path))
        derived = self.derived_feature_names()
        read = [n for n in self.feature_names if n not in derived]
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            columns = reader.fieldnames or []
            needed = read + ([self.date_column] if derived else [])
            missing = [n for n in needed if n not in columns]
            if missing:
                raise ValueError(
                    f"{path}: missing the columns {missing}; expected a header with "
                    f"{needed}"
                    + ("" if derived else f" (and optionally {self.date_column!r})")
                    + f", got {columns}"
                )
            rows = [(line, row) for line, row in enumerate(reader, start=2)]
        rows, future = split_trailing(
            rows, lambda row: all(not (row[1].get(n) or "").strip() for n in self.target_names)
        )
        given_names = [n for n in self.known_future_names if n not in derived]
        if given_names and len(future) != self.horizon:
            raise ValueError(
                f"{path}: the model reads the known-future features {given_names}: "
                f"expected {self.horizon} (horizon) future rows at the end with empty "
                f"{self.target_names} and filled {given_names}, got {len(future)}"
            )
        if not given_names and future and (not derived or len(future) != self.horizon):
            raise ValueError(f"{path}: line {future[0][0]}: empty {self.target_names} cell")
        if len(rows) < self.input_length:
            raise ValueError(
                f"{path}: expected at least {self.input_length} (input_length) rows "
                f"of history, got {len(rows)}"
            )
        history = rows[-self.input_length :]
        values = np.array([self._row_values(path, line, row, read) for line, row in history])
        dates, style = self._row_dates(path, history, required=bool(derived))
        future_dates = None
        if future:
            future_dates, _ = self._row_dates(path, future, required=bool(derived))
        elif (dates != NO_DATE).all():
            frequency = Frequency.infer(dates)
            future_dates = frequency.after(int(dates[-1]), self.horizon) if frequency else None
        given = {
            n: np.array([self._row_values(path, line, row, [n])[0] for line, row in future])
            for n in given_names
        }
        return [
            self.prediction_example(
                str(path), dict(zip(read, values.T)), dates, future_dates, given, style
            )
        ]

    def _row_dates(
        self, path: Path, rows: list[tuple[int, dict[str, str]]], required: bool
    ) -> tuple[np.ndarray, int]:
        """The ISO dates of ``rows`` (unknown ones allowed unless ``required``)."""
        dates, style = parse_dates([(row.get(self.date_column) or "") for _, row in rows])
        if required and (dates == NO_DATE).any():
            line, row = rows[int(np.flatnonzero(dates == NO_DATE)[0])]
            raise ValueError(
                f"{path}: line {line}: column {self.date_column!r}: expected an ISO date such "
                f"as 2016-07-01 00:00:00 (the model computes {self.derived_feature_names()} "
                f"from it), got {(row.get(self.date_column) or '').strip()!r}"
            )
        return dates, style

    def prediction_example(
        self,
        source: str,
        history: dict[str, np.ndarray],
        dates: np.ndarray,
        future_dates: np.ndarray | None,
        given: dict[str, np.ndarray],
        style: int,
    ) -> dict[str, Any]:
        """A raw prediction example from the history's features read (``{name: (L,)}``), its
        ``(L,)`` stored dates, the horizon's dates (None: unknown) and the known-future
        features given for it (``{name: (H,)}``); the derived features are computed here."""
        by_name = {**self.derived_features(dates), **history}
        values = np.stack([np.asarray(by_name[n], np.float64) for n in self.feature_names], 1)
        example: dict[str, Any] = {
            "dates": format_dates(dates, style).tolist(),
            "values": values,
            "feature_names": self.feature_names,
            "source": source,
            "future_dates": (
                format_dates(future_dates, style).tolist()
                if future_dates is not None
                else [""] * self.horizon
            ),
        }
        if self.known_future_names:
            ahead = dict(given)
            if future_dates is not None:
                ahead.update(self.derived_features(future_dates))
            unknown = [n for n in self.known_future_names if n not in ahead]
            if unknown:
                raise ValueError(
                    f"{source}: the horizon's dates are unknown, so {unknown} cannot be "
                    f"computed for it; expected {self.horizon} (horizon) future rows with "
                    f"dates and empty {self.target_names} at the end"
                )
            example["future_covariates"] = np.stack(
                [np.asarray(ahead[n], np.float64) for n in self.known_future_names], axis=1
            )
        return example

    @staticmethod
    def _row_values(path: Path, line: int, row: dict[str, str], names: list[str]) -> list[float]:
        values = []
        for name in names:
            cell = (row.get(name) or "").strip()
            try:
                value = float(cell)
            except ValueError:
                raise ValueError(
                    f"{path}: line {line}: column {name!r}: expected a number, got {cell!r}"
                ) from None
            if not math.isfinite(value):
                raise ValueError(
                    f"{path}: line {line}: column {name!r}: expected a finite number, got {cell!r}"
                )
            values.append(value)
        return values

    def batch_from_raw(self, raw: str) -> dict[str, Any]:
        """One prediction window per parsed series: its last ``input_length`` steps."""
        windows = []
        for example in self.parse_raw(raw):
            values = self.scale(self.raw_values(example)).astype(np.float32)
            future_dates = example.get("future_dates") or [""] * self.horizon
            covariates = None
            if self.known_future_names:
                known = np.asarray(example["future_covariates"], dtype=np.float64)
                index = self.covariate_indices
                scaled = (known - np.asarray(self.mean)[index]) / np.asarray(self.std)[index]
                covariates = scaled.astype(np.float32)
            windows.append(
                {
                    "history": values[-self.input_length :],
                    "target": None,
                    "covariates": covariates,
                    "horizon_dates": future_dates,
                    "source": str(example.get("source", "series")),
                }
            )
        return self.collate(windows)


def _stack(arrays: list[Any]) -> torch.Tensor:
    """Equal-shaped float arrays (or tensors) stacked into one float32 tensor."""
    return torch.from_numpy(np.stack([np.asarray(a, dtype=np.float32) for a in arrays]))


def split_trailing(rows: list[Any], is_future: Callable[[Any], bool]) -> tuple[list, list]:
    """``(rows, future)``: the trailing rows for which ``is_future`` holds (a prediction
    file's horizon rows, whose targets are empty) split off the end of ``rows``."""
    end = len(rows)
    while end and is_future(rows[end - 1]):
        end -= 1
    return rows[:end], rows[end:]
