"""Decoding CTC outputs: best path (greedy) and prefix beam search.

A CTC output is a distribution over ``C`` labels (one of them the blank) at every one of ``T``
steps. A *path* picks one label per step; it *collapses* to a labelling by merging runs of
the same label and then dropping blanks (``a a - a b`` -> ``a a b``). The probability of a
labelling is the sum over every path that collapses to it (Graves et al. 2006).

- :func:`ctc_greedy_decode` collapses the single most probable path (argmax per step): fast,
  and usually what a well-trained model needs.
- :func:`ctc_prefix_beam_search` keeps the ``beam_size`` most probable labelling prefixes,
  each with its probability split into paths ending in a blank and in a label, so that the
  probability of a labelling sums over all its paths. With a beam wide enough to keep every
  prefix it is exact: it returns the most probable labelling. Given a :class:`CTCLexicon`, it
  only grows prefixes that spell its words, separated by one separator label (a space): the
  spelling slips a character model makes ("eigt") cannot come out.

Both take ``log_probs (N, T, C)`` (log-softmax outputs) and ``lengths (N,)`` and return one
list of label indices per sequence, blanks removed.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Sequence
from typing import NamedTuple

import torch
from torch import Tensor

NEG_INF = float("-inf")


class CTCHypothesis(NamedTuple):
    """One decoded labelling: ``labels`` (blank-free label indices) and its ``log_prob``."""

    labels: list[int]
    log_prob: float


class CTCLexicon:
    """The words a beam search may spell: each a sequence of labels, words separated by one
    ``separator`` label (a space), none before the first or after the last.

    Args:
        words: the words, as label sequences (e.g. the training transcripts' words).
        separator: the label between words.
    """

    def __init__(self, words: Iterable[Sequence[int]], separator: int) -> None:
        self.words = {tuple(int(label) for label in word) for word in words}
        self.words.discard(())
        if not self.words:
            raise ValueError("lexicon: expected at least one non-empty word")
        if any(separator in word for word in self.words):
            raise ValueError(f"lexicon: a word contains the separator label {separator}")
        self.separator = int(separator)
        self.prefixes = {word[:end] for word in self.words for end in range(len(word) + 1)}

    def last_word(self, labels: tuple[int, ...]) -> tuple[int, ...]:
        """The labels after the last separator (the word being spelled)."""
        for position in range(len(labels) - 1, -1, -1):
            if labels[position] == self.separator:
                return labels[position + 1 :]
        return labels

    def allows(self, labels: tuple[int, ...], label: int) -> bool:
        """Whether ``labels`` may grow by ``label``: a separator ends a whole word, any other
        label continues the spelling of some word."""
        word = self.last_word(labels)
        if label == self.separator:
            return word in self.words
        return (*word, label) in self.prefixes

    def whole_words(self, labels: tuple[int, ...]) -> tuple[int, ...]:
        """``labels`` without the word being spelled (and the separator before it)."""
        if self.complete(labels):
            return labels
        cut = len(labels) - len(self.last_word(labels))
        return labels[: max(cut - 1, 0)]

    def complete(self, labels: tuple[int, ...]) -> bool:
        """Whether ``labels`` is nothing or whole words separated by single separators."""
        return not labels or self.last_word(labels) in self.words


def collapse(path: list[int], blank: int = 0) -> list[int]:
    """Merge runs of the same label, then drop blanks: ``[1, 1, 0, 1, 2] -> [1, 1, 2]``."""
    labels = []
    previous = None
    for label in path:
        if label != previous and label != blank:
            labels.append(label)
        previous = label
    return labels


def _check(log_probs: Tensor, lengths: Tensor | None, blank: int) -> Tensor:
    if not isinstance(log_probs, Tensor) or log_probs.dim() != 3:
        shape = tuple(log_probs.shape) if isinstance(log_probs, Tensor) else type(log_probs)
        raise ValueError(f"log_probs: expected shape (N, T, C), got {shape}")
    batch, steps, labels = log_probs.shape
    if not 0 <= blank < labels:
        raise ValueError(f"blank: expected an index in [0, {labels}), got {blank}")
    if lengths is None:
        return torch.full((batch,), steps, dtype=torch.long)
    lengths = torch.as_tensor(lengths).reshape(-1).long().cpu()
    if lengths.numel() != batch or bool((lengths < 0).any()) or bool((lengths > steps).any()):
        raise ValueError(
            f"lengths: expected {batch} values in [0, {steps}], got {lengths.tolist()}"
        )
    return lengths


def ctc_greedy_decode(
    log_probs: Tensor, lengths: Tensor | None = None, blank: int = 0
) -> list[CTCHypothesis]:
    """Collapse the most probable path of each sequence.

    Args:
        log_probs: ``(N, T, C)`` log-probabilities (any scores: only the argmax is used).
        lengths: ``(N,)`` real steps per sequence; None: all ``T``.
        blank: index of the blank label.

    Returns:
        ``N`` hypotheses; ``log_prob`` is the best path's log-probability (not the labelling's).
    """
    lengths = _check(log_probs, lengths, blank)
    best, indices = log_probs.detach().max(dim=-1)
    hypotheses = []
    for row in range(log_probs.shape[0]):
        length = int(lengths[row])
        path = indices[row, :length].tolist()
        score = float(best[row, :length].sum()) if length else 0.0
        hypotheses.append(CTCHypothesis(collapse(path, blank), score))
    return hypotheses


def _logaddexp(a: float, b: float) -> float:
    if a == NEG_INF:
        return b
    if b == NEG_INF:
        return a
    high, low = (a, b) if a > b else (b, a)
    return high + math.log1p(math.exp(low - high))


def ctc_prefix_beam_search(
    log_probs: Tensor,
    lengths: Tensor | None = None,
    beam_size: int = 8,
    blank: int = 0,
    min_label_prob: float = 0.0,
    lexicon: CTCLexicon | None = None,
) -> list[CTCHypothesis]:
    """The most probable labelling of each sequence among the prefixes a beam keeps.

    Every prefix carries two log-probabilities: of the paths so far that collapse to it and
    end in a blank (``p_b``), and that end in its last label (``p_nb``). At each step a prefix
    stays itself through a blank or a repeat of its last label, and grows by a label; a repeat
    of the last label grows it only from ``p_b`` (a blank must separate doubled letters). The
    ``beam_size`` prefixes of highest ``p_b + p_nb`` survive each step.

    Args:
        log_probs: ``(N, T, C)`` log-softmax outputs.
        lengths: ``(N,)`` real steps per sequence; None: all ``T``.
        beam_size: prefixes kept per step; 1 is close to, but not the same as, greedy (it
            sums the paths of each prefix).
        blank: index of the blank label.
        min_label_prob: labels below this probability at a step are not tried there (0: try
            every label; e.g. 1e-3 makes long outputs much faster and changes little).
        lexicon: when given, prefixes grow only into its words (:class:`CTCLexicon`), and the
            best prefix that ends on a whole word is returned; when none kept does, the best
            prefix cut back to its whole words (``log_prob`` then the uncut prefix's).

    Returns:
        ``N`` hypotheses, ``log_prob`` being the labelling's log-probability summed over the
        paths the beam kept (exact when no prefix was pruned).
    """
    if isinstance(beam_size, bool) or not isinstance(beam_size, int) or beam_size < 1:
        raise ValueError(f"beam_size: expected a positive integer, got {beam_size!r}")
    if not 0.0 <= min_label_prob < 1.0:
        raise ValueError(f"min_label_prob: expected a probability in [0, 1), got {min_label_prob}")
    lengths = _check(log_probs, lengths, blank)
    scores = log_probs.detach().double().cpu()
    threshold = math.log(min_label_prob) if min_label_prob > 0 else NEG_INF
    hypotheses = []
    for row in range(scores.shape[0]):
        hypotheses.append(
            _search(scores[row, : int(lengths[row])].tolist(), beam_size, blank, threshold, lexicon)
        )
    return hypotheses


def _entry(grown: dict[tuple[int, ...], list[float]], prefix: tuple[int, ...]) -> list[float]:
    """``[p_b, p_nb]`` of ``prefix`` at the next step (both -inf when new)."""
    return grown.setdefault(prefix, [NEG_INF, NEG_INF])


def _search(
    steps: list[list[float]],
    beam_size: int,
    blank: int,
    threshold: float,
    lexicon: CTCLexicon | None = None,
) -> CTCHypothesis:
    """Prefix beam search over one sequence's ``steps`` (T lists of C log-probabilities)."""
    beams: dict[tuple[int, ...], tuple[float, float]] = {(): (0.0, NEG_INF)}
    for step in steps:
        candidates = [c for c, p in enumerate(step) if c != blank and p >= threshold]
        grown: dict[tuple[int, ...], list[float]] = {}
        entry = functools.partial(_entry, grown)
        for prefix, (p_blank, p_label) in beams.items():
            total = _logaddexp(p_blank, p_label)
            same = entry(prefix)
            same[0] = _logaddexp(same[0], total + step[blank])
            last = prefix[-1] if prefix else None
            for label in candidates:
                p = step[label]
                if label == last:  # the repeat stays in the prefix without a blank between
                    same[1] = _logaddexp(same[1], p_label + p)
                if lexicon is not None and not lexicon.allows(prefix, label):
                    continue
                longer = entry((*prefix, label))
                # a doubled letter grows the prefix only from paths ending in a blank
                longer[1] = _logaddexp(longer[1], (p_blank if label == last else total) + p)
        ranked = sorted(grown.items(), key=lambda item: -_logaddexp(*item[1]))[:beam_size]
        beams = {prefix: (p[0], p[1]) for prefix, p in ranked}
    finished = beams
    if lexicon is not None:
        finished = {prefix: p for prefix, p in beams.items() if lexicon.complete(prefix)}
    if not finished:  # every kept prefix ends inside a word: the best, cut to its whole words
        prefix, p = max(beams.items(), key=lambda item: _logaddexp(*item[1]))
        return CTCHypothesis(list(lexicon.whole_words(prefix)), _logaddexp(*p))
    prefix, (p_blank, p_label) = max(finished.items(), key=lambda item: _logaddexp(*item[1]))
    return CTCHypothesis(list(prefix), _logaddexp(p_blank, p_label))
