"""A forecast against the truth, after the history it started from (forecasting logs it)."""

from __future__ import annotations

from rnnkit.figures.offscreen import plt


def forecast_figure(history, truth, prediction, title: str = "forecast"):
    """One series: ``history (L,)``, then ``truth (H,)`` and ``prediction (H,)``."""
    figure, axes = plt.subplots(figsize=(7, 3))
    steps = len(history)
    axes.plot(range(steps), history, color="0.4", label="history")
    horizon = range(steps, steps + len(truth))
    axes.plot(horizon, truth, color="tab:blue", label="truth")
    axes.plot(horizon, prediction, color="tab:orange", linestyle="--", label="forecast")
    axes.set_title(title)
    axes.legend(loc="best", fontsize=8)
    figure.tight_layout()
    return figure
