"""Text classification data (sentiment): sentences with one label each."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Iterator
from itertools import chain, islice, repeat
from operator import itemgetter
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rnnkit.data.datamodule import RnnkitDataModule, pad_sequences
from rnnkit.data.io.parallel_encoding import default_workers, map_chunks
from rnnkit.data.io.prepared_cache import Columns, narrowest_unsigned
from rnnkit.data.io.vocabulary import DEFAULT_MAX_SIZE, Vocabulary

UNLABELLED = -1
"""The label id of an example without a label (prediction input)."""

_COUNT_CHUNK = 32768
"""Training texts whose tokens :meth:`TextClassificationDataModule.fit_artifacts` counts at
once (large: adding up a chunk's counts costs one step per distinct token)."""


class TextClassificationDataModule(RnnkitDataModule):
    """Sentences and labels; subclasses say where raw ``{"text", "label"}`` examples come from.

    Text is split on whitespace (lower-cased when ``lowercase``). The vocabulary (at most
    ``max_vocab_size`` entries, the specials included; rarer words become ``<unk>``) and the
    label set are fitted on the training split, in one pass over it.

    An encoded example is ``{"tokens": ids, "label": label id}`` (``-1`` when unlabelled):
    ``tokens`` a list of ids, or a 1-D array of the narrowest unsigned dtype when read from the
    prepared cache (subclasses that read files name them in :meth:`source_files` and are
    prepared once, see :class:`~rnnkit.data.datamodule.RnnkitDataModule`). Batches:
    ``tokens (N, L)`` long, ``lengths (N,)``, ``labels (N,)`` long (``-1`` for unlabelled
    prediction input).
    """

    task = "sentiment"

    def __init__(
        self,
        batch_size: int = 32,
        num_workers: int = 0,
        seed: int = 0,
        lowercase: bool = True,
        min_frequency: int = 1,
        max_vocab_size: int | None = DEFAULT_MAX_SIZE,
        cache_dir: str | os.PathLike | None = None,
        rebuild_cache: bool = False,
        prepare_workers: int | None = None,
    ) -> None:
        super().__init__(batch_size, num_workers, seed, cache_dir, rebuild_cache, prepare_workers)
        if (
            isinstance(min_frequency, bool)
            or not isinstance(min_frequency, int)
            or min_frequency < 1
        ):
            raise ValueError(f"min_frequency: expected an integer >= 1, got {min_frequency!r}")
        if max_vocab_size is not None and (
            isinstance(max_vocab_size, bool)
            or not isinstance(max_vocab_size, int)
            or max_vocab_size < 3
        ):
            raise ValueError(
                f"max_vocab_size: expected an integer >= 3 (two specials and a word) or null, "
                f"got {max_vocab_size!r}"
            )
        self.lowercase = lowercase
        self.min_frequency = min_frequency
        self.max_vocab_size = max_vocab_size
        self.vocab: Vocabulary | None = None
        self.labels: list[str] = []
        self._label_ids: dict[str, int] = {}

    def tokenize(self, text: str) -> list[str]:
        return (text.lower() if self.lowercase else text).split()

    # ---- fitting -----------------------------------------------------------------------

    def fit_artifacts(self, train_examples: Iterable[dict[str, Any]]) -> None:
        """The vocabulary and the sorted label set, in one pass over ``train_examples``.

        When preparing into a cache, the tokens are counted in ``prepare_workers`` processes
        (chunks of :data:`_COUNT_CHUNK` texts, their counts added up here) while this one reads
        on; otherwise here.
        """
        labels: set[str] = set()
        texts = chain.from_iterable(self._texts_noting_labels(train_examples, labels))
        workers = 0
        if self.cache_dir is not None:
            workers = default_workers() if self.prepare_workers is None else self.prepare_workers
        counts: Counter = Counter()
        for chunk_counts in map_chunks(self._token_counts, texts, _COUNT_CHUNK, workers):
            counts.update(chunk_counts)
        self.vocab = Vocabulary.from_counts(
            counts, min_frequency=self.min_frequency, max_size=self.max_vocab_size
        )
        self._set_labels(sorted(labels))

    @staticmethod
    def _texts_noting_labels(
        examples: Iterable[dict[str, Any]], labels: set[str]
    ) -> Iterator[list[str]]:
        """The texts of ``examples`` a list at a time, their labels added to ``labels`` (no
        Python loop per example)."""
        examples = iter(examples)
        while chunk := list(islice(examples, 4096)):
            labels.update(map(str, map(itemgetter("label"), chunk)))
            yield list(map(itemgetter("text"), chunk))

    def _token_counts(self, texts: list[str]) -> Counter:
        counts: Counter = Counter()
        self.count_tokens(texts, counts)
        return counts

    def count_tokens(self, texts: list[str], counts: Counter) -> None:
        """Add the tokens of ``texts`` to ``counts``: whitespace tokens of all of them at once
        (one ``split`` of the joined texts), or :meth:`tokenize` of each when overridden."""
        if type(self).tokenize is TextClassificationDataModule.tokenize:
            joined = " ".join(texts)
            counts.update((joined.lower() if self.lowercase else joined).split())
            return
        for text in texts:
            counts.update(self.tokenize(text))

    def _set_labels(self, labels: list[str]) -> None:
        self.labels = list(labels)
        self._label_ids = {label: i for i, label in enumerate(self.labels)}

    def preparation_settings(self) -> dict[str, Any]:
        """The base class's, less what the preparation makes (the vocabulary, the label set)
        and the shuffling ``seed`` (it changes no encoded example)."""
        settings = super().preparation_settings()
        for name in ("vocab", "labels", "seed"):
            settings.pop(name, None)
        return settings

    def artifacts(self) -> dict[str, Any]:
        return {"vocab": self.vocab.to_json(), "labels": self.labels}

    def load_artifacts(self, artifacts: dict[str, Any]) -> None:
        self.vocab = Vocabulary.from_json(artifacts["vocab"])
        self._set_labels(artifacts["labels"])

    # ---- encoding ----------------------------------------------------------------------

    def encoded_fields(self) -> dict[str, tuple[Any, bool]]:
        tokens = narrowest_unsigned(len(self.vocab) - 1)
        return {"tokens": (tokens, True), "label": (np.int64, False)}

    def encode(self, example: dict[str, Any]) -> dict[str, Any]:
        return self.encode_counts(example, Counter())

    def encode_counts(self, example: dict[str, Any], counts: Counter) -> dict[str, Any]:
        """``{"tokens": ids, "label": id}``, adding ``tokens`` and ``unknown_tokens`` to
        ``counts``."""
        tokens = self.tokenize(example["text"])
        if not tokens:
            raise ValueError(f"empty sentence in {example.get('source', 'the data')}")
        ids, unknown = self.vocab.encode_counting(tokens)
        counts["tokens"] += len(ids)
        counts["unknown_tokens"] += unknown
        return {"tokens": ids, "label": self.label_id(example)}

    def encode_chunk(self, examples: list[dict[str, Any]]) -> tuple[Columns, int, Counter]:
        """The base class's chunk encoding (what each preparation worker runs), with the
        default whitespace tokens split and looked up for the whole chunk in C (``map``, no
        Python loop per token or example); the same columns and counts as
        :meth:`encode_counts` of each example."""
        if type(self).tokenize is not TextClassificationDataModule.tokenize:
            return super().encode_chunk(examples)
        texts = map(itemgetter("text"), examples)
        words = list(map(str.split, map(str.lower, texts) if self.lowercase else texts))
        lengths = np.fromiter(map(len, words), np.int64, len(words))
        if len(words) and not lengths.all():
            empty = examples[int(np.argmin(lengths))]
            raise ValueError(f"empty sentence in {empty.get('source', 'the data')}")
        tokens = chain.from_iterable(words)
        ids = np.fromiter(map(self.vocab.index.get, tokens, repeat(-1)), np.int64, lengths.sum())
        unknown = ids < 0
        if unknown.any():  # the unknown id, or the error of a vocabulary without one
            first = list(chain.from_iterable(words))[int(np.argmax(unknown))]
            ids[unknown] = self.vocab.id(first)
        label_ids = list(map(self._label_ids.get, map(dict.get, examples, repeat("label"))))
        if None in label_ids:  # unlabelled, or a label not seen in training (an error)
            label_ids = list(map(self.label_id, examples))
        labels = np.array(label_ids, dtype=np.int64)
        dtype = self.encoded_fields()["tokens"][0]
        columns = {"tokens": (ids.astype(dtype), lengths), "label": (labels, None)}
        counts = Counter(tokens=len(ids), unknown_tokens=int(unknown.sum()))
        return columns, len(examples), counts

    def label_id(self, example: dict[str, Any]) -> int:
        """The id of ``example``'s label; :data:`UNLABELLED` when it has none."""
        label = example.get("label")
        if label is None:
            return UNLABELLED
        found = self._label_ids.get(str(label))
        if found is None:
            raise ValueError(
                f"unknown label {label!r} in {example.get('source', 'the data')}: expected one "
                f"of the training labels {self.labels}"
            )
        return found

    def collate(self, examples: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        tokens, lengths = pad_sequences([e["tokens"] for e in examples], self.vocab.pad_index)
        return {
            "tokens": tokens,
            "lengths": lengths,
            "labels": torch.tensor([e["label"] for e in examples], dtype=torch.long),
        }

    @property
    def spec(self) -> dict[str, Any]:
        return {
            "vocab_size": len(self.vocab),
            "pad_index": self.vocab.pad_index,
            "num_classes": len(self.labels),
            "label_names": self.labels,
        }

    def parse_raw(self, raw: str) -> list[dict[str, Any]]:
        """A sentence, or a path to a text file with one sentence per line."""
        path = Path(raw)
        lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else [raw]
        return [{"text": line, "label": None, "source": "input"} for line in lines if line.strip()]

    def decode_tokens(self, ids: torch.Tensor) -> str:
        return " ".join(self.vocab.decode(ids.tolist()))
