"""Attention weights as a heatmap: output tokens against source tokens (translation logs it)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from rnnkit.figures.offscreen import plt


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
