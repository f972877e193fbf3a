"""A forecast against the truth, after the history it started from (forecasting logs it)."""

from __future__ import annotations

import matplotlib.dates as mdates
import numpy as np

from rnnkit.figures.offscreen import plt


def forecast_figure(history, truth, prediction, title: str = "forecast", dates=None):
    """One series: ``history (L,)``, then ``truth (H,)`` and ``prediction (H,)``; the x-axis
    shows ``dates`` (``(L + H,)`` datetime64, none unknown) when given, else the steps."""
    figure, axes = plt.subplots(figsize=(7, 3))
    steps = len(history)
    if dates is not None and not np.isnat(np.asarray(dates, dtype="datetime64[us]")).any():
        x = np.asarray(dates, dtype="datetime64[us]")
        locator = mdates.AutoDateLocator()
        axes.xaxis.set_major_locator(locator)
        axes.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    else:
        x = np.arange(steps + len(truth))
        axes.set_xlabel("step")
    axes.plot(x[:steps], history, color="0.4", label="history")
    horizon = x[steps : steps + len(truth)]
    axes.plot(horizon, truth, color="tab:blue", label="truth")
    axes.plot(horizon, prediction, color="tab:orange", linestyle="--", label="forecast")
    axes.set_title(title)
    axes.legend(loc="best", fontsize=8)
    figure.tight_layout()
    return figure
