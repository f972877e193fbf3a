"""The classical baseline of language modelling: an interpolated Kneser-Ney n-gram model.

Fitted on the training token stream (the datamodule's ids: the model's own vocabulary), in
chunks of the memory-mapped stream, so memory grows with the number of distinct n-grams, not
with the text. An n-gram is an int64 code ``t_1 V^(n-1) + ... + t_n`` (``V`` the vocabulary
size; the order is lowered until ``V^n`` fits). Chen & Goodman (1999)'s interpolated
Kneser-Ney with one absolute discount per order, ``D = n1 / (n1 + 2 n2)`` (``n_r``: the n-grams
of that order counted ``r`` times):

    P_k(w | h) = (max(c_k(h w) - D_k, 0) + D_k N_k(h .) P_(k-1)(w | h')) / c_k(h .)

where ``h'`` is ``h`` less its first token; ``c_n`` are the counts of the highest order ``n``
and, below it, ``c_k(h w)`` is the number of distinct tokens seen before ``h w`` (continuation
counts; every n-gram but those at the very start of the text has one); ``c_k(h .)`` sums them
over ``w`` and ``N_k(h .)`` counts the ``w`` with ``c_k(h w) > 0``. A context never seen
(``c_k(h .) = 0``) leaves ``P_(k-1)``. The unigram level is interpolated with the uniform
distribution over the vocabulary (less ``<pad>``, never a target), so every token has a
probability and each ``P_k(. | h)`` sums to one.

:meth:`KneserNeyModel.log_probs` scores a batch in torch; a position whose context reaches
back past the batch's first column uses the tokens of the batch before when given them (the
task carries them, as it carries the recurrent state), else the longest context it has.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

CHUNK_TOKENS = 1 << 22
"""Stream positions counted at once."""


def largest_order(vocab_size: int, order: int) -> int:
    """``order``, lowered until ``vocab_size ** order`` fits an int64 code."""
    while order > 1 and vocab_size**order >= 2**62:
        order -= 1
    return order


def _merge(codes: np.ndarray, counts: np.ndarray, new: np.ndarray, new_counts: np.ndarray):
    """Two tables of sorted unique codes and their counts -> one."""
    if not len(codes):
        return new, new_counts
    merged, inverse = np.unique(np.concatenate([codes, new]), return_inverse=True)
    total = np.bincount(inverse, weights=np.concatenate([counts, new_counts]))
    return merged, total.astype(np.int64)


def ngram_counts(stream: np.ndarray, order: int, vocab_size: int) -> tuple:
    """``(codes, counts)``: the sorted distinct ``order``-grams of ``stream`` and their counts,
    counted in chunks of :data:`CHUNK_TOKENS` positions."""
    codes, counts = np.zeros(0, np.int64), np.zeros(0, np.int64)
    positions = len(stream) - order + 1
    for start in range(0, max(positions, 0), CHUNK_TOKENS):
        stop = min(start + CHUNK_TOKENS, positions)
        window = np.asarray(stream[start : stop + order - 1], dtype=np.int64)
        chunk = np.zeros(stop - start, dtype=np.int64)
        for offset in range(order):
            chunk = chunk * vocab_size + window[offset : offset + stop - start]
        new, new_counts = np.unique(chunk, return_counts=True)
        codes, counts = _merge(codes, counts, new, new_counts)
    return codes, counts


def _discount(counts: np.ndarray) -> float:
    n1, n2 = int((counts == 1).sum()), int((counts == 2).sum())
    return n1 / (n1 + 2 * n2) if n1 else 0.5


class KneserNeyModel:
    """Interpolated Kneser-Ney of order ``order`` over token ids below ``vocab_size``.

    Per order ``k`` (index ``k - 1`` of each list): ``codes`` (sorted int64 ``k``-gram codes),
    ``counts`` (raw at the highest order, continuation below), ``contexts`` (sorted codes of
    their ``k - 1``-token contexts), ``context_totals``, ``context_types`` and ``discounts``.
    """

    def __init__(self, vocab_size: int, order: int, excluded: tuple[int, ...] = ()) -> None:
        if order < 1:
            raise ValueError(f"order: expected an n-gram order >= 1, got {order}")
        self.vocab_size = int(vocab_size)
        self.order = largest_order(self.vocab_size, int(order))
        self.excluded = tuple(int(i) for i in excluded)

    def fit(self, stream: np.ndarray) -> KneserNeyModel:
        """Count the training token ``stream`` (a flat, possibly memory-mapped, array)."""
        if len(stream) < self.order:
            raise ValueError(
                f"stream: {len(stream)} training tokens, fewer than the order {self.order}"
            )
        v = self.vocab_size
        tables = [ngram_counts(stream, self.order, v)]
        for k in range(self.order - 1, 0, -1):  # continuation counts of the order below
            higher = tables[0][0]
            suffixes = higher % v**k
            codes, counts = np.unique(suffixes, return_counts=True)
            tables.insert(0, (codes, counts.astype(np.int64)))
        self.codes = [codes for codes, _ in tables]
        self.counts = [counts for _, counts in tables]
        self.discounts = [_discount(counts) for counts in self.counts]
        self.contexts, self.context_totals, self.context_types = [], [], []
        for codes, counts in tables:
            contexts, starts, types = np.unique(codes // v, return_index=True, return_counts=True)
            self.contexts.append(contexts)
            self.context_totals.append(np.add.reduceat(counts, starts) if len(counts) else counts)
            self.context_types.append(types.astype(np.int64))
        unigram = np.zeros(v)
        unigram[self.codes[0]] = self.counts[0]
        allowed = np.ones(v, dtype=bool)
        allowed[list(self.excluded)] = False
        total, discount = self.counts[0].sum(), self.discounts[0]
        self.unigram = np.where(
            allowed,
            (np.maximum(unigram - discount, 0) + discount * len(self.codes[0]) / allowed.sum())
            / total,
            0.0,
        )
        self._tensors: dict[torch.device, list] = {}
        return self

    def _on(self, device: torch.device) -> list:
        if device not in self._tensors:
            as_tensor = lambda array: torch.as_tensor(array, device=device)  # noqa: E731
            self._tensors[device] = [
                as_tensor(self.unigram),
                *[
                    tuple(
                        as_tensor(table[k])
                        for table in (
                            self.codes,
                            self.counts,
                            self.contexts,
                            self.context_totals,
                            self.context_types,
                        )
                    )
                    for k in range(self.order)
                ],
            ]
        return self._tensors[device]

    def log_probs(self, tokens: Tensor, targets: Tensor, previous: Tensor | None = None) -> Tensor:
        """``(N, L)`` float64 natural-log probabilities of ``targets (N, L)``, each predicted
        from the tokens up to the same column of ``tokens (N, L)`` (``targets`` is ``tokens``
        one step later), with ``previous (N, P)`` the tokens before the batch (or None)."""
        unigram, *tables = self._on(tokens.device)
        rows, length = tokens.shape
        carried = 0 if previous is None else previous.shape[1]
        pad = self.order - 1
        history = [tokens.new_zeros(rows, pad)]
        if carried:
            history.append(previous.to(tokens))
        history = torch.cat([*history, tokens], 1).long()
        base = pad + carried  # the column of tokens[:, 0] in history
        targets = targets.long()
        probability = unigram[targets]
        available = carried + torch.arange(1, length + 1, device=tokens.device)
        v = self.vocab_size
        for k in range(2, self.order + 1):
            codes, counts, contexts, totals, types = tables[k - 1]
            if not len(codes):
                continue
            span = k - 1
            context = torch.zeros_like(targets)
            for step in range(span):
                start = base - span + 1 + step
                context = context * v + history[:, start : start + length]
            found, where = _lookup(contexts, context)
            total = torch.where(found, totals[where], 0).double()
            kinds = torch.where(found, types[where], 0).double()
            seen, at = _lookup(codes, context * v + targets)
            count = torch.where(seen, counts[at], 0).double()
            discount = self.discounts[k - 1]
            interpolated = ((count - discount).clamp_min(0) + discount * kinds * probability) / (
                total.clamp_min(1)
            )
            use = found & (available >= span)[None, :]
            probability = torch.where(use, interpolated, probability)
        return probability.log()


def _lookup(table: Tensor, codes: Tensor) -> tuple[Tensor, Tensor]:
    """Whether each of ``codes`` is in the sorted ``table``, and where (clamped)."""
    where = torch.searchsorted(table, codes).clamp_max(len(table) - 1)
    return table[where] == codes, where
