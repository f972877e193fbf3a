"""Sequence tagging data (POS, NER): sentences with one tag per token."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from rnnkit.data.datamodule import RnnkitDataModule, pad_sequences
from rnnkit.data.io.vocabulary import Vocabulary
from rnnkit.data.tagging.tag_schemes import OUTSIDE, PREFIXES, convert_tags, normalize_scheme

PADDING_TAG = -100
"""Tag id of padded steps (and of unlabelled input): torch's ``ignore_index`` default."""


class TaggingDataModule(RnnkitDataModule):
    """Tokenised sentences and their tags; subclasses say where raw examples come from.

    Raw examples are ``{"tokens": list[str], "tags": list[str]}`` (``tags`` is None or absent for
    prediction input), returned by :meth:`load_split`. The word vocabulary and the tag list are
    fitted on the training split; words seen fewer than ``min_frequency`` times there become
    ``<unk>``. With entity tags, the tag list is ``O`` and every prefix of the scheme for each
    entity type seen in training.

    Args:
        lowercase: lower-case words before looking them up (the displayed words keep their case).
        tag_scheme: scheme the model learns and predicts: ``"IOB1"``, ``"BIO"`` (alias
            ``"IOB2"``), ``"BIOES"`` (alias ``"IOBES"``) or ``"none"`` for plain labels such as
            parts of speech. Entity F1 is reported for the three entity schemes.
        source_tag_scheme: scheme of the raw tags (None: the same as ``tag_scheme``). Tags are
            converted on the fly, e.g. CoNLL-2003's IOB1 to BIOES; see
            :mod:`rnnkit.data.tagging.tag_schemes`.
        min_frequency, max_vocab_size: word vocabulary limits.

    Batches: ``tokens (N, L)`` long word ids (0 = padding), ``lengths (N,)``, ``tags (N, L)``
    long tag ids padded with :data:`PADDING_TAG` (-100; absent for unlabelled input) and
    ``words``, the original token strings (a list of lists, for display).
    """

    task = "tagging"

    def __init__(
        self,
        batch_size: int = 32,
        num_workers: int = 0,
        seed: int = 0,
        lowercase: bool = False,
        tag_scheme: str = "none",
        source_tag_scheme: str | None = None,
        min_frequency: int = 1,
        max_vocab_size: int | None = None,
    ) -> None:
        super().__init__(batch_size, num_workers, seed)
        self.lowercase = bool(lowercase)
        self.tag_scheme = normalize_scheme(tag_scheme, "tag_scheme")
        self.source_tag_scheme = normalize_scheme(
            self.tag_scheme if source_tag_scheme is None else source_tag_scheme,
            "source_tag_scheme",
        )
        if self.source_tag_scheme == "none" and self.tag_scheme != "none":
            raise ValueError(
                f"tag_scheme: {self.tag_scheme!r} needs entity tags, but source_tag_scheme is "
                "'none' (plain labels); use tag_scheme='none'"
            )
        self.min_frequency = min_frequency
        self.max_vocab_size = max_vocab_size
        self.vocab: Vocabulary | None = None
        self.tags: list[str] = []

    # ---- words and tags ----------------------------------------------------------------

    def normalize_word(self, word: str) -> str:
        return word.lower() if self.lowercase else word

    def convert(self, tags: list[str], where: str = "the data") -> list[str]:
        """Raw tags (``source_tag_scheme``) in the model's ``tag_scheme``."""
        try:
            return convert_tags(tags, self.source_tag_scheme, self.tag_scheme)
        except ValueError as error:
            raise ValueError(
                f"{error} (in {where}, source_tag_scheme={self.source_tag_scheme!r})"
            ) from None

    def _checked(self, example: dict[str, Any]) -> tuple[list[str], list[str] | None]:
        where = example.get("source", "the data")
        tokens, tags = example.get("tokens"), example.get("tags")
        if not isinstance(tokens, (list, tuple)) or not tokens:
            raise ValueError(
                f"tokens: expected a non-empty list of words in {where}, got {tokens!r}"
            )
        if tags is not None and len(tags) != len(tokens):
            raise ValueError(
                f"tags: expected one tag per token in {where}, got {len(tags)} tags for "
                f"{len(tokens)} tokens: {list(tokens)[:8]}"
            )
        return list(tokens), (None if tags is None else self.convert(list(tags), where))

    # ---- the datamodule contract -------------------------------------------------------

    def fit_artifacts(self, train_examples: list[dict[str, Any]]) -> None:
        sentences, tag_set = [], set()
        for example in train_examples:
            tokens, tags = self._checked(example)
            if tags is None:
                raise ValueError(f"tags: missing in a training example: {tokens[:8]}")
            sentences.append([self.normalize_word(t) for t in tokens])
            tag_set.update(tags)
        self.vocab = Vocabulary.fit(
            sentences, min_frequency=self.min_frequency, max_size=self.max_vocab_size
        )
        if self.tag_scheme == "none":
            self.tags = sorted(tag_set)
        else:
            # "O", then every prefix of the scheme for each entity type seen in training (S-PER
            # exists even if training has only multi-token PER chunks), grouped by type.
            types = sorted({tag.partition("-")[2] for tag in tag_set} - {""})
            self.tags = [OUTSIDE] + [
                f"{prefix}-{kind}" for kind in types for prefix in PREFIXES[self.tag_scheme]
            ]

    def artifacts(self) -> dict[str, Any]:
        return {"vocab": self.vocab.to_json(), "tags": self.tags, "tag_scheme": self.tag_scheme}

    def load_artifacts(self, artifacts: dict[str, Any]) -> None:
        scheme = normalize_scheme(artifacts["tag_scheme"], "tag_scheme")
        if scheme != self.tag_scheme:
            raise ValueError(
                f"tag_scheme: the fitted tags are in {scheme!r}, but this datamodule converts "
                f"to {self.tag_scheme!r}"
            )
        self.vocab = Vocabulary.from_json(artifacts["vocab"])
        self.tags = list(artifacts["tags"])

    def encode(self, example: dict[str, Any]) -> tuple[list[int], list[int], list[str]]:
        tokens, tags = self._checked(example)
        ids = self.vocab.encode(self.normalize_word(t) for t in tokens)
        if tags is None:
            return ids, [], tokens
        index = {tag: i for i, tag in enumerate(self.tags)}
        unknown = [tag for tag in tags if tag not in index]
        if unknown:
            raise ValueError(
                f"tags: {unknown[0]!r} in {example.get('source', 'the data')} is not one of the "
                f"training tags {self.tags}"
            )
        return ids, [index[tag] for tag in tags], tokens

    def collate(self, examples: list[tuple[list[int], list[int], list[str]]]) -> dict[str, Any]:
        tokens, lengths = pad_sequences([ids for ids, _, _ in examples], self.vocab.pad_index)
        batch: dict[str, Any] = {
            "tokens": tokens,
            "lengths": lengths,
            "words": [words for _, _, words in examples],
        }
        if any(tags for _, tags, _ in examples):
            padded = torch.full(tokens.shape, PADDING_TAG, dtype=torch.long)
            for row, (_, tags, _) in enumerate(examples):
                padded[row, : len(tags)] = torch.tensor(tags, dtype=torch.long)
            batch["tags"] = padded
        return batch

    @property
    def spec(self) -> dict[str, Any]:
        return {
            "vocab_size": len(self.vocab),
            "pad_index": self.vocab.pad_index,
            "num_tags": len(self.tags),
            "tag_names": self.tags,
            "tag_scheme": self.tag_scheme,
        }

    def parse_raw(self, raw: str) -> list[dict[str, Any]]:
        """A sentence (words separated by spaces, punctuation as its own word: ``"new york is
        big ."``), or a path to a UTF-8 text file with one such sentence per line."""
        path = Path(raw)
        lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else [raw]
        examples = [
            {"tokens": line.split(), "tags": None, "source": "input"}
            for line in lines
            if line.strip()
        ]
        if not examples:
            raise ValueError(f"input: expected a sentence or a file of sentences, got {raw!r}")
        return examples

    def decode_tags(self, ids: torch.Tensor | list[int]) -> list[str]:
        """Tag names of ``ids``, skipping padding (-100)."""
        values = ids.tolist() if isinstance(ids, torch.Tensor) else ids
        return [self.tags[i] for i in values if i != PADDING_TAG]
