"""An ensemble of classifiers: independently initialised members, class probabilities averaged."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class Ensemble(nn.Module):
    """``K`` classifiers of one kind, trained side by side, whose predictions are averaged.

    Each member keeps its own parameters and initialisation, and is trained on its own loss
    (:meth:`loss`: the mean of the members' cross entropies), so the members stay independent
    models, as a deep ensemble's are (Lakshminarayanan et al. 2017); the ensemble predicts the
    mean of their class probabilities. Training the averaged output instead would fit one
    mixture whose members need not each be a classifier.

    Args:
        members: the classifiers, each called as ``member(*inputs)`` and returning logits
            ``(N, C)``: e.g. :class:`~rnnkit.patterns.many_to_one.ManyToOne` heads built with
            the same arguments (each build draws its own initial weights).

    Shapes:
        forward(*inputs) -> ``(N, C)``: the log of the members' mean probability of each class
        (log-probabilities, so ``argmax``, ``softmax`` and ``cross_entropy`` read them as logits).
        member_logits(*inputs) -> ``(K, N, C)``.
    """

    def __init__(self, members: Sequence[nn.Module]) -> None:
        super().__init__()
        members = list(members)
        if not members:
            raise ValueError("Ensemble: expected at least one member, got none")
        for i, member in enumerate(members):
            if not isinstance(member, nn.Module):
                raise TypeError(f"Ensemble: member {i} is a {type(member).__name__}, not a module")
        self.members = nn.ModuleList(members)

    def __len__(self) -> int:
        return len(self.members)

    def member_logits(self, *inputs: Any, **kwargs: Any) -> Tensor:
        """Every member's logits, stacked: ``(K, N, C)``."""
        return torch.stack([member(*inputs, **kwargs) for member in self.members])

    @staticmethod
    def combine(member_logits: Tensor) -> Tensor:
        """``(K, N, C)`` logits -> ``(N, C)`` log of the mean class probability."""
        log_probabilities = member_logits.float().log_softmax(-1)
        return log_probabilities.logsumexp(0) - math.log(member_logits.shape[0])

    def forward(self, *inputs: Any, **kwargs: Any) -> Tensor:
        return self.combine(self.member_logits(*inputs, **kwargs))

    @staticmethod
    def loss(member_logits: Tensor, targets: Tensor) -> Tensor:
        """Mean over members of ``F.cross_entropy(member_logits[k], targets)``: each member
        is trained as if alone. ``member_logits (K, N, C)``, ``targets (N,)`` class ids."""
        k, n, c = member_logits.shape
        return F.cross_entropy(member_logits.reshape(k * n, c), targets.repeat(k))
