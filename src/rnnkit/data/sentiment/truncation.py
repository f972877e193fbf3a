"""Truncation of long token sequences: which ``max_length`` tokens a long document keeps.

* ``head``: the first ``max_length`` tokens;
* ``tail``: the last ``max_length`` tokens;
* ``head_tail``: a quarter of the budget from the start and the rest from the end: the first
  ``(max_length + 2) // 4`` tokens (a quarter, rounded) and the last ``max_length`` less those
  (Sun et al., 2019, "How to Fine-Tune BERT for Text Classification?": 128 + 382 of 510
  tokens was their best policy on IMDB; a review's opening and its verdict both survive).

A sequence of at most ``max_length`` tokens is kept whole whatever the policy.
"""

from __future__ import annotations

from typing import Any

import numpy as np

TRUNCATIONS = ("head", "tail", "head_tail")


def check_truncation(
    max_length: Any, truncation: Any, key: str = "max_length"
) -> tuple[int | None, str]:
    """``(max_length, truncation)`` checked: a positive integer or None, and one of
    :data:`TRUNCATIONS`; a ValueError naming the setting (``key`` for ``max_length``)
    otherwise."""
    if max_length is not None and (
        isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 1
    ):
        raise ValueError(f"{key}: expected a positive integer or null, got {max_length!r}")
    if truncation not in TRUNCATIONS:
        raise ValueError(
            f"truncation: expected one of {', '.join(TRUNCATIONS)}, got {truncation!r}"
        )
    if truncation == "head_tail" and max_length is not None and max_length < 4:
        raise ValueError(
            f"{key}: head_tail truncation keeps a quarter from the start, so expected "
            f"at least 4, got {max_length!r}"
        )
    return max_length, truncation


def truncate(tokens: Any, max_length: int | None, truncation: str = "head") -> Any:
    """The tokens ``tokens`` (a list or 1-D array) keeps under ``max_length`` and
    ``truncation`` (None: all of them), of the same type."""
    if max_length is None or len(tokens) <= max_length:
        return tokens
    if truncation == "head":
        return tokens[:max_length]
    if truncation == "tail":
        return tokens[len(tokens) - max_length :]
    head = (max_length + 2) // 4
    tail = tokens[len(tokens) - (max_length - head) :]
    if isinstance(tokens, np.ndarray):
        return np.concatenate([tokens[:head], tail])
    return list(tokens[:head]) + list(tail)


def truncated_lengths(lengths: np.ndarray, max_length: int | None) -> np.ndarray:
    """``(N,)`` lengths after truncation to ``max_length`` (None: unchanged)."""
    return lengths if max_length is None else np.minimum(lengths, max_length)
