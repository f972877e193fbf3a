"""A small convolutional image encoder, trained from scratch (no pretrained weights).

Each block is ``conv3x3 -> BatchNorm -> ReLU -> max-pool 2x2``; a final 1x1 convolution maps
the last block's channels to ``feature_size``. The output is a grid of feature vectors, one per
image region (what Show-Attend-Tell attends over), and their mean is the global image vector.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn


class ImageEncoder(nn.Module):
    """``images (N, C, H, W)`` -> ``features (N, S, F)``, ``S = H' * W'`` regions, row-major.

    Args:
        in_channels: ``C`` of the images.
        channels: output channels of each conv block (one 2x2 max-pool per block, rounding up,
            so ``H' = ceil(H / 2 ** len(channels))``).
        feature_size: ``F``, size of each region's feature vector.
        dropout: 2-D dropout on the final feature map.
    """

    def __init__(
        self,
        in_channels: int,
        channels: Sequence[int] = (32, 64),
        feature_size: int = 64,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if not channels or any(not isinstance(c, int) or c < 1 for c in channels):
            raise ValueError(
                f"encoder_channels: expected a non-empty list of positive integers, "
                f"got {list(channels)!r}"
            )
        if not isinstance(feature_size, int) or feature_size < 1:
            raise ValueError(f"feature_size: expected a positive integer, got {feature_size!r}")
        blocks: list[nn.Module] = []
        previous = in_channels
        for width in channels:
            blocks += [
                nn.Conv2d(previous, width, 3, padding=1, bias=False),
                nn.BatchNorm2d(width),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2, ceil_mode=True),
            ]
            previous = width
        self.blocks = nn.Sequential(*blocks)
        self.project = nn.Conv2d(previous, feature_size, 1)
        self.dropout = nn.Dropout2d(dropout)
        self.in_channels = in_channels
        self.feature_size = feature_size
        self.num_blocks = len(channels)

    def grid_shape(self, height: int, width: int) -> tuple[int, int]:
        """``(H', W')``: the regions of an ``(H, W)`` image."""
        for _ in range(self.num_blocks):
            height, width = -(-height // 2), -(-width // 2)
        return height, width

    def forward(self, images: Tensor) -> Tensor:
        if images.dim() != 4 or images.shape[1] != self.in_channels:
            raise ValueError(
                f"images: expected (N, {self.in_channels}, H, W), got shape {tuple(images.shape)}"
            )
        grid = torch.relu(self.project(self.blocks(images)))
        return self.dropout(grid).flatten(2).transpose(1, 2)
