"""One side of a sentence pair as token ids and back: tokenised, looked up, kept exact.

:class:`SideEncoder` turns a side's text (or its tokens) into ids of a vocabulary. A token
outside the vocabulary becomes ``<unk>``; its string is kept in the example's ``unknown``
bytes (:func:`unknown_bytes`), so :func:`token_strings` rebuilds the exact tokens from the
ids (the references BLEU compares with, the source words a sample shows). With a word-separable
tokenizer (:attr:`~rnnkit.data.io.tokenizers.Tokenizer.word_separable`) each distinct word is
tokenised and looked up once; :func:`count_tokens` counts the training tokens the same way.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from itertools import chain
from typing import Any

import numpy as np
import torch

from rnnkit.data.io.tokenizers import Tokenizer
from rnnkit.data.io.vocabulary import UNK, Vocabulary

UNKNOWN_END = b"\xff"
"""Ends each token in an encoded example's ``unknown`` bytes (never a byte of UTF-8 text)."""
SIDE_END = b"\xfe"
"""Ends the source side's tokens in ``unknown`` (never a byte of UTF-8 text either)."""


def check_text(value: Any, side: str, where: str) -> None:
    """A ValueError naming ``side`` and ``where`` unless ``value`` is a string or a list of
    token strings."""
    if isinstance(value, str):
        return
    if isinstance(value, (list, tuple)) and all(isinstance(t, str) for t in value):
        return
    raise ValueError(
        f"{side}: expected a string or a list of tokens in {where}, got {type(value).__name__}"
    )


def tokens_of(value: Any, tokenizer: Tokenizer, lowercase: bool, side: str, where: str) -> list:
    """A side's tokens: a string lower-cased (``lowercase``) and tokenised, or a list of tokens
    as it is; an empty result is a ValueError naming ``side`` and ``where``."""
    check_text(value, side, where)
    if isinstance(value, str):
        tokens = tokenizer.tokenize(value.lower() if lowercase else value)
    else:
        tokens = list(value)
    if not tokens:
        raise ValueError(f"{side}: empty {side} sentence in {where}")
    return tokens


def count_tokens(tokenizer: Tokenizer, texts: list[str], lowercase: bool) -> Counter:
    """Token counts of ``texts`` (lower-cased first with ``lowercase``), as if each were
    tokenised: with a word-separable tokenizer, the words of all texts are counted at once and
    each distinct word is tokenised once, its tokens counted as often as it occurs."""
    if not tokenizer.word_separable:
        cased = (text.lower() if lowercase else text for text in texts)
        return Counter(chain.from_iterable(map(tokenizer.tokenize, cased)))
    text = "\n".join(texts)
    counts: Counter = Counter()
    for word, times in Counter((text.lower() if lowercase else text).split()).items():
        for token in tokenizer.tokenize(word):
            counts[token] += times
    return counts


def unknown_side(tokens: list[str], ids: Iterable[int], unknown_id: int | None) -> bytes:
    """The UTF-8 of each token encoded as ``<unk>`` (``unknown_id``: unseen in training, or
    ``<unk>`` itself), each ended by :data:`UNKNOWN_END`; empty when there is none."""
    if unknown_id is None or unknown_id not in ids:
        return b""
    return b"".join(
        token.encode("utf-8") + UNKNOWN_END for token, i in zip(tokens, ids) if i == unknown_id
    )


def unknown_bytes(source: bytes, target: bytes | None = None) -> bytes:
    """An example's ``unknown`` bytes from each side's :func:`unknown_side`: the source part,
    :data:`SIDE_END`, the target part; empty when both are (most examples)."""
    if not source and not target:
        return b""
    return source if target is None else source + SIDE_END + target


def split_unknown(unknown: Any) -> tuple[bytes, bytes]:
    """The source and target parts of an example's ``unknown`` (bytes or a uint8 array)."""
    parts = bytes(unknown).split(SIDE_END)
    return parts[0], parts[1] if len(parts) > 1 else b""


def token_strings(vocab: Vocabulary, ids: Any, unknown: bytes) -> list[str]:
    """The tokens of an encoded side: ``ids`` (a list or 1-D array) through ``vocab``, each
    ``<unk>`` replaced by the next token of ``unknown`` (that side's :func:`unknown_side`)."""
    ids = ids.tolist() if isinstance(ids, np.ndarray) else ids
    tokens = vocab.tokens
    if not unknown:
        return [tokens[i] for i in ids]
    originals = iter(unknown.split(UNKNOWN_END))
    unknown_id = vocab.index[UNK]
    return [next(originals).decode("utf-8") if i == unknown_id else tokens[i] for i in ids]


def shifted_targets(
    targets: list[Any], bos: int, eos: int, pad: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``<bos> y`` and ``y <eos>`` of each target id sequence, padded into ``(N, T)`` long
    tensors (``T`` = longest ``len(y) + 1``), and the ``(N,)`` lengths ``len(y) + 1``."""
    lengths = np.fromiter((len(t) + 1 for t in targets), dtype=np.int64, count=len(targets))
    width = int(lengths.max())
    inputs = np.full((len(targets), width), pad, dtype=np.int64)
    outputs = np.full((len(targets), width), pad, dtype=np.int64)
    inputs[:, 0] = bos
    for row, target in enumerate(targets):
        size = len(target)
        inputs[row, 1 : size + 1] = target
        outputs[row, :size] = target
        outputs[row, size] = eos
    return torch.from_numpy(inputs), torch.from_numpy(outputs), torch.from_numpy(lengths)


class SideEncoder:
    """One side's text or tokens -> ``(ids, unseen tokens, unknown_side bytes)``.

    ``encode(value, where)`` gives what ``vocab.encode_counting(tokens_of(value, ...))`` and
    :func:`unknown_side` give. With a word-separable tokenizer a string is split into words and
    each distinct word's ids are computed once and kept (up to :attr:`cache_limit` words, then
    the cache starts afresh), so a sentence costs a split and a lookup per word.
    """

    cache_limit = 1 << 20

    def __init__(self, side: str, tokenizer: Tokenizer, vocab: Vocabulary, lowercase: bool):
        self.side = side
        self.tokenizer = tokenizer
        self.vocab = vocab
        self.lowercase = lowercase
        self.unknown_id = vocab.index.get(UNK)
        self._ids: dict[str, tuple[int, ...]] = {}
        # Words with a token encoded as <unk>: (unseen tokens, their unknown_side bytes).
        self._unknown: dict[str, tuple[int, bytes]] = {}

    def encode(self, value: Any, where: str) -> tuple[list[int], int, bytes]:
        if not (isinstance(value, str) and self.tokenizer.word_separable):
            tokens = tokens_of(value, self.tokenizer, self.lowercase, self.side, where)
            ids, unseen = self.vocab.encode_counting(tokens)
            return ids, unseen, unknown_side(tokens, ids, self.unknown_id)
        words = (value.lower() if self.lowercase else value).split()
        if not words:
            raise ValueError(f"{self.side}: empty {self.side} sentence in {where}")
        if len(self._ids) > self.cache_limit:
            self._ids.clear()
            self._unknown.clear()
        entries = list(map(self._ids.get, words))
        if None in entries:
            entries = [self._word(word) for word in words]
        ids = list(chain.from_iterable(entries))
        if self._unknown.keys().isdisjoint(words):
            return ids, 0, b""
        parts = [self._unknown[word] for word in words if word in self._unknown]
        return ids, sum(unseen for unseen, _ in parts), b"".join(part for _, part in parts)

    def _word(self, word: str) -> tuple[int, ...]:
        found = self._ids.get(word)
        if found is not None:
            return found
        tokens = self.tokenizer.tokenize(word)
        ids, unseen = self.vocab.encode_counting(tokens)
        if self.unknown_id is not None and self.unknown_id in ids:
            self._unknown[word] = (unseen, unknown_side(tokens, ids, self.unknown_id))
        self._ids[word] = found = tuple(ids)
        return found
