"""Embedding dropout: drop whole words, i.e. rows of the embedding matrix (Gal & Ghahramani
2016; AWD-LSTM's ``dropoute``).

Each forward pass in training draws one keep/drop decision per vocabulary entry: a dropped
word's vector is zero wherever it occurs in the batch, and kept rows are scaled by
``1 / (1 - p)``. Unlike dropout on the embedded vectors, the model cannot lean on seeing some
coordinates of a word: the word is gone, all its occurrences at once.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


def embedding_dropout(embedding: nn.Embedding, tokens: Tensor, p: float) -> Tensor:
    """``embedding(tokens)`` with whole rows of ``embedding.weight`` dropped with probability
    ``p`` (one mask ``(V, 1)`` per call) and the kept rows scaled by ``1 / (1 - p)``.

    Call it in training only (it always drops); gradients reach the kept rows of the weight.

    Shapes: ``tokens (*)`` long ids -> ``(*, E)``.
    """
    weight = embedding.weight
    if p == 0:
        return embedding(tokens)
    keep = weight.new_empty(weight.shape[0], 1).bernoulli_(1 - p) / (1 - p)
    return F.embedding(
        tokens,
        weight * keep,
        embedding.padding_idx,
        embedding.max_norm,
        embedding.norm_type,
        embedding.scale_grad_by_freq,
        embedding.sparse,
    )
