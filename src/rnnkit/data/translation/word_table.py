"""The classical baseline of translation: word-by-word through an IBM Model 1 table.

Brown et al. (1993)'s Model 1 learns ``t(e | f)``, the probability that source word ``f``
translates to target word ``e``, from the training sentence pairs alone, by expectation
maximisation: each target word is aligned to every source word of its pair (and to an empty
source word, NULL) in proportion to ``t``, and ``t`` is re-estimated from those expected counts.
Fitted on the prepared token ids (the model's vocabularies) in chunks of sentence pairs, over
the sorted table of the ``(f, e)`` pairs that co-occur in a training pair. The baseline
translation replaces each source word by its most probable target word (source words never
seen in training are dropped): no reordering, no fertility, no language model.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

CHUNK_PAIRS = 4096
"""Sentence pairs expanded into alignment links at once."""
DEFAULT_ITERATIONS = 5


def alignment_links(
    source: np.ndarray,
    source_offsets: np.ndarray,
    target: np.ndarray,
    target_offsets: np.ndarray,
    null: int,
    target_vocab_size: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Every (source word or NULL, target word) link of a chunk of sentence pairs:
    ``(codes, first)``: the links' int64 codes ``f * V_target + e``, grouped by target token,
    and ``(T + 1,)`` where each target token's links start."""
    source = np.asarray(source, dtype=np.int64)
    target = np.asarray(target, dtype=np.int64)
    source_lengths = np.diff(source_offsets) + 1  # with NULL
    target_lengths = np.diff(target_offsets)
    # Each pair's source with NULL first, as one flat array.
    with_null = np.full(int(source_lengths.sum()), null, dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(source_lengths)[:-1]])
    real = np.ones(len(with_null), dtype=bool)
    real[starts] = False
    with_null[real] = source
    # Target token j of pair k links to with_null[starts[k] : starts[k] + source_lengths[k]].
    links_per_token = np.repeat(source_lengths, target_lengths)
    first = np.concatenate([[0], np.cumsum(links_per_token)])
    token_start = np.repeat(starts, target_lengths)
    within = np.arange(first[-1]) - np.repeat(first[:-1], links_per_token)
    links_source = with_null[np.repeat(token_start, links_per_token) + within]
    links_target = np.repeat(target, links_per_token)
    return links_source * target_vocab_size + links_target, first


class WordTranslationTable:
    """IBM Model 1 ``t(e | f)`` over token ids; ``best`` (``(V_source,)`` int64) is each source
    word's most probable target word, -1 where the source word was never seen."""

    def __init__(
        self, source_vocab_size: int, target_vocab_size: int, iterations: int = DEFAULT_ITERATIONS
    ) -> None:
        if iterations < 1:
            raise ValueError(f"iterations: expected at least 1, got {iterations}")
        self.source_vocab_size = int(source_vocab_size)
        self.target_vocab_size = int(target_vocab_size)
        self.null = self.source_vocab_size  # the empty source word: an id after the vocabulary
        self.iterations = int(iterations)

    def _chunks(self, source, source_offsets, target, target_offsets):
        pairs = len(source_offsets) - 1
        for start in range(0, pairs, CHUNK_PAIRS):
            stop = min(start + CHUNK_PAIRS, pairs)
            s0, s1 = source_offsets[start], source_offsets[stop]
            t0, t1 = target_offsets[start], target_offsets[stop]
            yield alignment_links(
                source[s0:s1],
                source_offsets[start : stop + 1] - s0,
                target[t0:t1],
                target_offsets[start : stop + 1] - t0,
                self.null,
                self.target_vocab_size,
            )

    def fit(
        self,
        source: np.ndarray,
        source_offsets: np.ndarray,
        target: np.ndarray,
        target_offsets: np.ndarray,
    ) -> WordTranslationTable:
        """EM on sentence pairs given as flat ids with ``(N + 1,)`` offsets per side."""
        source_offsets = np.asarray(source_offsets, dtype=np.int64)
        target_offsets = np.asarray(target_offsets, dtype=np.int64)
        if len(source_offsets) != len(target_offsets):
            raise ValueError(
                f"target: expected {len(source_offsets) - 1} sentences, one per source "
                f"sentence, got {len(target_offsets) - 1}"
            )
        if not len(target):
            raise ValueError("target: the training pairs hold no target word")
        arrays = (source, source_offsets, target, target_offsets)
        table = np.zeros(0, dtype=np.int64)
        for codes, _ in self._chunks(*arrays):
            table = np.union1d(table, codes)
        probability = np.ones(len(table))  # uniform: every link of a token weighs the same
        table_source = table // self.target_vocab_size
        for _ in range(self.iterations):
            expected = np.zeros(len(table))
            for codes, first in self._chunks(*arrays):
                if not len(codes):
                    continue
                where = np.searchsorted(table, codes)
                weight = probability[where]
                total = np.add.reduceat(weight, first[:-1])
                share = weight / np.repeat(total, np.diff(first))
                expected += np.bincount(where, weights=share, minlength=len(table))
            per_source = np.bincount(table_source, weights=expected)
            probability = expected / per_source[table_source]
        self.codes, self.probability = table, probability
        best = np.full(self.source_vocab_size, -1, dtype=np.int64)
        real = table_source < self.null
        # Most probable target per source word: the last of each source's rows sorted by p.
        order = np.lexsort((probability[real], table_source[real]))
        words = table_source[real][order]
        last = np.flatnonzero(np.append(words[1:] != words[:-1], True))
        best[words[last]] = (table[real][order] % self.target_vocab_size)[last]
        self.best = best
        self._tables: dict[torch.device, Tensor] = {}
        return self

    def probability_of(self, source_word: int, target_word: int) -> float:
        """``t(target_word | source_word)`` (0 for a pair never seen together)."""
        code = source_word * self.target_vocab_size + target_word
        where = np.searchsorted(self.codes, code)
        found = where < len(self.codes) and self.codes[where] == code
        return float(self.probability[where]) if found else 0.0

    def translate(self, source: Tensor, lengths: Tensor, pad_index: int) -> Tensor:
        """``(N, L)`` target ids of padded source ids ``(N, L)`` of ``lengths (N,)``: each
        source word's most probable target word, in place; ``pad_index`` past each length and
        where a source word has none (the target vocabulary's decoding drops them)."""
        if source.device not in self._tables:
            self._tables[source.device] = torch.as_tensor(self.best, device=source.device)
        words = self._tables[source.device][source.long()]
        steps = torch.arange(source.shape[1], device=source.device)
        inside = steps[None, :] < lengths.to(source.device)[:, None]
        return torch.where(inside & (words >= 0), words, pad_index)
