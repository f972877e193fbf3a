"""SpecAugment-style masking of features during training (Park et al. 2019, without warping)."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class SpecAugment(nn.Module):
    """Zero ``freq_masks`` bands of up to ``freq_width`` features and ``time_masks`` spans of
    up to ``time_width`` frames (at most ``max_time_fraction`` of each sequence's length), in
    training mode only; in eval mode it returns its input.

    Masked values are set to 0, the mean of normalised features. Widths are drawn uniformly
    from ``[0, width]`` and positions uniformly where the mask fits, per sequence.

    Shapes: features ``(N, T, F)``, lengths ``(N,)``; returns ``(N, T, F)``.
    """

    def __init__(
        self,
        freq_masks: int = 2,
        freq_width: int = 8,
        time_masks: int = 2,
        time_width: int = 20,
        max_time_fraction: float = 0.2,
    ) -> None:
        super().__init__()
        for name, value in (
            ("freq_masks", freq_masks),
            ("freq_width", freq_width),
            ("time_masks", time_masks),
            ("time_width", time_width),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name}: expected an integer >= 0, got {value!r}")
        if not 0.0 <= max_time_fraction <= 1.0:
            raise ValueError(
                f"max_time_fraction: expected a number in [0, 1], got {max_time_fraction!r}"
            )
        self.freq_masks, self.freq_width = freq_masks, freq_width
        self.time_masks, self.time_width = time_masks, time_width
        self.max_time_fraction = float(max_time_fraction)

    def forward(self, features: Tensor, lengths: Tensor) -> Tensor:
        if not self.training:
            return features
        batch, steps, size = features.shape
        keep = torch.ones_like(features, dtype=torch.bool)
        bins = torch.arange(size, device=features.device)
        frames = torch.arange(steps, device=features.device)
        lengths = lengths.to(features.device)
        for _ in range(self.freq_masks):
            width = torch.randint(0, min(self.freq_width, size) + 1, (batch, 1), device=bins.device)
            start = (torch.rand(batch, 1, device=bins.device) * (size - width + 1)).long()
            band = (bins >= start) & (bins < start + width)  # (N, F)
            keep &= ~band.unsqueeze(1)
        limit = torch.minimum(
            torch.full_like(lengths, self.time_width),
            (lengths.float() * self.max_time_fraction).long(),
        ).unsqueeze(1)
        for _ in range(self.time_masks):
            width = (torch.rand(batch, 1, device=bins.device) * (limit + 1).float()).long()
            room = (lengths.unsqueeze(1) - width + 1).clamp_min(1).float()
            start = (torch.rand(batch, 1, device=bins.device) * room).long()
            span = (frames >= start) & (frames < start + width)  # (N, T)
            keep &= ~span.unsqueeze(2)
        return features * keep

    def extra_repr(self) -> str:
        return (
            f"freq_masks={self.freq_masks}, freq_width={self.freq_width}, "
            f"time_masks={self.time_masks}, time_width={self.time_width}"
        )
