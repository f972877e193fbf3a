"""A spectrogram with the CTC posteriors under it, on one time axis (speech logs it)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from rnnkit.figures.offscreen import plt

BLANK_LABEL = "_"


def ctc_posteriors_figure(
    features: torch.Tensor,
    posteriors: torch.Tensor,
    labels: Sequence[str],
    frames_per_second: float,
    reference: str | None = None,
    prediction: str | None = None,
):
    """Top: ``features (T, F)`` (log-mel frames) as an image; bottom: ``posteriors (T', C)``
    (probabilities per output step, ``T' = ceil(T / k)``), one row per label (``labels[c]``,
    the blank drawn as ``_``), both against seconds. Labels never above 1% are left out so
    the rows that matter stay readable; the title shows the reference and the prediction."""
    frames, _ = features.shape
    num_labels = posteriors.shape[1]
    seconds = frames / frames_per_second
    shown = [c for c in range(num_labels) if float(posteriors[:, c].max()) > 0.01] or [0]
    figure, (top, bottom) = plt.subplots(
        2,
        1,
        figsize=(max(6.0, 2.0 * seconds + 2.0), 2.5 + 0.18 * len(shown)),
        sharex=True,
        gridspec_kw={"height_ratios": [1.0, max(0.6, 0.08 * len(shown))]},
    )
    top.imshow(
        features.T.numpy(),
        origin="lower",
        aspect="auto",
        cmap="magma",
        extent=(0.0, seconds, 0, features.shape[1]),
    )
    top.set_ylabel("mel band")
    title = []
    if reference is not None:
        title.append(f"reference: {reference}")
    if prediction is not None:
        title.append(f"prediction: {prediction}")
    if title:
        top.set_title("\n".join(title), fontsize=9, loc="left")
    bottom.imshow(
        posteriors[:, shown].T.numpy(),
        origin="upper",
        aspect="auto",
        cmap="Greys",
        vmin=0.0,
        vmax=1.0,
        interpolation="nearest",
        extent=(0.0, seconds, len(shown), 0),
    )
    names = [labels[c] if labels[c] not in ("", " ") else "␣" for c in shown]
    bottom.set_yticks([i + 0.5 for i in range(len(shown))], names, fontsize=7)
    bottom.set_ylabel("CTC posterior")
    bottom.set_xlabel("seconds")
    figure.tight_layout()
    return figure
