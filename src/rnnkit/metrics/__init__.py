"""Metrics accumulated over a whole split (torchmetrics), one concept per file.

* :mod:`~rnnkit.metrics.entity_f1`: entity-level F1 over BIO/IOB1/BIOES tags, as seqeval.
* :mod:`~rnnkit.metrics.perplexity`: mean token NLL, perplexity, bits per token.
* :mod:`~rnnkit.metrics.bleu`: sacreBLEU's corpus BLEU (translation) and BLEU-1..4
  (captioning).
"""

from rnnkit.metrics.bleu import CorpusBLEU, bleu_by_order
from rnnkit.metrics.entity_f1 import EntityF1
from rnnkit.metrics.perplexity import BitsPerToken, TokenNLL, TokenPerplexity

__all__ = [
    "BitsPerToken",
    "CorpusBLEU",
    "EntityF1",
    "TokenNLL",
    "TokenPerplexity",
    "bleu_by_order",
]
