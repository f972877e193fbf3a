"""Gradient flow through time: ``||dL/dh_t||`` against ``t``, and over training steps.

The norms are what :class:`rnnkit.callbacks.GradientFlowRecorder` measures (defined in
:mod:`rnnkit.callbacks.gradient_flow`): per layer and direction name, one float per time step,
0.0 where a step got no gradient. The callback logs these figures as ``grad_flow/norm_vs_time``
and ``grad_flow/heatmap``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch

from rnnkit.figures.offscreen import plt

GradNorms = Mapping[str, Sequence[float]]
"""``{layer name: [||dL/dh_t|| for t = 0 .. T-1]}`` of one measured training step."""


def norm_vs_time_figure(grad_norms: GradNorms, step: int, title: str | None = None):
    """``||dL/dh_t||`` against ``t``, one line per layer and direction, log scale.

    ``step`` is the training step measured, shown in the default title.
    """
    figure, axes = plt.subplots(figsize=(6, 3.2))
    for name, norms in grad_norms.items():
        values = [v if v > 0 else math.nan for v in norms]  # log scale: a zero leaves a gap
        axes.plot(range(1, len(norms) + 1), values, label=name)
    axes.set_yscale("log")
    axes.set_xlabel("time step t")
    axes.set_ylabel("||dL/dh_t||")
    axes.set_title(title or f"gradient flow through time, step {step}")
    axes.legend(loc="best", fontsize=7)
    figure.tight_layout()
    return figure


def heatmap_figure(history: Sequence[tuple[int, GradNorms]]):
    """``log10 ||dL/dh_t||`` over ``t`` (x) and measured step (y), one panel per layer.

    ``history``: ``(training step, grad_norms)`` per measured step, oldest first. A layer's
    rows are the steps that measured it; shorter sequences leave the rest of their row blank.
    """
    names = list(dict.fromkeys(name for _, grad_norms in history for name in grad_norms))
    figure, axes_list = plt.subplots(
        len(names), 1, figsize=(6, 1.2 + 1.8 * len(names)), squeeze=False
    )
    for axes, name in zip(axes_list[:, 0], names):
        rows = [(step, grad_norms[name]) for step, grad_norms in history if name in grad_norms]
        width = max(len(norms) for _, norms in rows)
        matrix = torch.full((len(rows), width), math.nan)
        for r, (_, norms) in enumerate(rows):
            values = torch.tensor(norms, dtype=torch.float64)
            matrix[r, : len(values)] = values.clamp_min(1e-30).log10()
        draw_log_norm_panel(figure, axes, matrix, [step for step, _ in rows], name, max_ticks=8)
        axes.set_ylabel("training step")
    figure.tight_layout()
    return figure


def draw_log_norm_panel(figure, axes, log_norms, steps: Sequence[int], title: str, max_ticks: int):
    """One heatmap panel: ``log_norms (len(steps), T)`` (``log10 ||dL/dh_t||``, NaN blank)
    over time step ``t = 1 .. T`` (x) and training step (y, at most ``max_ticks`` labels)."""
    image = axes.imshow(
        log_norms.numpy(),
        aspect="auto",
        cmap="viridis",
        interpolation="nearest",
        extent=(0.5, log_norms.shape[1] + 0.5, len(steps) - 0.5, -0.5),
    )
    ticks = list(range(0, len(steps), max(1, math.ceil(len(steps) / max_ticks))))
    axes.set_yticks(ticks, [str(steps[r]) for r in ticks])
    axes.set_title(title, fontsize=9)
    axes.set_xlabel("time step t")
    figure.colorbar(image, ax=axes, label="log10 ||dL/dh_t||")
