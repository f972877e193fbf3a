"""Matplotlib figures the tasks log to TensorBoard (drawn off-screen)."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402


def confusion_matrix_figure(matrix: torch.Tensor, labels: Sequence[str]):
    """Counts ``(C, C)`` (rows: gold, columns: predicted) as an annotated heatmap."""
    size = max(3.0, 0.6 * len(labels) + 1.5)
    figure, axes = plt.subplots(figsize=(size, size))
    axes.imshow(matrix.numpy(), cmap="Blues")
    axes.set_xticks(range(len(labels)), [str(x) for x in labels], rotation=45, ha="right")
    axes.set_yticks(range(len(labels)), [str(x) for x in labels])
    axes.set_xlabel("predicted")
    axes.set_ylabel("gold")
    for (row, column), value in _enumerate(matrix):
        axes.text(column, row, int(value), ha="center", va="center", fontsize=8)
    figure.tight_layout()
    return figure


def _enumerate(matrix: torch.Tensor):
    for row in range(matrix.shape[0]):
        for column in range(matrix.shape[1]):
            yield (row, column), matrix[row, column]


def attention_figure(weights: torch.Tensor, source: Sequence[str], target: Sequence[str]):
    """Attention weights ``(T, S)`` with target tokens as rows and source tokens as columns."""
    figure, axes = plt.subplots(
        figsize=(max(3.0, 0.4 * len(source) + 1.5), max(3.0, 0.4 * len(target) + 1.5))
    )
    axes.imshow(weights.numpy(), cmap="viridis", aspect="auto", vmin=0.0, vmax=1.0)
    axes.set_xticks(range(len(source)), list(source), rotation=90)
    axes.set_yticks(range(len(target)), list(target))
    axes.set_xlabel("source")
    axes.set_ylabel("output")
    figure.tight_layout()
    return figure


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
