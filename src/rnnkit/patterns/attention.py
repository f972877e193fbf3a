"""Attention over a memory of keys: additive (Bahdanau) and multiplicative (Luong dot, general).

Every attention module has the same interface (as OpenNMT's ``GlobalAttention``)::

    context, weights = attention(query, keys, mask)

    query:   (N, H_q)      e.g. the decoder's hidden state at one step
    keys:    (N, S, H_k)   e.g. the encoder's outputs (the "memory bank")
    mask:    (N, S) bool   True at real positions, False at padding (None: all real)
    context: (N, H_k)      sum_s weights[:, s] * keys[:, s]
    weights: (N, S)        softmax of the scores over the real positions; exactly 0 on padding

Scores need a key-only transform (``U k`` for additive, ``W k`` for general) that does not change
between decoder steps. :meth:`project_keys` computes it once per sequence; pass the result back as
``projected_keys`` to skip it at every step. Masked positions never influence a real position's
weight, so adding padding to ``keys`` changes neither the context nor the real weights (padded
keys must be finite: their weight is 0, and ``0 * inf`` is NaN).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from rnnkit.patterns._sequence import check_positive_int

ATTENTION_KINDS = ("none", "additive", "dot", "general")


def masked_softmax(scores: Tensor, mask: Tensor | None) -> Tensor:
    """Softmax over the last dimension of ``scores (N, S)`` restricted to ``mask (N, S)``.

    The weights of a row sum to 1 over its real positions and are exactly 0 on padding. A row
    with no real position gets all-zero weights (never NaN).
    """
    if mask is None:
        return scores.softmax(dim=-1)
    # The most negative finite value rather than -inf: exp(min - max) underflows to exactly 0
    # next to any real score, and a fully masked row stays finite (then zeroed below).
    filled = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
    return filled.softmax(dim=-1).masked_fill(~mask, 0.0)


class Attention(nn.Module):
    """Base class: scores -> masked softmax -> weighted sum of the keys (see the module doc)."""

    query_size: int
    key_size: int

    def project_keys(self, keys: Tensor) -> Tensor:
        """Key-only part of the score, computed once per memory: ``(N, S, H_k) -> (N, S, P)``."""
        return keys

    def score(self, query: Tensor, projected_keys: Tensor) -> Tensor:
        """Unnormalised scores ``(N, S)`` of ``query (N, H_q)`` against the projected keys."""
        raise NotImplementedError

    def forward(
        self,
        query: Tensor,
        keys: Tensor,
        mask: Tensor | None = None,
        projected_keys: Tensor | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Attend from ``query (N, H_q)`` over ``keys (N, S, H_k)``.

        Args:
            query: ``(N, H_q)``.
            keys: ``(N, S, H_k)``.
            mask: ``(N, S)`` bool, True at real positions; None means all positions are real.
            projected_keys: ``self.project_keys(keys)``, when already computed.

        Returns:
            ``context (N, H_k)`` and ``weights (N, S)``.
        """
        if query.dim() != 2 or query.shape[-1] != self.query_size:
            raise ValueError(
                f"query: expected shape (N, {self.query_size}), got {tuple(query.shape)}"
            )
        if keys.dim() != 3 or keys.shape[-1] != self.key_size or keys.shape[0] != query.shape[0]:
            raise ValueError(
                f"keys: expected shape ({query.shape[0]}, S, {self.key_size}), got "
                f"{tuple(keys.shape)}"
            )
        if mask is not None and tuple(mask.shape) != tuple(keys.shape[:2]):
            raise ValueError(
                f"mask: expected shape {tuple(keys.shape[:2])} (N, S), got {tuple(mask.shape)}"
            )
        if projected_keys is None:
            projected_keys = self.project_keys(keys)
        weights = masked_softmax(self.score(query, projected_keys), mask)
        context = torch.bmm(weights.unsqueeze(1), keys).squeeze(1)
        return context, weights

    def extra_repr(self) -> str:
        return f"query_size={self.query_size}, key_size={self.key_size}"


class AdditiveAttention(Attention):
    r"""Bahdanau (concat) attention: :math:`score(q, k_s) = v^T \tanh(W q + U k_s + b)`.

    Args:
        query_size: ``H_q``.
        key_size: ``H_k``.
        attention_size: size of the hidden layer ``A`` (default ``H_q``).

    Parameters: ``query_projection`` (``W: (A, H_q)``, no bias), ``key_projection``
    (``U: (A, H_k)`` and ``b``), ``v: (1, A)``.
    """

    def __init__(
        self,
        query_size: int,
        key_size: int,
        attention_size: int | None = None,
        recompute_hidden: bool = True,
    ) -> None:
        super().__init__()
        check_positive_int("query_size", query_size)
        check_positive_int("key_size", key_size)
        attention_size = query_size if attention_size is None else attention_size
        check_positive_int("attention_size", attention_size)
        self.query_size, self.key_size, self.attention_size = query_size, key_size, attention_size
        self.query_projection = nn.Linear(query_size, attention_size, bias=False)
        self.key_projection = nn.Linear(key_size, attention_size)
        self.v = nn.Linear(attention_size, 1, bias=False)
        self.recompute_hidden = recompute_hidden

    def project_keys(self, keys: Tensor) -> Tensor:
        """``U k + b``: ``(N, S, H_k) -> (N, S, A)``."""
        return self.key_projection(keys)

    def score(self, query: Tensor, projected_keys: Tensor) -> Tensor:
        projected_query = self.query_projection(query)
        if self.recompute_hidden and torch.is_grad_enabled() and projected_keys.requires_grad:
            # The (N, S, A) hidden layer is recomputed in the backward pass, not kept: a step of
            # a long decoding would otherwise hold N * S * A floats until then (the keys and the
            # query are held anyway).
            return checkpoint(
                _additive_score, projected_query, projected_keys, self.v.weight, use_reentrant=False
            )
        return _additive_score(projected_query, projected_keys, self.v.weight)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, attention_size={self.attention_size}"


def _additive_score(projected_query: Tensor, projected_keys: Tensor, v: Tensor) -> Tensor:
    """``v^T tanh(Wq + Uk + b)``: ``(N, A)``, ``(N, S, A)``, ``(1, A)`` -> ``(N, S)``."""
    hidden = torch.tanh(projected_keys + projected_query.unsqueeze(1))
    return (hidden @ v.squeeze(0).unsqueeze(-1)).squeeze(-1)


class DotAttention(Attention):
    r"""Luong dot attention: :math:`score(q, k_s) = q^T k_s`; needs ``H_q == H_k``; no weights."""

    def __init__(self, query_size: int, key_size: int) -> None:
        super().__init__()
        check_positive_int("query_size", query_size)
        check_positive_int("key_size", key_size)
        if query_size != key_size:
            raise ValueError(
                f"key_size: dot attention needs key_size == query_size={query_size}, got "
                f"{key_size}; use 'general' or 'additive' attention for different sizes"
            )
        self.query_size, self.key_size = query_size, key_size

    def score(self, query: Tensor, projected_keys: Tensor) -> Tensor:
        return torch.bmm(projected_keys, query.unsqueeze(2)).squeeze(2)


class GeneralAttention(Attention):
    r"""Luong general attention: :math:`score(q, k_s) = q^T W_a k_s`, ``W_a: (H_q, H_k)``.

    The parameter is ``key_projection`` (a bias-free ``nn.Linear(H_k, H_q)``, so
    ``key_projection.weight`` is :math:`W_a`).
    """

    def __init__(self, query_size: int, key_size: int) -> None:
        super().__init__()
        check_positive_int("query_size", query_size)
        check_positive_int("key_size", key_size)
        self.query_size, self.key_size = query_size, key_size
        self.key_projection = nn.Linear(key_size, query_size, bias=False)

    def project_keys(self, keys: Tensor) -> Tensor:
        """``W_a k``: ``(N, S, H_k) -> (N, S, H_q)``."""
        return self.key_projection(keys)

    def score(self, query: Tensor, projected_keys: Tensor) -> Tensor:
        return torch.bmm(projected_keys, query.unsqueeze(2)).squeeze(2)


def make_attention(
    kind: str, query_size: int, key_size: int, attention_size: int | None = None
) -> Attention | None:
    """Build an attention module by name; ``"none"`` returns None.

    Args:
        kind: ``"none"``, ``"additive"``, ``"dot"`` or ``"general"``.
        query_size, key_size: ``H_q`` and ``H_k`` (``"dot"`` needs them equal).
        attention_size: hidden size of ``"additive"`` attention (default ``H_q``); giving it for
            another kind is an error rather than silently ignored.
    """
    if kind not in ATTENTION_KINDS:
        raise ValueError(f"attention: expected one of {ATTENTION_KINDS}, got {kind!r}")
    if attention_size is not None and kind != "additive":
        raise ValueError(
            f"attention_size: only used by 'additive' attention, got attention_size="
            f"{attention_size} with attention={kind!r}; leave it None"
        )
    if kind == "none":
        return None
    if kind == "additive":
        return AdditiveAttention(query_size, key_size, attention_size)
    if kind == "dot":
        return DotAttention(query_size, key_size)
    return GeneralAttention(query_size, key_size)
