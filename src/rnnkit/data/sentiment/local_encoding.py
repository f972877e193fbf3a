"""Training texts encoded while their vocabulary is still being counted.

Preparing a split twice (count the tokens, then look each up in the vocabulary) splits every
text twice. Instead, a preparation worker gives each chunk of texts its own small vocabulary
(its distinct words in order of appearance): the chunk's tokens become ids into it, and their
counts are one ``bincount``. The main process adds up the counts, spills the chunk's ids to a
temporary file (:class:`SpilledChunks`), and once the real vocabulary is fitted turns each
chunk's ids into vocabulary ids with one table lookup per distinct word (:meth:`remap`).
"""

from __future__ import annotations

import os
import pickle
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np

BOUNDARY = "\x00"
"""Joins a chunk's texts (as a token of its own) so that one ``split`` gives every text's
tokens and where each text ends."""


@dataclass
class LocalEncoding:
    """One chunk of texts encoded against its own vocabulary.

    Attributes:
        words: the chunk's distinct words, in order of first appearance (local id = index).
        counts: ``(len(words),)`` int64, how often each word occurs.
        ids: ``(tokens,)`` uint32 local ids of every token, text after text.
        lengths: ``(texts,)`` int64 tokens per text.
        labels: the chunk's distinct labels; ``label_codes``: ``(texts,)`` int64 indices into it.
    """

    words: list[str]
    counts: np.ndarray
    ids: np.ndarray
    lengths: np.ndarray
    labels: list[Any]
    label_codes: np.ndarray

    def remap(self, lookup: Mapping[str, int]) -> tuple[np.ndarray, str | None]:
        """``(ids, unknown)``: int64 vocabulary ids of the tokens (``lookup[word]``, -1 for a
        word it lacks) and the first token that is not in it (None: none)."""
        table = np.fromiter(map(lookup.__getitem__, self.words), np.int64, len(self.words))
        ids = table[self.ids]
        missing = np.flatnonzero(ids < 0)
        return ids, self.words[self.ids[missing[0]]] if missing.size else None


def encode_locally(texts: list[str], labels: list[Any], lowercase: bool) -> LocalEncoding:
    """The whitespace tokens of ``texts`` (lower-cased when ``lowercase``) as a
    :class:`LocalEncoding`: split all at once around :data:`BOUNDARY` tokens (one by one when a
    text holds that character itself)."""
    joined = f" {BOUNDARY} ".join(texts)
    bounded = bool(texts) and joined.count(BOUNDARY) == len(texts) - 1
    if bounded:
        tokens = (joined.lower() if lowercase else joined).split()
    else:
        split = [(text.lower() if lowercase else text).split() for text in texts]
        lengths = np.fromiter(map(len, split), np.int64, len(split))
        tokens = list(chain.from_iterable(split))
    index = dict.fromkeys(tokens)
    for number, word in enumerate(index):
        index[word] = number
    ids = np.fromiter(map(index.__getitem__, tokens), np.int64, len(tokens))
    counts = np.bincount(ids, minlength=len(index))
    words = list(index)
    boundary = index.get(BOUNDARY) if bounded else None
    if bounded:  # the texts' ends: where the boundary word is
        marks = np.flatnonzero(ids == boundary) if boundary is not None else ids[:0]
        lengths = np.diff(marks, prepend=-1, append=len(ids)) - 1
    if boundary is not None:  # and it is no word of theirs
        ids = np.delete(ids, marks)
        ids -= ids > boundary
        del words[boundary]
        counts = np.delete(counts, boundary)
    label_index = {label: number for number, label in enumerate(dict.fromkeys(labels))}
    label_codes = np.fromiter(map(label_index.__getitem__, labels), np.int64, len(labels))
    return LocalEncoding(
        words,
        counts,
        ids.astype(np.uint32),
        lengths.astype(np.int64),
        list(label_index),
        label_codes,
    )


class SpilledChunks:
    """:class:`LocalEncoding` chunks kept in an anonymous temporary file until they are read
    back once, in order (memory: one chunk)."""

    def __init__(self, folder: str | os.PathLike | None = None) -> None:
        if folder is not None:
            Path(folder).mkdir(parents=True, exist_ok=True)
        self._file = tempfile.TemporaryFile(dir=folder)  # noqa: SIM115 (closed by replay)
        self.chunks = 0

    def add(self, chunk: LocalEncoding) -> None:
        pickle.dump(chunk, self._file, protocol=pickle.HIGHEST_PROTOCOL)
        self.chunks += 1

    def replay(self) -> Iterator[LocalEncoding]:
        """The chunks in the order added; the file is closed after the last."""
        self._file.seek(0)
        try:
            for _ in range(self.chunks):
                yield pickle.load(self._file)
        finally:
            self._file.close()
