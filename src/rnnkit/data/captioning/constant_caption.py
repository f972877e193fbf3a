"""The order-blind captioning baseline: the one caption that, given to every image, scores best.

Corpus BLEU of a constant candidate ``c`` over examples with references ``R_i`` is computed
exactly from per-example n-gram counts (clipped counts as sacreBLEU and
``torchmetrics.text.BLEUScore`` clip them, the closest reference length for the brevity
penalty), in time linear in the candidate's n-grams: for each n-gram ``g`` of the references
we keep ``at_least[g][k]``, the number of examples whose references hold ``g`` at least ``k``
times, so ``sum_i min(count_c(g), max_r count_{R_i,r}(g)) = sum_{k <= count_c(g)} at_least[g][k]``.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence

Caption = Sequence[str]


def ngrams(tokens: Caption, order: int) -> Counter:
    """Counts of the ``order``-grams of ``tokens``."""
    return Counter(tuple(tokens[i : i + order]) for i in range(len(tokens) - order + 1))


class ConstantCaptionScorer:
    """Corpus BLEU of one caption given to every example.

    Args:
        references: per example, its reference captions (token lists), at least one each.
        max_order: highest n-gram order of BLEU.
    """

    def __init__(self, references: Sequence[Sequence[Caption]], max_order: int = 4) -> None:
        if not references or any(not refs for refs in references):
            raise ValueError("references: expected at least one reference caption per example")
        self.max_order = max_order
        self.num_examples = len(references)
        self.at_least: dict[tuple[str, ...], list[int]] = defaultdict(lambda: [0])
        for refs in references:
            clipped: Counter = Counter()
            for ref in refs:
                for order in range(1, max_order + 1):
                    clipped |= ngrams(ref, order)  # max over the references
            for gram, count in clipped.items():
                table = self.at_least[gram]
                table.extend([0] * (count + 1 - len(table)))
                for k in range(1, count + 1):
                    table[k] += 1
        self.reference_lengths = [[len(ref) for ref in refs] for refs in references]
        self._closest: dict[int, int] = {}

    def closest_reference_length(self, length: int) -> int:
        """Sum over examples of the reference length closest to ``length`` (first on ties)."""
        if length not in self._closest:
            self._closest[length] = sum(
                min(lengths, key=lambda r: abs(r - length)) for lengths in self.reference_lengths
            )
        return self._closest[length]

    def precisions(self, candidate: Caption) -> list[tuple[int, int]]:
        """Per order ``1..max_order``: (clipped matches, candidate n-grams) over the corpus."""
        result = []
        for order in range(1, self.max_order + 1):
            matches = 0
            for gram, count in ngrams(candidate, order).items():
                table = self.at_least.get(gram)
                if table is not None:
                    matches += sum(table[1 : count + 1])
            total = max(len(candidate) - order + 1, 0) * self.num_examples
            result.append((matches, total))
        return result

    def bleu(self, candidate: Caption, order: int | None = None) -> float:
        """Corpus BLEU-``order`` (default ``max_order``) of ``candidate`` for every example."""
        order = self.max_order if order is None else order
        if not candidate:
            return 0.0
        counts = self.precisions(candidate)[:order]
        if any(matches == 0 for matches, _ in counts):
            return 0.0
        log_precision = sum(math.log(m / t) for m, t in counts) / order
        candidate_length = len(candidate) * self.num_examples
        reference_length = self.closest_reference_length(len(candidate))
        brevity = min(0.0, 1.0 - reference_length / candidate_length)
        return math.exp(log_precision + brevity)

    def key(self, candidate: Caption) -> tuple[float, ...]:
        """Rank: BLEU-max_order first, lower orders break ties (e.g. when all are 0)."""
        return tuple(self.bleu(candidate, n) for n in range(self.max_order, 0, -1))


def best_constant_caption(
    references: Sequence[Sequence[Caption]],
    max_order: int = 4,
    max_length: int | None = None,
    num_frequent: int = 200,
    beam_size: int = 5,
    num_words: int | None = 300,
    patience: int = 3,
) -> list[str]:
    """The caption that maximises corpus BLEU-``max_order`` when given for every example.

    Candidates: the ``num_frequent`` most frequent reference captions, and captions built by a
    beam search that appends one of the ``num_words`` most frequent reference words at a time
    (None: every word; a word few examples use adds few matches) for up to ``max_length`` words
    (by default one more than the longest reference), stopping once the best caption has not
    improved for ``patience`` words. Ties at BLEU 0 are broken by the lower orders.
    """
    scorer = ConstantCaptionScorer(references, max_order)
    frequency = Counter(tuple(ref) for refs in references for ref in refs)
    word_counts = Counter(word for refs in references for ref in refs for word in ref)
    words = sorted(word for word, _ in word_counts.most_common(num_words))
    candidates = {caption for caption, _ in frequency.most_common(num_frequent) if caption}
    if max_length is None:
        max_length = 1 + max(len(ref) for refs in references for ref in refs)

    def rank(caption: tuple[str, ...]) -> tuple:
        return (scorer.key(caption), caption)

    beam: list[tuple[str, ...]] = [()]
    best_score, stale = None, 0
    for _ in range(max_length):
        extended = {caption + (word,) for caption in beam for word in words}
        beam = sorted(extended, key=rank, reverse=True)[:beam_size]
        candidates.update(beam)
        score = scorer.key(beam[0])
        if best_score is not None and score <= best_score:
            stale += 1
            if stale >= patience:
                break
        else:
            best_score, stale = score, 0
    return list(max(candidates, key=rank))
