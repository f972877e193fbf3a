"""Frame-level accuracy of piano-roll predictions (Bay et al. 2009; Boulanger-Lewandowski et
al. 2012): ``TP / (TP + FP + FN)``, each count summed over every key of every frame of a split.

True negatives do not count, so predicting silence everywhere scores 0 however sparse the
rolls are. The totals are summed first (and across DDP processes), then divided: the accuracy of
the whole split, not a mean of per-batch or per-frame ratios.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torchmetrics import Metric


class FrameAccuracy(Metric):
    """``update(predicted, target, mask=None)``: ``predicted`` and ``target`` ``(..., K)`` in
    {0, 1} (bool or float), ``mask`` ``(...)`` bool, True at the frames that count (None: all).
    ``compute()``: ``TP / (TP + FP + FN)``; 1.0 when no key sounds in either (nothing to get
    wrong)."""

    full_state_update = False
    is_differentiable = False
    higher_is_better = True

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        for name in ("true_positives", "false_positives", "false_negatives"):
            self.add_state(name, torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, predicted: Tensor, target: Tensor, mask: Tensor | None = None) -> None:
        if predicted.shape != target.shape:
            raise ValueError(
                f"predicted: expected the shape of target {tuple(target.shape)}, got "
                f"{tuple(predicted.shape)}"
            )
        predicted, target = predicted.bool(), target.bool()
        if mask is not None:
            if mask.shape != target.shape[:-1]:
                raise ValueError(
                    f"mask: expected shape {tuple(target.shape[:-1])} (one per frame), got "
                    f"{tuple(mask.shape)}"
                )
            keep = mask.bool().unsqueeze(-1)
            predicted, target = predicted & keep, target & keep
        self.true_positives += (predicted & target).sum()
        self.false_positives += (predicted & ~target).sum()
        self.false_negatives += (~predicted & target).sum()

    def compute(self) -> Tensor:
        total = self.true_positives + self.false_positives + self.false_negatives
        if int(total) == 0:
            return torch.tensor(1.0)
        return (self.true_positives.double() / total).float()
