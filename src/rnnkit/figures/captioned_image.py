"""A captioned image, with the attention over the image for each word (captioning logs it)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from rnnkit.figures.offscreen import plt


def caption_figure(
    image: torch.Tensor,
    caption: Sequence[str],
    attention: torch.Tensor | None = None,
    grid_shape: tuple[int, int] | None = None,
    reference: str | None = None,
):
    """``image (C, H, W)`` in [0, 1] titled with its generated ``caption``.

    With ``attention (W, S)`` (one row per generated word, ``S = H' * W'`` regions) and
    ``grid_shape = (H', W')``, one more panel per word shows the attention upsampled over the
    image (Show, Attend and Tell, figure 2).
    """
    pixels = image.detach().float().cpu()
    shown = (pixels[0] if pixels.shape[0] == 1 else pixels.permute(1, 2, 0)).numpy()
    cmap = "gray" if pixels.shape[0] == 1 else None
    words = list(caption) or ["(empty)"]
    panels = 1 + (len(words) if attention is not None else 0)
    height, width = pixels.shape[1:]
    scale = 2.5 / max(height, width)
    figure, axes = plt.subplots(
        panels,
        1,
        squeeze=False,
        figsize=(max(3.0, width * scale + 1.0), panels * (height * scale + 0.6)),
    )
    axes = axes[:, 0]
    axes[0].imshow(shown, cmap=cmap, vmin=0.0, vmax=1.0)
    title = " ".join(caption)
    if reference is not None:
        title += f"\n(reference: {reference})"
    axes[0].set_title(title, fontsize=9)
    if attention is not None:
        if grid_shape is None:
            raise ValueError("grid_shape: required with attention, got None")
        maps = attention.detach().float().cpu()[: len(words)].view(-1, 1, *grid_shape)
        maps = F.interpolate(maps, size=(height, width), mode="bilinear", align_corners=False)
        for axis, word, weights in zip(axes[1:], words, maps):
            axis.imshow(shown, cmap=cmap, vmin=0.0, vmax=1.0)
            axis.imshow(weights[0].numpy(), cmap="jet", alpha=0.5)
            axis.set_title(word, fontsize=8)
    for axis in axes:
        axis.axis("off")
    figure.tight_layout()
    return figure
