"""Quality per unit of time: a metric against wall-clock minutes, beside peers' figures."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rnnkit.figures.offscreen import plt


@dataclass
class Curve:
    """One run's metric over time.

    Attributes:
        label: legend text, e.g. ``"rnnkit LSTM, val/mse"``.
        minutes: ``(K,)`` wall-clock minutes since the run started, one per value.
        values: ``(K,)`` the metric at those times.
        final: optional ``(minutes, value)`` of the run's last evaluation (a test metric),
            drawn as a star in the curve's colour, labelled with its value.
    """

    label: str
    minutes: Sequence[float]
    values: Sequence[float]
    final: tuple[float, float] | None = None


def learning_curve_figure(
    curves: Sequence[Curve],
    *,
    title: str,
    ylabel: str,
    lines: Sequence[tuple[str, float]] = (),
    points: Sequence[tuple[str, float, float]] = (),
):
    """Each curve as a line with its values marked, ``lines`` as labelled horizontal lines
    (``(label, value)``: a peer's published figure) and ``points`` as labelled markers
    (``(label, minutes, value)``: a peer's figure at a known cost). Returns the figure."""
    if not curves:
        raise ValueError("curves: expected at least one curve, got none")
    figure, axes = plt.subplots(figsize=(8, 5))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for index, curve in enumerate(curves):
        minutes, values = np.asarray(curve.minutes, float), np.asarray(curve.values, float)
        if minutes.shape != values.shape or minutes.ndim != 1:
            raise ValueError(
                f"curve {curve.label!r}: minutes and values must be two (K,) arrays, got "
                f"{minutes.shape} and {values.shape}"
            )
        colour = colours[index % len(colours)]
        axes.plot(minutes, values, marker=".", color=colour, label=curve.label)
        if curve.final is not None:
            axes.plot(*curve.final, marker="*", markersize=12, linestyle="", color=colour)
            axes.annotate(
                f"{curve.final[1]:.3g}",
                curve.final,
                textcoords="offset points",
                xytext=(6, 4),
                fontsize=8,
                color=colour,
            )
    for index, (label, value) in enumerate(lines):
        axes.axhline(value, color="0.35", linestyle=("--", ":", "-.")[index % 3], linewidth=1)
        axes.annotate(
            f"{label} {value:.3g}",
            (0.0, value),
            xycoords=("axes fraction", "data"),
            xytext=(4, 2),
            textcoords="offset points",
            ha="left",
            fontsize=8,
            color="0.25",
        )
    for label, minutes, value in points:
        axes.plot(minutes, value, marker="D", linestyle="", color="black")
        axes.annotate(
            f"{label} {value:.3g}",
            (minutes, value),
            textcoords="offset points",
            xytext=(6, -10),
            fontsize=8,
        )
    axes.set_xlim(left=0)
    axes.set_xlabel("wall-clock minutes")
    axes.set_ylabel(ylabel)
    axes.set_title(title)
    axes.grid(alpha=0.3)
    axes.legend(loc="best", fontsize=8)
    figure.tight_layout()
    return figure
