"""Confusion matrix of a classifier, as an annotated heatmap (sentiment logs it)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch

from rnnkit.figures.offscreen import plt


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


def _enumerate(matrix: torch.Tensor) -> Iterator[tuple[tuple[int, int], torch.Tensor]]:
    for row in range(matrix.shape[0]):
        for column in range(matrix.shape[1]):
            yield (row, column), matrix[row, column]
