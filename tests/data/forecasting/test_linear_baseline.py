"""The NLinear-style ridge baseline: a trend it must forecast exactly, numpy's least squares on
the windows as the loader serves them as the oracle, and torch equal to numpy."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnkit.data.forecasting import linear_baseline
from rnnkit.data.forecasting.builtin import BuiltinForecastingDataModule
from rnnkit.data.forecasting.linear_baseline import LinearForecaster, fit_on_windows


def sliding(series: np.ndarray, length: int, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """Every window of ``series (steps, T)``: ``(N, L, T)`` histories, ``(N, H, T)`` futures."""
    windows = np.lib.stride_tricks.sliding_window_view(series, length + horizon, axis=0)
    windows = np.moveaxis(windows, 2, 1)  # (N, L + H, T)
    return windows[:, :length], windows[:, length:]


def test_a_linear_trend_is_forecast_exactly_where_persistence_is_not():
    steps = np.arange(200, dtype=np.float64)
    series = np.stack([0.5 * steps, -2.0 * steps + 3.0], axis=1)  # two channels, one slope each
    history, future = sliding(series, 8, 4)
    model = LinearForecaster(8, 4, ridge=0.0)
    with pytest.raises(np.linalg.LinAlgError):
        model.add(history, future)
        model.solve()  # a constant relative window: X^T X is singular without a penalty
    model = LinearForecaster(8, 4, ridge=1e-6)
    model.add(history, future)
    model.solve()
    # Two slopes, one shared map: the window's own slope must be read from it.
    assert np.abs(model.predict_arrays(history) - future).max() < 1e-3
    persistence = np.repeat(history[:, -1:], 4, axis=1)
    assert np.abs(persistence - future).max() > 1.0


@pytest.mark.parametrize("every", [1, 3])
def test_equals_least_squares_on_the_windows_the_loader_serves(monkeypatch, every):
    monkeypatch.setattr(linear_baseline, "CHUNK_WINDOWS", 7)  # many blocks summed
    datamodule = BuiltinForecastingDataModule(input_length=12, horizon=5, batch_size=16)
    datamodule.setup("fit")
    train = datamodule.datasets["train"]
    assert len(train.series_starts) == 1  # one series: every k-th window is items[::k]
    monkeypatch.setattr(linear_baseline, "MAX_WINDOWS", -(-len(train) // every))
    model = fit_on_windows(train, ridge=0.0)
    # The oracle: the loader's own windows (dataset items), solved by numpy's lstsq.
    items = train.__getitems__(list(range(0, len(train), every)))
    history = np.stack([item["history"] for item in items])[:, :, train.target_indices]
    target = np.stack([item["target"] for item in items])
    x = np.moveaxis(history, 2, 1).reshape(-1, 12).astype(np.float64)
    y = np.moveaxis(target, 2, 1).reshape(-1, 5).astype(np.float64)
    last = x[:, -1:]
    design = np.concatenate([(x - last)[:, :-1], np.ones((len(x), 1))], axis=1)
    solution = np.linalg.lstsq(design, y - last, rcond=None)[0]
    expected = last + design @ solution
    ours = model.predict_arrays(history)
    assert np.allclose(np.moveaxis(ours, 2, 1).reshape(-1, 5), expected, atol=1e-6)
    # Torch on a batch equals numpy; over the whole validation split (one batch) the fitted
    # map beats persistence of the last value by far (0.0056 against 0.0102).
    datamodule.batch_size = len(datamodule.datasets["val"])
    batch = next(iter(datamodule.val_dataloader()))
    observed = batch["history"][:, :, train.target_indices]
    forecast = model.predict(observed)
    expected = torch.from_numpy(model.predict_arrays(observed.numpy()))
    assert torch.allclose(forecast.double(), expected, atol=1e-5)
    persistence = observed[:, -1:].expand_as(batch["target"])
    error = ((forecast - batch["target"]) ** 2).mean()
    assert error < 0.7 * ((persistence - batch["target"]) ** 2).mean()
    assert datamodule.linear_baseline() is datamodule.linear_baseline()


def test_bad_input_is_refused():
    model = LinearForecaster(4, 2)
    with pytest.raises(ValueError, match="expected 4 steps in and 2 out"):
        model.add(np.zeros((3, 5, 1)), np.zeros((3, 2, 1)))
    with pytest.raises(ValueError, match="no training window"):
        model.solve()
    with pytest.raises(ValueError, match="ridge"):
        LinearForecaster(4, 2, ridge=-1.0)
