"""The classical baseline of tagging: each word's most frequent tag in the training split.

Counted from the training split's flat arrays of word ids and tag ids (one ``np.bincount``, no
per-sentence Python). A word gets the tag it carried most often in training (ties: the lower
tag id). A word never seen with a tag there, such as ``<unk>`` when every training word is in
the vocabulary, gets the tag of unknown words: the most frequent tag of the training tokens
that were ``<unk>`` themselves (the words rarer than ``min_frequency``, which behave like
unseen words), or, when no training token was ``<unk>``, the most frequent tag overall.
Prediction is one table lookup per token (:meth:`MajorityTagger.predict`, in torch).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor


class MajorityTagger:
    """Per-word majority tags: ``table`` is ``(V,)`` int64, the tag of each word id."""

    def __init__(self, vocab_size: int, num_tags: int, unknown_index: int) -> None:
        self.vocab_size = int(vocab_size)
        self.num_tags = int(num_tags)
        self.unknown_index = int(unknown_index)

    def fit(self, tokens: np.ndarray, tags: np.ndarray) -> MajorityTagger:
        """Count ``tokens`` (word ids) against ``tags`` (tag ids), token by token."""
        tokens = np.asarray(tokens, dtype=np.int64)
        tags = np.asarray(tags, dtype=np.int64)
        if tokens.shape != tags.shape:
            raise ValueError(f"tags: expected one per token ({len(tokens)}), got {len(tags)}")
        if not len(tokens):
            raise ValueError("tokens: the training split holds no tagged token")
        counts = np.bincount(
            tokens * self.num_tags + tags, minlength=self.vocab_size * self.num_tags
        ).reshape(self.vocab_size, self.num_tags)
        unknown = counts[self.unknown_index]
        self.unknown_tag = int((unknown if unknown.any() else counts.sum(0)).argmax())
        table = counts.argmax(1)
        table[~counts.any(1)] = self.unknown_tag
        self.table = table
        self._tables: dict[torch.device, Tensor] = {}
        return self

    def predict(self, tokens: Tensor) -> Tensor:
        """``(N, L)`` int64 tag ids of word ids ``tokens (N, L)``."""
        if tokens.device not in self._tables:
            self._tables[tokens.device] = torch.as_tensor(self.table, device=tokens.device)
        return self._tables[tokens.device][tokens.long()]
