"""The classical baseline of forecasting: one linear map from the input window to the horizon.

NLinear-style (Zeng et al. 2023, "Are Transformers Effective for Time Series Forecasting?"):
each target series' history ``x (L,)`` is taken relative to its last value, and the forecast is
``last + W^T (x - last) + b``, with ``W (L - 1, H)`` (the last step's own term is 0) and
``b (H,)`` shared by every target channel (their "individual=False"). It is fitted by ridge
regression (closed form, float64) on the training windows, on the normalised scale the model
sees, from the normal equations summed over chunks of windows: memory stays ``O(L^2)``
whatever the number of windows. ``b`` is not penalised; the penalty on ``W`` is ``ridge``
times the mean diagonal of ``X^T X``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

DEFAULT_RIDGE = 1e-3
CHUNK_WINDOWS = 4096
MAX_WINDOWS = 200_000
"""Training windows the fit reads at most (evenly spaced beyond that): a few seconds."""


def relative_rows(history: np.ndarray, future: np.ndarray | None = None) -> tuple:
    """``(N, L, T)`` histories (and ``(N, H, T)`` futures) of target channels -> one row per
    window and channel: ``X (N * T, L - 1)``, the steps before the last relative to it (the
    last step relative to itself is 0), ``last (N * T, 1)`` and ``Y (N * T, H)`` relative to it
    (None without ``future``)."""
    x = np.moveaxis(history, 2, 1).reshape(-1, history.shape[1]).astype(np.float64)
    last = x[:, -1:]
    if future is None:
        return x[:, :-1] - last, last, None
    y = np.moveaxis(future, 2, 1).reshape(-1, future.shape[1]).astype(np.float64)
    return x[:, :-1] - last, last, y - last


class LinearForecaster:
    """Ridge regression from the window (relative to its last value) to the horizon.

    Attributes once fitted: ``weight (L - 1, H)`` and ``bias (H,)`` float64.
    """

    def __init__(self, input_length: int, horizon: int, ridge: float = DEFAULT_RIDGE) -> None:
        if ridge < 0:
            raise ValueError(f"ridge: expected a penalty >= 0, got {ridge}")
        self.input_length = int(input_length)
        self.horizon = int(horizon)
        self.ridge = float(ridge)
        size = self.input_length  # L - 1 relative steps, then the bias' constant 1
        self._gram = np.zeros((size, size))
        self._cross = np.zeros((size, self.horizon))
        self.rows = 0

    def add(self, history: np.ndarray, future: np.ndarray) -> None:
        """Add windows: ``history (N, L, T)`` and ``future (N, H, T)`` of the target channels."""
        if history.shape[1] != self.input_length or future.shape[1] != self.horizon:
            raise ValueError(
                f"windows: expected {self.input_length} steps in and {self.horizon} out, got "
                f"{history.shape[1]} and {future.shape[1]}"
            )
        x, _, y = relative_rows(history, future)
        design = np.concatenate([x, np.ones((len(x), 1))], axis=1)
        self._gram += design.T @ design
        self._cross += design.T @ y
        self.rows += len(x)

    def solve(self) -> LinearForecaster:
        """The ridge solution of the windows added so far."""
        if not self.rows:
            raise ValueError("windows: no training window to fit the linear baseline on")
        penalty = np.zeros(self.input_length)
        steps = max(self.input_length - 1, 1)
        penalty[:-1] = self.ridge * max(np.trace(self._gram[:-1, :-1]) / steps, 1e-12)
        solution = np.linalg.solve(self._gram + np.diag(penalty), self._cross)
        self.weight, self.bias = solution[:-1], solution[-1]
        self._tensors: dict[tuple, tuple[Tensor, Tensor]] = {}
        return self

    def predict_arrays(self, history: np.ndarray) -> np.ndarray:
        """``(N, H, T)`` float64 forecasts of ``history (N, L, T)``."""
        x, last, _ = relative_rows(history)
        forecast = last + x @ self.weight + self.bias
        return np.moveaxis(forecast.reshape(history.shape[0], history.shape[2], -1), 1, 2)

    def predict(self, history: Tensor) -> Tensor:
        """``(N, H, T)`` forecasts of the target channels' ``history (N, L, T)``, in its dtype."""
        if history.shape[1] != self.input_length:
            raise ValueError(
                f"history: the linear baseline reads {self.input_length} steps, got "
                f"{history.shape[1]}"
            )
        key = (history.device, history.dtype)
        if key not in self._tensors:
            self._tensors[key] = (
                torch.as_tensor(self.weight, device=history.device, dtype=history.dtype),
                torch.as_tensor(self.bias, device=history.device, dtype=history.dtype),
            )
        weight, bias = self._tensors[key]
        last = history[:, -1:]
        relative = history[:, :-1] - last
        return last + torch.einsum("nlt,lh->nht", relative, weight) + bias[:, None]


def fit_on_windows(windows: object, ridge: float = DEFAULT_RIDGE) -> LinearForecaster:
    """Fit on a :class:`~rnnkit.data.forecasting.windows.SeriesWindows` (the training split):
    each series' rows are read in blocks of :data:`CHUNK_WINDOWS` consecutive windows, one
    read per block, and cut into windows by a strided view; beyond :data:`MAX_WINDOWS`
    windows, every ``k``-th is used."""
    model = LinearForecaster(windows.input_length, windows.horizon, ridge)
    values, _ = windows.rows
    length, span = windows.input_length, windows.input_length + windows.horizon
    every = max(1, -(-len(windows) // MAX_WINDOWS))
    stride = windows.stride * every  # steps between two windows used
    for first, end in zip(windows.series_starts.tolist(), windows.series_ends.tolist()):
        count = (end - first - span) // stride + 1 if end - first >= span else 0
        for block in range(0, count, CHUNK_WINDOWS):
            used = min(CHUNK_WINDOWS, count - block)
            start = first + block * stride
            rows = values.read(np.array([start]), (used - 1) * stride + span)[0]
            rows = rows[:, windows.target_indices]
            cut = np.lib.stride_tricks.sliding_window_view(rows, span, axis=0)[::stride]
            cut = np.moveaxis(cut, 2, 1)  # (used, span, T)
            model.add(cut[:, :length], cut[:, length:])
    return model.solve()
