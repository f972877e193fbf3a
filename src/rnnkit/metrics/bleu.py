"""Corpus BLEU, as the translation and captioning tasks score their generated text.

Both compute from n-gram counts accumulated over the whole split, never from a mean of
per-batch or per-sentence scores, and both take ``update(hypotheses, references)``: one string
per hypothesis and a list of reference strings per hypothesis.

* :class:`CorpusBLEU` (translation): sacreBLEU's, on detokenised strings, 0-100.
* :func:`bleu_by_order` (captioning): ``torchmetrics.text.BLEUScore`` on space-joined tokens
  (split on spaces, no further tokenisation), one metric per n-gram order, 0-1.
"""

from __future__ import annotations

from collections.abc import Iterable

from torch import Tensor
from torchmetrics import MetricCollection
from torchmetrics.text import BLEUScore, SacreBLEUScore


class CorpusBLEU(SacreBLEUScore):
    """sacreBLEU's corpus BLEU (13a tokenisation, no smoothing) on its usual 0-100 scale.

    ``update(hypotheses, references)``: detokenised strings, one list of references per
    hypothesis. Equal to ``sacrebleu.corpus_bleu(hypotheses, [references]).score``.
    """

    def compute(self) -> Tensor:
        return super().compute() * 100.0


def bleu_by_order(orders: Iterable[int], name: str = "bleu") -> MetricCollection:
    """One corpus BLEU per maximum n-gram order ``n``, keyed ``f"{name}{n}"`` (``bleu4``: BLEU-4).

    ``update(hypotheses, references)`` updates them all: space-joined token strings, a list of
    references per hypothesis. Each computes a 0-1 scalar (uniform weights, no smoothing).
    """
    return MetricCollection({f"{name}{n}": BLEUScore(n_gram=n) for n in orders})
