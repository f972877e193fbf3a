"""Poolings: reduce a padded sequence of encoder outputs to one vector per sequence.

Every pooling is a module with the same call::

    pooled, weights = pooling(outputs, mask, final_state=None)

    outputs:      (N, L, F)  encoder outputs, batch-first (F = D * H_out for D directions)
    mask:         (N, L)     bool, True at real steps (each sequence has at least one)
    final_state:  h_n of the encoder, (D * num_layers, N, H_out) per state component; only
                  :class:`LastPooling` reads it
    pooled:       (N, F)
    weights:      (N, L) or None: how much each step contributes, rows summing to 1 over the
                  real steps and exactly 0 on padding (:class:`AttentionPooling` only)

Padding never changes a result: padded steps are masked out whatever their values.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from rnnkit.patterns._sequence import (
    RecurrentState,
    check_positive_int,
    last_from_outputs,
    last_from_state,
)

POOLINGS = ("last", "mean", "max", "attention")


class PoolingOutput(NamedTuple):
    """``pooled (N, F)`` and per-step ``weights (N, L)`` (None unless attention pooling)."""

    pooled: Tensor
    weights: Tensor | None


class LastPooling(nn.Module):
    """The encoder's last output per direction: forward at step ``length - 1``, backward at 0.

    Given ``final_state`` (``h_n``), reads the top layer's final hidden state (``h`` of an
    LSTM's ``(h, c)``): exact for padded and packed batches, since the runner stops each
    sequence at its own length. This assumes the cell's output is its first state component,
    as for every built-in cell and :class:`~rnnkit.cells.RecurrentCell`'s default. Without
    ``final_state``, it indexes ``outputs`` at those steps instead (same result).

    Args:
        num_directions: 2 for a bidirectional encoder, else 1.
    """

    def __init__(self, num_directions: int = 1) -> None:
        super().__init__()
        if num_directions not in (1, 2):
            raise ValueError(f"num_directions: expected 1 or 2, got {num_directions!r}")
        self.num_directions = num_directions

    def forward(
        self, outputs: Tensor, mask: Tensor, final_state: RecurrentState | None = None
    ) -> PoolingOutput:
        if final_state is None:
            return PoolingOutput(last_from_outputs(outputs, mask, self.num_directions), None)
        return PoolingOutput(last_from_state(final_state, self.num_directions), None)

    def extra_repr(self) -> str:
        return f"num_directions={self.num_directions}"


class MeanPooling(nn.Module):
    """Average of the outputs over each sequence's real steps."""

    def forward(
        self, outputs: Tensor, mask: Tensor, final_state: RecurrentState | None = None
    ) -> PoolingOutput:
        weights = mask.unsqueeze(-1).to(outputs.dtype)  # (N, L, 1)
        total = (outputs * weights).sum(1)
        return PoolingOutput(total / weights.sum(1), None)


class MaxPooling(nn.Module):
    """Feature-wise maximum of the outputs over each sequence's real steps."""

    def forward(
        self, outputs: Tensor, mask: Tensor, final_state: RecurrentState | None = None
    ) -> PoolingOutput:
        masked = outputs.masked_fill(~mask.unsqueeze(-1), float("-inf"))
        return PoolingOutput(masked.amax(1), None)


class AttentionPooling(nn.Module):
    r"""Learned additive (Bahdanau-style) attention over the real steps.

    .. math::
        s_t = v^\top \tanh(W o_t + b), \qquad
        a = \operatorname{softmax}_{t < \text{length}}(s), \qquad
        \text{pooled} = \sum_t a_t o_t

    Padded steps get score ``-inf`` before the softmax, so their weights are exactly 0.
    ``v`` has no bias: a constant added to every score would not change the softmax.

    Args:
        input_size: ``F``, the feature size of the outputs.
        attention_size: width of the hidden scorer layer ``W``; defaults to ``input_size``.

    Parameters: ``project.weight (A, F)``, ``project.bias (A,)``, ``score.weight (1, A)``.
    """

    def __init__(self, input_size: int, attention_size: int | None = None) -> None:
        super().__init__()
        check_positive_int("input_size", input_size)
        if attention_size is None:
            attention_size = input_size
        check_positive_int("attention_size", attention_size)
        self.input_size = input_size
        self.attention_size = attention_size
        self.project = nn.Linear(input_size, attention_size)
        self.score = nn.Linear(attention_size, 1, bias=False)

    def forward(
        self, outputs: Tensor, mask: Tensor, final_state: RecurrentState | None = None
    ) -> PoolingOutput:
        scores = self.score(torch.tanh(self.project(outputs))).squeeze(-1)  # (N, L)
        weights = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)
        pooled = torch.bmm(weights.unsqueeze(1), outputs).squeeze(1)
        return PoolingOutput(pooled, weights)

    def extra_repr(self) -> str:
        return f"input_size={self.input_size}, attention_size={self.attention_size}"


def make_pooling(
    name: str,
    input_size: int,
    num_directions: int = 1,
    attention_size: int | None = None,
) -> nn.Module:
    """Build a pooling by name.

    Args:
        name: one of :data:`POOLINGS` (``"last"``, ``"mean"``, ``"max"``, ``"attention"``).
        input_size: feature size ``F`` of the outputs to pool (``D * H_out``).
        num_directions: 2 when the encoder is bidirectional (used by ``"last"``).
        attention_size: width of the attention scorer (``"attention"`` only).

    Raises:
        ValueError: for an unknown name (the message lists the valid ones), or an
            ``attention_size`` given to another pooling.
    """
    if name not in POOLINGS:
        raise ValueError(f"pooling: expected one of {', '.join(POOLINGS)}, got {name!r}")
    if attention_size is not None and name != "attention":
        raise ValueError(
            f"attention_size: only used by pooling='attention', got {attention_size!r} "
            f"with pooling={name!r}"
        )
    if name == "last":
        return LastPooling(num_directions)
    if name == "mean":
        return MeanPooling()
    if name == "max":
        return MaxPooling()
    return AttentionPooling(input_size, attention_size)
