"""Per-token likelihood metrics over a whole split: mean NLL, perplexity, bits per token.

Each accumulates the summed negative log-likelihood and the number of tokens, and computes from
the totals, so ``perplexity = exp(total NLL / total tokens)`` over the split: not the mean of
per-batch perplexities, which over-weights short batches and is biased up by Jensen's
inequality. In a ``MetricCollection`` the three share one state (compute groups).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torchmetrics import Metric


class TokenNLL(Metric):
    """Mean negative log-likelihood (nats) per token over everything updated.

    ``update(nll, mask=None)``: ``nll`` the per-token negative log-likelihoods (natural log,
    any shape, e.g. ``F.cross_entropy(..., reduction="none")``); ``mask`` a bool tensor of the
    same shape, True where the token counts (None: all count).
    """

    full_state_update = False
    is_differentiable = False
    higher_is_better = False

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.add_state("total_nll", torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("total_tokens", torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, nll: Tensor, mask: Tensor | None = None) -> None:
        if mask is not None:
            if mask.shape != nll.shape:
                raise ValueError(
                    f"mask: expected the shape of nll {tuple(nll.shape)}, got {tuple(mask.shape)}"
                )
            nll = nll[mask.bool()]
        self.total_nll += nll.detach().double().sum()
        self.total_tokens += nll.numel()

    def mean_nll(self) -> Tensor:
        if int(self.total_tokens) == 0:
            raise ValueError("total_tokens: no token was counted (update with at least one)")
        return self.total_nll / self.total_tokens

    def compute(self) -> Tensor:
        return self.mean_nll().float()


class TokenPerplexity(TokenNLL):
    """``exp(total NLL / total tokens)``."""

    def compute(self) -> Tensor:
        return self.mean_nll().exp().float()


class BitsPerToken(TokenNLL):
    """``total NLL / total tokens / ln 2``: bits per character for a character model."""

    def compute(self) -> Tensor:
        return (self.mean_nll() / math.log(2.0)).float()
