"""A split's field as flat arrays, whatever holds the split: what baselines are fitted from."""

from __future__ import annotations

from typing import Any

import numpy as np
from torch.utils.data import Subset

from rnnkit.data.io.streamed_split import StreamedSplit


def field_arrays(split: Any, field: str, ragged: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """``(values, offsets)`` of ``field`` over a split: the flat values and ``(N + 1,)`` int64
    starts of each example's values (for a field of one value per example, ``ragged=False``,
    ``offsets`` is ``arange(N + 1)``).

    A prepared :class:`~rnnkit.data.io.prepared_cache.MappedSplit` (or anything with its
    ``values(field)`` / ``offsets(field)``) gives its memory-mapped arrays as they are, so no
    example is read one by one (a :class:`~torch.utils.data.Subset` of one, its examples'
    values gathered); a list of encoded examples (built-in data held in memory) is
    concatenated once. A streamed split holds no whole array and is refused.
    """
    if isinstance(split, Subset):  # some examples of a split: theirs, in the subset's order
        values, offsets = field_arrays(split.dataset, field, ragged)
        chosen = np.asarray(split.indices, dtype=np.int64)
        lengths = np.diff(offsets)[chosen]
        kept = np.zeros(len(chosen) + 1, dtype=np.int64)
        np.cumsum(lengths, out=kept[1:])
        positions = np.repeat(offsets[chosen] - kept[:-1], lengths) + np.arange(kept[-1])
        return np.asarray(values)[positions], kept
    if isinstance(split, StreamedSplit):  # its shards are read as batches are made
        raise ValueError(
            f"field {field!r}: the split streams from {split.export.url}; no process holds "
            "its whole arrays"
        )
    if hasattr(split, "values") and callable(split.values):
        values = split.values(field)
        offsets = split.offsets(field) if ragged else np.arange(len(values) + 1, dtype=np.int64)
        return values, np.asarray(offsets, dtype=np.int64)
    parts = [np.asarray(example[field]).reshape(-1) for example in split]
    lengths = np.fromiter(map(len, parts), dtype=np.int64, count=len(parts))
    if not ragged and (lengths != 1).any():
        raise ValueError(f"field {field!r}: expected one value per example")
    offsets = np.zeros(len(parts) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    values = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
    return values, offsets


def example_index(offsets: np.ndarray) -> np.ndarray:
    """``(total,)`` int64: for each flat value, the index of the example it belongs to."""
    lengths = np.diff(np.asarray(offsets, dtype=np.int64))
    return np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)
