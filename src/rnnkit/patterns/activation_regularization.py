"""Activation regularisation (AR) and temporal activation regularisation (TAR) of a recurrent
layer's outputs (Merity et al. 2017, "Revisiting activation regularization for language RNNs";
used by AWD-LSTM).

* AR, ``alpha * mean(m ⊙ h_t)²``: an L2 penalty on the (dropped-out) outputs of the last
  layer, which keeps activations small.
* TAR, ``beta * mean(h_t - h_{t-1})²``: an L2 penalty on the change of the raw outputs from one
  step to the next, which favours slowly changing states.

Both are added to the training loss only. :class:`ActivationRegularization` sits in a pattern:
the pattern passes it the outputs of every training forward pass, and the task adds
:meth:`~ActivationRegularization.take` to its loss. A batch read in several forward passes
(truncated BPTT chunks, pieces cut at document starts) is penalised as one: squared sums and
counts are accumulated, and no TAR term crosses a boundary between passes (where the state may
have been reset).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class ActivationRegularization(nn.Module):
    """Collects ``alpha * AR + beta * TAR`` over the forward passes of one training step.

    Args:
        alpha: AR coefficient (AWD-LSTM: 2); 0 turns AR off.
        beta: TAR coefficient (AWD-LSTM: 1); 0 turns TAR off.

    Call it as ``module(raw, dropped)`` with ``raw``, ``dropped``: ``(N, L, H)`` batch-first
    outputs before and after output dropout; it records nothing in eval mode or when both
    coefficients are 0. :meth:`take` returns the penalty and starts afresh.
    """

    def __init__(self, alpha: float = 0.0, beta: float = 0.0) -> None:
        super().__init__()
        for name, value in (("alpha", alpha), ("beta", beta)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"{name}: expected a number >= 0, got {value!r}")
        self.alpha = float(alpha)
        self.beta = float(beta)
        self._sums: list[Tensor] = []
        self._counts = [0, 0]

    @property
    def active(self) -> bool:
        return self.training and (self.alpha > 0 or self.beta > 0)

    def forward(self, raw: Tensor, dropped: Tensor) -> None:
        if not self.active:
            return
        ar = dropped.pow(2).sum() if self.alpha > 0 else raw.new_zeros(())
        tar = (raw[:, 1:] - raw[:, :-1]).pow(2).sum() if self.beta > 0 else raw.new_zeros(())
        if self._sums:
            self._sums = [self._sums[0] + ar, self._sums[1] + tar]
        else:
            self._sums = [ar, tar]
        self._counts[0] += dropped.numel()
        self._counts[1] += raw[:, 1:].numel()

    def take(self) -> Tensor:
        """The penalty of the passes since the last call (a 0-d tensor; 0 if none)."""
        if not self._sums:
            return torch.zeros(())
        (ar, tar), (ar_count, tar_count) = self._sums, self._counts
        penalty = self.alpha * ar / max(ar_count, 1) + self.beta * tar / max(tar_count, 1)
        self._sums, self._counts = [], [0, 0]
        return penalty

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}, beta={self.beta}"
