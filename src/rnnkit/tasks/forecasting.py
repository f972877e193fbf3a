"""Multi-step time-series forecasting: a history window in, the next ``horizon`` steps out."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchmetrics import (
    MeanAbsoluteError,
    MeanAbsolutePercentageError,
    MeanSquaredError,
    MetricCollection,
    SymmetricMeanAbsolutePercentageError,
)

from rnnkit.figures.forecast import forecast_figure
from rnnkit.patterns._sequence import check_positive_int
from rnnkit.patterns.channel_independent import ChannelIndependent
from rnnkit.patterns.forecaster import STRATEGIES, Forecaster
from rnnkit.patterns.teacher_forcing import TeacherForcingSchedule
from rnnkit.tasks.base import RecurrentTask
from rnnkit.tasks.tbptt import TruncatedHistory, check_tbptt_steps

SPLITS = ("train", "val", "test")
WINDOW_NORMS = ("last", "mean", "revin", "none")
REVIN_EPS = 1e-5  # added to the window's variance (RevIN's eps): a flat window divides by ~0.003


def error_metrics() -> MetricCollection:
    """MAE, MSE, RMSE, MAPE and sMAPE, accumulated over the whole split."""
    return MetricCollection(
        {
            "mae": MeanAbsoluteError(),
            "mse": MeanSquaredError(),
            "rmse": MeanSquaredError(squared=False),
            "mape": MeanAbsolutePercentageError(),
            "smape": SymmetricMeanAbsolutePercentageError(),
        }
    )


class WindowForecaster(nn.Module):
    """A forecaster (:class:`~rnnkit.patterns.forecaster.Forecaster` or
    :class:`~rnnkit.patterns.channel_independent.ChannelIndependent`) that works relative to
    each window.

    With ``window_norm="last"`` (or ``"mean"``) the target features' last (or mean) value in
    the history is subtracted from them in the history and added back to the forecast, so the
    network predicts the change from there: a trending series then stays in the range seen in
    training. ``"revin"`` also divides by the window's standard deviation of each target and
    multiplies the forecast by it (reversible instance normalisation, Kim et al. 2022, without
    its learned affine map), so quiet and volatile windows reach the network on one scale.
    ``"none"`` forecasts levels.
    """

    def __init__(self, forecaster: nn.Module, target_indices: list[int], window_norm: str):
        super().__init__()
        if window_norm not in WINDOW_NORMS:
            raise ValueError(f"window_norm: expected one of {WINDOW_NORMS}, got {window_norm!r}")
        self.forecaster = forecaster
        self.window_norm = window_norm
        self.register_buffer("target_indices", torch.tensor(target_indices), persistent=False)

    def statistics(self, history: Tensor) -> tuple[Tensor, Tensor | None] | None:
        """``(offset, scale)`` of the targets of ``history (N, L, F)``, each ``(N, 1, T)``: what
        is subtracted from them, then what they are divided by (``"revin"`` only, else None);
        None with ``"none"``."""
        if self.window_norm == "none":
            return None
        targets = history.index_select(2, self.target_indices)
        if self.window_norm == "last":
            return targets[:, -1:], None
        offset = targets.mean(dim=1, keepdim=True)
        if self.window_norm == "mean":
            return offset, None
        return offset, (targets.var(dim=1, keepdim=True, unbiased=False) + REVIN_EPS).sqrt()

    def forward(
        self,
        history: Tensor,
        future_covariates: Tensor | None = None,
        target: Tensor | None = None,
        teacher_forcing_ratio: float = 0.0,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """``history (N, L, F)`` -> forecast ``(N, H, T)`` (same scale as the history)."""
        statistics = self.statistics(history)
        if statistics is None:
            return self.forecaster(
                history, future_covariates, target, teacher_forcing_ratio, generator=generator
            )
        offset, scale = statistics
        shift = torch.zeros_like(history[:, :1])
        shift[:, :, self.target_indices] = offset
        history = history - shift
        target = None if target is None else target - offset
        if scale is not None:
            divisor = torch.ones_like(history[:, :1])
            divisor[:, :, self.target_indices] = scale
            history = history / divisor
            target = None if target is None else target / scale
        forecast = self.forecaster(
            history, future_covariates, target, teacher_forcing_ratio, generator=generator
        )
        if scale is not None:
            forecast = forecast * scale
        return forecast + offset


class ForecastingTask(RecurrentTask):
    """Recurrent encoder -> ``Forecaster`` (``model.strategy``: direct | autoregressive).

    Loss: MSE on the normalised scale. Metrics (MAE, MSE, RMSE, MAPE, sMAPE) per split on the
    normalised scale (``val/mse``) and in original units (``val/mse_original``), beside the
    order-blind baseline, the window mean repeated over the horizon (``val/baseline_mse``,
    ``val/baseline_mse_original``, ``val/baseline_mae_original``), and persistence of the last
    value (``val/persistence_mse_original``, ``val/persistence_mae_original``), and the
    classical baseline, a linear map from the window to the horizon fitted by ridge regression
    on the training windows (NLinear; ``val/linear_mse``, ``val/linear_mae``,
    ``val/linear_mse_original``, ``val/linear_mae_original``; see
    :mod:`rnnkit.data.forecasting.linear_baseline`). The
    autoregressive decoder is teacher-forced with the ratio of ``model.teacher_forcing`` (a
    :class:`~rnnkit.patterns.teacher_forcing.TeacherForcingSchedule`, logged as
    ``train/teacher_forcing_ratio``). Each validation epoch logs a forecast-vs-truth figure.

    Options from the forecasting literature (docs/patterns.md): ``model.channel_independent``
    (each target series its own example, :class:`~rnnkit.patterns.channel_independent.
    ChannelIndependent`), ``model.segment_length`` (SegRNN's segments as encoder steps),
    ``model.highway_length`` (LSTNet's linear autoregressive highway) and
    ``model.window_norm=revin`` (the window's mean and standard deviation).

    With ``model.tbptt_steps=k`` the encoder backpropagates through the last ``k`` history
    steps only, reading the earlier ones in chunks of ``k`` without gradient
    (:class:`~rnnkit.tasks.tbptt.TruncatedHistory`): memory stays flat as ``input_length``
    grows. Windows are independent (shuffled), so no state is carried between batches.
    """

    task = "forecasting"

    def build_model(self, model: dict[str, Any], spec: dict[str, Any]) -> nn.Module:
        self.spec = dict(spec)
        strategy = model.get("strategy", "direct")
        if strategy not in STRATEGIES:
            raise ValueError(f"model.strategy: expected one of {STRATEGIES}, got {strategy!r}")
        schedule = model.get("teacher_forcing")
        if strategy == "direct" and schedule:
            raise ValueError(
                "model.teacher_forcing: only used by strategy=autoregressive (the "
                f"direct strategy has no decoder inputs); got {schedule}; set it "
                "to null"
            )
        self.teacher_forcing = None
        if schedule:
            try:
                self.teacher_forcing = TeacherForcingSchedule(**schedule)
            except (TypeError, ValueError) as error:
                raise ValueError(f"model.teacher_forcing: {error}") from None
        num_targets, num_covariates = spec["num_targets"], spec["num_covariates"]
        channel_independent = model.get("channel_independent", False)
        if not isinstance(channel_independent, bool):
            raise ValueError(
                f"model.channel_independent: expected true or false, got {channel_independent!r}"
            )
        segment_length = _optional_positive_int(model, "segment_length")
        highway_length = _optional_positive_int(model, "highway_length")
        length = spec.get("input_length")
        if segment_length is not None and length is not None and length % segment_length:
            raise ValueError(
                f"model.segment_length: data.input_length={length} must be a whole number of "
                f"segments, got segment_length={segment_length}"
            )
        if highway_length is not None and length is not None and highway_length > length:
            raise ValueError(
                f"model.highway_length: reads the last {highway_length} steps, more than "
                f"data.input_length={length}"
            )
        # What one example of the Forecaster is: the whole window, or one target channel with
        # the non-target features beside it (ChannelIndependent).
        num_features, series_targets = spec["num_features"], num_targets
        target_indices = spec["target_indices"]
        if channel_independent:
            num_features, series_targets = 1 + num_features - num_targets, 1
            target_indices = [0]
        encoder = self.build_recurrent(num_features * (segment_length or 1))
        self.tbptt_steps = check_tbptt_steps(model.get("tbptt_steps"))
        extra = sorted(k for k in model if k.startswith("tbptt_") and k != "tbptt_steps")
        if extra:
            raise ValueError(
                f"model.{extra[0]}: the forecasting task optimises automatically (one loss "
                f"per window); use trainer.gradient_clip_val and "
                f"trainer.accumulate_grad_batches; only model.tbptt_steps applies here"
            )
        if self.tbptt_steps is not None:
            TruncatedHistory(self.tbptt_steps).install(encoder)
        decoder = None
        if strategy == "autoregressive":
            if self.hparams.cell.get("bidirectional"):
                raise ValueError(
                    "cell.bidirectional: the autoregressive decoder runs forward "
                    "in time and cannot be bidirectional; set it to false or use "
                    "model.strategy=direct"
                )
            if segment_length is not None:
                raise ValueError(
                    f"model.segment_length: only used by model.strategy=direct (the "
                    f"autoregressive decoder steps one value at a time); got {segment_length}"
                )
            decoder = self.build_recurrent(series_targets + num_covariates)
        elif highway_length is None:
            target_indices = None
        forecaster: nn.Module = Forecaster(
            encoder,
            spec["horizon"],
            series_targets,
            strategy,
            decoder,
            num_covariates,
            target_indices,
            segment_length,
            highway_length,
        )
        if channel_independent:
            forecaster = ChannelIndependent(
                forecaster, spec["num_features"], spec["target_indices"]
            )
        self.make_split_metrics(error_metrics())
        groups = {
            "original": error_metrics().clone(postfix="_original"),
            "baseline": MetricCollection({"mse": MeanSquaredError()}, prefix="baseline_"),
            "baseline_original": MetricCollection(
                {"mse": MeanSquaredError(), "mae": MeanAbsoluteError()},
                prefix="baseline_",
                postfix="_original",
            ),
            "persistence_original": MetricCollection(
                {"mse": MeanSquaredError(), "mae": MeanAbsoluteError()},
                prefix="persistence_",
                postfix="_original",
            ),
            "linear": MetricCollection(
                {"mse": MeanSquaredError(), "mae": MeanAbsoluteError()}, prefix="linear_"
            ),
            "linear_original": MetricCollection(
                {"mse": MeanSquaredError(), "mae": MeanAbsoluteError()},
                prefix="linear_",
                postfix="_original",
            ),
        }
        self.extra_metrics = nn.ModuleDict(
            {
                f"{split}_{group}": metrics.clone(prefix=f"{split}/{metrics.prefix or ''}")
                for split in SPLITS
                for group, metrics in groups.items()
            }
        )
        return WindowForecaster(
            forecaster, spec["target_indices"], model.get("window_norm", "last")
        )

    def forward(
        self,
        history: Tensor,
        future_covariates: Tensor | None = None,
        target: Tensor | None = None,
        teacher_forcing_ratio: float = 0.0,
    ) -> Tensor:
        """Normalised forecast ``(N, horizon, num_targets)``."""
        return self.model(history, future_covariates, target, teacher_forcing_ratio)

    def unscale(self, values: Tensor) -> Tensor:
        """``(..., T)`` normalised targets -> original units (the training scaler's)."""
        mean = values.new_tensor(self.spec["target_mean"])
        std = values.new_tensor(self.spec["target_std"])
        return values * std + mean

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> Tensor:
        ratio = 0.0 if self.teacher_forcing is None else self.teacher_forcing(int(self.global_step))
        forecast = self(batch["history"], batch.get("future_covariates"), batch["target"], ratio)
        loss = F.mse_loss(forecast, batch["target"])
        size = batch["history"].shape[0]
        self.log_loss("train", loss, size)
        if self.teacher_forcing is not None:
            self.log("train/teacher_forcing_ratio", ratio, batch_size=size)
        return loss

    def evaluate(self, batch: dict[str, Any], split: str) -> None:
        history, target = batch["history"], batch["target"]
        size = history.shape[0]
        forecast = self(history, batch.get("future_covariates"))
        self.log_loss(split, F.mse_loss(forecast, target), size)
        observed = history[:, :, self.spec["target_indices"]]
        window_mean = observed.mean(dim=1, keepdim=True).expand_as(target)
        last_value = observed[:, -1:].expand_as(target)
        updates = {
            "": (forecast, target),
            "original": (self.unscale(forecast), self.unscale(target)),
            "baseline": (window_mean, target),
            "baseline_original": (self.unscale(window_mean), self.unscale(target)),
            "persistence_original": (self.unscale(last_value), self.unscale(target)),
        }
        linear = self.linear_baseline(observed)
        if linear is not None:
            updates["linear"] = (linear, target)
            updates["linear_original"] = (self.unscale(linear), self.unscale(target))
        for group, (prediction, truth) in updates.items():
            metrics = (
                self.metrics_for(split) if not group else self.extra_metrics[f"{split}_{group}"]
            )
            metrics.update(prediction.flatten(), truth.flatten())
            self.log_dict(
                metrics, batch_size=size, prog_bar=split == "val" and group in ("", "original")
            )
        self.keep_validation_sample(split, batch, forecast)

    def linear_baseline(self, observed: Tensor) -> Tensor | None:
        """The datamodule's linear baseline's forecast ``(N, H, T)`` from the target
        channels' history ``observed (N, L, T)``; None without one."""
        baseline = self.data_baseline("linear_baseline")
        return None if baseline is None else baseline.predict(observed)

    def on_validation_epoch_end(self) -> None:
        sample = self.take_validation_sample()
        if sample is None:
            return
        batch, forecast = sample
        target_index = self.spec["target_indices"][0]
        history = self.unscale(batch["history"][0, :, self.spec["target_indices"]])[:, 0]
        truth = self.unscale(batch["target"][0])[:, 0]
        prediction = self.unscale(forecast[0])[:, 0]
        dates = batch["horizon_dates"][0]
        title = f"{self.spec['feature_names'][target_index]}: {batch['sources'][0]}" + (
            f" ({dates[0]} .. {dates[-1]})" if dates and dates[0] else ""
        )
        self.log_figure(
            "val/forecast",
            forecast_figure(
                history.float().cpu().numpy(),
                truth.float().cpu().numpy(),
                prediction.float().cpu().numpy(),
                title=title,
                dates=_window_dates(batch),
            ),
        )

    @torch.no_grad()
    def predict_records(
        self, batch: dict[str, Any], datamodule: Any, **options: Any
    ) -> list[dict[str, Any]]:
        """Per input series ``{"source", "forecast": [{"step", "date", "values": {<target>:
        value}}]}`` in original units (``date`` only when the dates are known or evenly
        spaced). Takes no options."""
        if options:
            raise ValueError(
                f"{sorted(options)[0]}: the forecasting task takes no predict "
                f"options, got {options}"
            )
        forecast = self.unscale(self(batch["history"], batch.get("future_covariates")))
        names = self.spec["target_names"]
        records = []
        for source, dates, values in zip(batch["sources"], batch["horizon_dates"], forecast):
            with_dates = any(dates)
            steps = [
                {
                    "step": step,
                    **({"date": dates[step - 1]} if with_dates else {}),
                    "values": dict(zip(names, row)),
                }
                for step, row in enumerate(values.tolist(), start=1)
            ]
            records.append({"source": source, "forecast": steps})
        return records

    def format_prediction(self, record: dict[str, Any]) -> str:
        """A table: ``# forecast after <source>``, then ``step``, ``date``, each target."""
        steps = record["forecast"]
        keys = ["step", *(["date"] if "date" in steps[0] else [])]
        names = list(steps[0]["values"])
        lines = [f"# forecast after {record['source']}", "\t".join(keys + names)]
        for step in steps:
            cells = [str(step[k]) for k in keys] + [f"{v:.4f}" for v in step["values"].values()]
            lines.append("\t".join(cells))
        return "\n".join(lines)


def _optional_positive_int(model: dict[str, Any], key: str) -> int | None:
    """``model[key]``: None (the option is off) or an int >= 1; anything else a ValueError."""
    value = model.get(key)
    if value is not None:
        check_positive_int(f"model.{key}", value)
    return value


def _window_dates(batch: dict[str, Any]) -> np.ndarray | None:
    """The first window's ``(L + H,)`` dates as datetime64, or None when any is unknown."""
    dates = batch.get("window_dates")
    if dates is None:
        return None
    stored = dates[0].cpu().numpy().astype(np.int64)
    if (stored == np.iinfo(np.int64).min).any():
        return None
    return stored.view("datetime64[us]")
