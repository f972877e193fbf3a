"""Figures that compare training runs: gradient flow through time per run, and exploding
gradients with and without clipping (the figures of docs/vanishing_gradients.md).

Each run is named by a label (``"lstm"``, ``"clipping at 1.0"``). The data are plain floats:
gradient norms per time step as :class:`rnnkit.callbacks.GradientFlowRecorder` measures them
for one layer, global gradient norms as :class:`rnnkit.callbacks.GradientNormCallback` logs
them, and the training loss of every step.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch

from rnnkit.figures.gradient_flow import draw_log_norm_panel
from rnnkit.figures.offscreen import plt

FlowHistory = Sequence[tuple[int, Sequence[float]]]
"""``[(training step, [||dL/dh_t|| for t = 1 .. T]), ...]`` of one run, oldest step first."""


def relative_flow_figure(
    grad_norms: Mapping[str, Sequence[float]], title: str, xlabel: str = "time step t"
):
    """``||dL/dh_t|| / ||dL/dh_T||`` against ``t``, one line per run, log scale.

    ``grad_norms``: ``{label: [||dL/dh_t|| for t = 1 .. T]}``, one measured step of each run;
    each line is divided by its last value, so the runs start from 1 at ``t = T``.
    """
    figure, axes = plt.subplots(figsize=(6.4, 3.4))
    for label, norms in grad_norms.items():
        axes.plot(range(1, len(norms) + 1), [v / norms[-1] for v in norms], label=label)
    axes.set_yscale("log")
    axes.set_xlabel(xlabel)
    axes.set_ylabel("||dL/dh_t|| / ||dL/dh_last||")
    axes.set_title(title)
    axes.legend(fontsize=8)
    axes.grid(alpha=0.3)
    figure.tight_layout()
    return figure


def flow_heatmaps_figure(histories: Mapping[str, FlowHistory]):
    """``log10 ||dL/dh_t||`` over ``t`` (x) and measured training step (y), one panel per run,
    side by side (a zero norm shows as the floor, -30).

    ``histories``: ``{label: [(training step, norms), ...]}``; within a run every measured step
    has the same number of time steps.
    """
    if not histories:
        raise ValueError("histories: expected at least one run, got none")
    figure, axes_list = plt.subplots(
        1, len(histories), figsize=(3.2 * len(histories), 3.2), squeeze=False
    )
    for axes, (label, history) in zip(axes_list[0], histories.items()):
        matrix = torch.tensor([list(norms) for _, norms in history], dtype=torch.float64)
        steps = [step for step, _ in history]
        draw_log_norm_panel(
            figure, axes, matrix.clamp_min(1e-30).log10(), steps, label, max_ticks=6
        )
    axes_list[0][0].set_ylabel("training step")
    figure.tight_layout()
    return figure


def exploding_gradients_figure(
    grad_norms: Mapping[str, Sequence[tuple[int, float]]],
    losses: Mapping[str, Sequence[float]],
    title: str,
):
    """Global gradient norm before clipping (left) and training loss (right) against the
    training step, one line per run, log scales; a dotted red line marks each run's first
    non-finite loss.

    ``grad_norms``: ``{label: [(training step, norm), ...]}``; ``losses``: ``{label: [loss of
    step 0, 1, ...]}``, with the same labels.
    """
    if set(grad_norms) != set(losses):
        raise ValueError(
            f"losses: expected the runs of grad_norms {sorted(grad_norms)}, got {sorted(losses)}"
        )
    figure, (left, right) = plt.subplots(1, 2, figsize=(8, 3.2))
    for label, norms in grad_norms.items():
        run_losses = losses[label]
        left.plot([step for step, _ in norms], [norm for _, norm in norms], label=label)
        right.plot(range(len(run_losses)), run_losses, label=label)
        bad = next((i for i, v in enumerate(run_losses) if not math.isfinite(v)), None)
        if bad is not None:
            for axes in (left, right):
                axes.axvline(bad, color="tab:red", linestyle=":", linewidth=1)
            right.annotate(
                f"loss NaN from step {bad}",
                (bad, 0.9),
                xycoords=("data", "axes fraction"),
                xytext=(6, 0),
                textcoords="offset points",
                fontsize=8,
                color="tab:red",
            )
    left.set_yscale("log")
    left.set_xlabel("training step")
    left.set_ylabel("global gradient norm (before clipping)")
    right.set_yscale("log")
    right.set_xlabel("training step")
    right.set_ylabel("training loss")
    left.legend(fontsize=8)
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    return figure
