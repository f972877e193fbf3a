"""Word embeddings started from pretrained vectors: ``model.embedding: {pretrained, freeze}``.

A task that embeds words declares each of its embeddings with :func:`pretrained_embedding`
while it builds its model (sentiment and tagging: ``model.embedding``; translation:
``model.source_embedding`` for the encoder and ``model.embedding`` for the decoder). When
training starts (:meth:`RecurrentTask.on_fit_start <rnnkit.tasks.base.RecurrentTask.on_fit_start>`),
never when a checkpoint is loaded or resumed, :func:`load_pretrained` reads the ``pretrained``
file for the datamodule's vocabulary (:func:`~rnnkit.data.io.word_vectors.read_word_vectors`)
and copies the rows in:

* words found (as written, or under another case) get their pretrained vector;
* words not found are drawn from a normal distribution at the pretrained values' standard
  deviation (a fresh ``nn.Embedding`` row is N(0, 1), several times larger than GloVe's);
* the padding row stays zero.

``freeze: true`` keeps the whole matrix fixed (``requires_grad=False``), unknown words'
rows included; it is set when the model is built, so a checkpoint reloads frozen too.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from rnnkit.data.io.word_vectors import WordVectors, read_word_vectors, unknown_row_scale

EMBEDDING_DEFAULTS: dict[str, Any] = {"pretrained": None, "freeze": False}
"""The keys of ``model.embedding`` (and ``model.source_embedding``) and their defaults."""

log = logging.getLogger(__name__)


@dataclass
class PretrainedEmbedding:
    """One embedding of a task and where its pretrained vectors come from.

    Attributes:
        key: its config key, e.g. ``model.embedding``.
        pretrained: the vectors file, or None (the embedding starts random).
        freeze: whether the embedding is trained.
        embedding: the ``nn.Embedding`` (its ``embedding_dim`` is the size the file must have).
        vocabulary: the datamodule attribute holding its :class:`Vocabulary`, e.g. ``vocab``.
        size_key: the config key of the embedding size, named when the file's differs.
    """

    key: str
    pretrained: str | None
    freeze: bool
    embedding: nn.Embedding
    vocabulary: str
    size_key: str


EMBEDDING_SIZES = {"embedding": "embedding_dim", "source_embedding": "source_embedding_dim"}
"""Model keys of embeddings that may be pretrained -> the key of their size."""


def embedding_size_key(model: dict[str, Any], name: str) -> str:
    """The config key of embedding ``name``'s size: ``model.source_embedding_dim`` for the
    encoder's when it is set, else ``model.embedding_dim``."""
    size_name = EMBEDDING_SIZES[name]
    return f"model.{size_name if model.get(size_name) is not None else 'embedding_dim'}"


def embedding_config(config: Any, key: str) -> dict[str, Any]:
    """The checked ``model.embedding``-style mapping ``config`` with defaults filled in."""
    if config is None:
        return dict(EMBEDDING_DEFAULTS)
    if not isinstance(config, dict):
        raise ValueError(
            f"{key}: expected a mapping such as {{pretrained: glove.6B.100d.txt, freeze: false}}, "
            f"got {config!r}"
        )
    unknown = sorted(set(config) - set(EMBEDDING_DEFAULTS))
    if unknown:
        raise ValueError(
            f"{key}.{unknown[0]}: unknown key; expected some of {list(EMBEDDING_DEFAULTS)}"
        )
    config = {**EMBEDDING_DEFAULTS, **config}
    pretrained = config["pretrained"]
    if pretrained is not None and (not isinstance(pretrained, str) or not pretrained.strip()):
        raise ValueError(
            f"{key}.pretrained: expected the path of a word vectors file or null, "
            f"got {pretrained!r}"
        )
    if not isinstance(config["freeze"], bool):
        raise ValueError(f"{key}.freeze: expected true or false, got {config['freeze']!r}")
    if config["freeze"] and pretrained is None:
        raise ValueError(
            f"{key}.freeze: true would keep a random embedding fixed; set "
            f"{key}.pretrained=<vectors file> or {key}.freeze=false"
        )
    return config


def pretrained_embedding(
    config: Any, key: str, embedding: nn.Embedding, vocabulary: str, size_key: str
) -> PretrainedEmbedding:
    """Check ``config`` (the ``key`` mapping), freeze ``embedding`` if it asks to, and return
    what :func:`load_pretrained` needs when training starts."""
    config = embedding_config(config, key)
    if config["freeze"]:
        embedding.weight.requires_grad_(False)
    return PretrainedEmbedding(
        key, config["pretrained"], config["freeze"], embedding, vocabulary, size_key
    )


def load_pretrained(entry: PretrainedEmbedding, datamodule: Any) -> WordVectors:
    """Copy the vectors of ``entry.pretrained`` for the datamodule's vocabulary into
    ``entry.embedding``, in place; return what was read (its coverage)."""
    vocabulary = getattr(datamodule, entry.vocabulary, None)
    tokens = getattr(vocabulary, "tokens", None)
    if tokens is None:
        raise ValueError(
            f"{entry.key}.pretrained: the datamodule {type(datamodule).__name__} has no fitted "
            f"vocabulary '{entry.vocabulary}' to look the vectors up for"
        )
    weight = entry.embedding.weight
    if len(tokens) != weight.shape[0]:
        raise ValueError(
            f"{entry.key}.pretrained: the embedding has {weight.shape[0]} rows but the "
            f"vocabulary {len(tokens)} words"
        )
    vectors = read_word_vectors(
        entry.pretrained,
        tokens,
        size=weight.shape[1],
        size_key=entry.size_key,
        key=f"{entry.key}.pretrained",
    )
    found = torch.from_numpy(vectors.found)
    rows = torch.from_numpy(vectors.vectors)
    random_rows = torch.randn(rows.shape) * unknown_row_scale(vectors)
    rows = torch.where(found[:, None], rows, random_rows)
    if entry.embedding.padding_idx is not None:
        rows[entry.embedding.padding_idx] = 0.0
    with torch.no_grad():
        weight.copy_(rows.to(dtype=weight.dtype, device=weight.device))
    return vectors


def coverage_record(vectors: WordVectors) -> dict[str, Any]:
    """The coverage as plain numbers (for the run's log and metrics)."""
    return {
        "file": str(vectors.path),
        "exact": vectors.exact,
        "case_insensitive": vectors.case_insensitive,
        "missing": len(vectors.missing),
    }
