"""Text classification data (sentiment): sentences with one label each."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import repeat
from operator import itemgetter
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rnnkit.data.datamodule import BASELINE_MAX_EXAMPLES, RnnkitDataModule, pad_sequences
from rnnkit.data.io.parallel_encoding import map_chunks
from rnnkit.data.io.prepared_cache import Columns, narrowest_unsigned, sequence_lengths
from rnnkit.data.io.split_arrays import field_arrays
from rnnkit.data.io.vocabulary import DEFAULT_MAX_SIZE, Vocabulary
from rnnkit.data.sentiment.local_encoding import (
    LocalEncoding,
    SpilledChunks,
    encode_locally,
)
from rnnkit.data.sentiment.ngram_baseline import NgramLogisticBaseline
from rnnkit.data.sentiment.truncation import check_truncation, truncate, truncated_lengths

UNLABELLED = -1
"""The label id of an example without a label (prediction input)."""

_COUNT_CHUNK = 32768
"""Training texts :meth:`TextClassificationDataModule.fit_artifacts` counts at once."""


@dataclass
class TextRows:
    """A chunk of raw examples as columns (what preparation workers count and encode).

    ``labels[i]`` is None for an unlabelled row. ``sources[i]`` says where row ``i`` came from;
    without ``sources`` the rows are consecutive lines of ``file`` from line ``start``.
    """

    texts: list[str]
    labels: list[Any]
    sources: list[str] | None = None
    file: str = ""
    start: int = 1

    @classmethod
    def of(cls, examples: list[dict[str, Any]]) -> TextRows:
        """The columns of raw example dicts (``text``, ``label``, ``source``)."""
        return cls(
            list(map(itemgetter("text"), examples)),
            list(map(dict.get, examples, repeat("label"))),
            [str(example.get("source", "the data")) for example in examples],
        )

    def source(self, index: int) -> str:
        if self.sources is not None:
            return self.sources[index]
        return f"{self.file}, line {self.start + index}"

    def __len__(self) -> int:
        return len(self.texts)


class _TokenIds(dict):
    """Token -> vocabulary id; -1 for a token the vocabulary lacks."""

    def __missing__(self, token: str) -> int:
        return -1


class TextClassificationDataModule(RnnkitDataModule):
    """Sentences and labels; subclasses say where raw ``{"text", "label"}`` examples come from.

    Text is split on whitespace (lower-cased when ``lowercase``). The vocabulary (at most
    ``max_vocab_size`` entries, the specials included; rarer words become ``<unk>``) and the
    label set are fitted on the training split, in one pass over it.

    Long documents: ``max_length`` tokens of each example are batched (None: all of them),
    chosen by ``truncation`` (``head``, ``tail`` or ``head_tail``: see
    :mod:`~rnnkit.data.sentiment.truncation`); the cut is made when a batch is collated, for
    training, evaluation and prediction alike, so the prepared examples stay whole and another
    ``max_length`` prepares nothing again. ``bucket_by_length`` draws training batches of
    examples of similar (truncated) lengths
    (:class:`~rnnkit.data.io.sharded_batches.ShardedBatches`): less padding, and DDP and
    resuming work as with plain batches; streamed splits are not bucketed.
    ``trim_to_shortest`` cuts every training batch to its shortest example
    (:meth:`collate_training`).

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
        max_length: int | None = None,
        truncation: str = "head",
        bucket_by_length: bool = False,
        trim_to_shortest: bool = False,
    ) -> None:
        super().__init__(batch_size, num_workers, seed, cache_dir, rebuild_cache, prepare_workers)
        self.max_length, self.truncation = check_truncation(max_length, truncation)
        if not isinstance(bucket_by_length, bool):
            raise ValueError(f"bucket_by_length: expected true or false, got {bucket_by_length!r}")
        self.bucket_by_length = bucket_by_length
        if not isinstance(trim_to_shortest, bool):
            raise ValueError(f"trim_to_shortest: expected true or false, got {trim_to_shortest!r}")
        self.trim_to_shortest = trim_to_shortest
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
        """The vocabulary and the sorted label set, in one pass over ``train_examples``."""
        counts: Counter = Counter()
        labels: set[str] = set()
        for chunk in map_chunks(TextRows.of, train_examples, _COUNT_CHUNK):
            chunk_counts, chunk_labels, _ = self._chunk_counts(chunk)
            counts.update(chunk_counts)
            labels.update(chunk_labels)
        self.set_fitted(counts, labels)

    def fit_prepared(self, workers: int) -> None:
        """:meth:`fit_artifacts` from :meth:`map_split`'s chunks of the training split, read in
        ``workers`` processes. With the default whitespace tokens a worker also encodes its
        chunk against the chunk's own words (:mod:`~rnnkit.data.sentiment.local_encoding`);
        those ids wait on disk and become the prepared training split once the vocabulary is
        fitted, so the training texts are read and split once, not twice."""
        counts: Counter = Counter()
        labels: set[str] = set()
        local = type(self).tokenize is TextClassificationDataModule.tokenize
        spilled = SpilledChunks(self.cache_dir) if local else None
        function = self._encoded_locally if local else self._chunk_counts
        with self._progress_bar("fit train") as bar:
            for result in self.map_split("train", function, workers):
                if spilled is not None:
                    spilled.add(result)
                    counts.update(dict(zip(result.words, result.counts.tolist())))
                    labels.update(map(str, result.labels))
                    bar.update(len(result.lengths))
                else:
                    chunk_counts, chunk_labels, size = result
                    counts.update(chunk_counts)
                    labels.update(chunk_labels)
                    bar.update(size)
        self.set_fitted(counts, labels)
        self._spilled_train = spilled

    def map_split(self, split: str, function: Callable[[Any], Any], workers: int) -> Iterator[Any]:
        """The base class's; the training split encoded while fitting (:meth:`fit_prepared`)
        is read back from disk instead of from its files."""
        spilled = getattr(self, "_spilled_train", None)
        if split == "train" and spilled is not None and function == self.encode_chunk:
            self._spilled_train = None
            return map(self._remapped, spilled.replay())
        return super().map_split(split, function, workers)

    def _encoded_locally(self, chunk: TextRows | list[dict[str, Any]]) -> LocalEncoding:
        """In a worker: a chunk of examples against its own words (empty texts refused)."""
        rows = chunk if isinstance(chunk, TextRows) else TextRows.of(chunk)
        encoded = encode_locally(rows.texts, rows.labels, self.lowercase)
        if len(encoded.lengths) and not encoded.lengths.all():
            raise ValueError(f"empty sentence in {rows.source(int(np.argmin(encoded.lengths)))}")
        return encoded

    def _remapped(
        self, chunk: LocalEncoding, source: Callable[[int], str] | None = None
    ) -> tuple[Columns, int, Counter]:
        """:meth:`encode_chunk`'s columns and counts of a chunk encoded against its own words;
        ``source(i)`` names row ``i`` in the error about a label not seen in training."""
        ids, first_unknown = chunk.remap(self._lookup())
        unknown = ids < 0
        if first_unknown is not None:  # the unknown id, or the error of a vocabulary without one
            ids[unknown] = self.vocab.id(first_unknown)
        label_table = np.array(
            [
                self._label_id(
                    label,
                    "the training data"
                    if source is None
                    else source(int(np.argmax(chunk.label_codes == code))),
                )
                for code, label in enumerate(chunk.labels)
            ],
            np.int64,
        )
        labels = label_table[chunk.label_codes] if len(label_table) else chunk.label_codes
        dtype = self.encoded_fields()["tokens"][0]
        columns = {"tokens": (ids.astype(dtype), chunk.lengths), "label": (labels, None)}
        counts = Counter(tokens=len(ids), unknown_tokens=int(unknown.sum()))
        return columns, len(chunk.lengths), counts

    def set_fitted(self, counts: Counter, labels: set[str]) -> None:
        """The vocabulary from the training tokens' ``counts``, the sorted ``labels``."""
        self.vocab = Vocabulary.from_counts(
            counts, min_frequency=self.min_frequency, max_size=self.max_vocab_size
        )
        self._set_labels(sorted(labels))

    def _chunk_counts(
        self, chunk: TextRows | list[dict[str, Any]]
    ) -> tuple[Counter, set[str], int]:
        """``(token counts, labels, rows)`` of a chunk of raw examples."""
        rows = chunk if isinstance(chunk, TextRows) else TextRows.of(chunk)
        counts: Counter = Counter()
        self.count_tokens(rows.texts, counts)
        return counts, set(map(str, rows.labels)), len(rows)

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
        and what only batching reads (the shuffling ``seed``, ``max_length``, ``truncation``,
        ``bucket_by_length``, ``trim_to_shortest``): they change no encoded example."""
        settings = super().preparation_settings()
        batching = ("seed", "max_length", "truncation", "bucket_by_length", "trim_to_shortest")
        for name in ("vocab", "labels", *batching):
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

    def encode_chunk(self, chunk: TextRows | list[dict[str, Any]]) -> tuple[Columns, int, Counter]:
        """The base class's chunk encoding (what each preparation worker runs) of raw example
        dicts or :class:`TextRows`, with the default whitespace tokens split for the whole
        chunk at once and looked up once per distinct word
        (:func:`~rnnkit.data.sentiment.local_encoding.encode_locally`, as the training split
        is while fitting); the same columns and counts as :meth:`encode_counts` of each
        example."""
        rows = chunk if isinstance(chunk, TextRows) else TextRows.of(chunk)
        if type(self).tokenize is not TextClassificationDataModule.tokenize:
            examples = [
                {"text": text, "label": label, "source": rows.source(i)}
                for i, (text, label) in enumerate(zip(rows.texts, rows.labels, strict=True))
            ]
            return super().encode_chunk(examples)
        return self._remapped(self._encoded_locally(rows), rows.source)

    def _lookup(self) -> _TokenIds:
        """This vocabulary as a :class:`_TokenIds`, made once."""
        cached = getattr(self, "_lookup_cache", None)
        if cached is None or cached[0] is not self.vocab:
            cached = self._lookup_cache = (self.vocab, _TokenIds(self.vocab.index))
        return cached[1]

    def label_id(self, example: dict[str, Any]) -> int:
        """The id of ``example``'s label; :data:`UNLABELLED` when it has none."""
        return self._label_id(example.get("label"), example.get("source", "the data"))

    def _label_id(self, label: Any, source: str) -> int:
        if label is None:
            return UNLABELLED
        found = self._label_ids.get(str(label))
        if found is None:
            raise ValueError(
                f"unknown label {label!r} in {source}: expected one of the training labels "
                f"{self.labels}"
            )
        return found

    def collate(
        self, examples: list[dict[str, Any]], max_length: int | None = None
    ) -> dict[str, torch.Tensor]:
        """``tokens (N, L)``, ``lengths (N,)``, ``labels (N,)``: each example's tokens cut to
        ``max_length`` (default: the ``max_length`` setting) by ``truncation``."""
        limit = self.max_length if max_length is None else max_length
        tokens, lengths = pad_sequences(
            [truncate(e["tokens"], limit, self.truncation) for e in examples],
            self.vocab.pad_index,
        )
        return {
            "tokens": tokens,
            "lengths": lengths,
            "labels": torch.tensor([e["label"] for e in examples], dtype=torch.long),
        }

    def ngram_baseline(self) -> NgramLogisticBaseline | None:
        """Logistic regression on word 1-2-gram counts of the training split (scikit-learn),
        fitted on first use from the split's arrays (seconds on SST-2); None when the split
        streams from an export (no process holds its arrays)."""

        def fit(train: Any) -> NgramLogisticBaseline:
            tokens, offsets = field_arrays(train, "tokens")
            labels, _ = field_arrays(train, "label", ragged=False)
            baseline = NgramLogisticBaseline(len(self.vocab))
            return baseline.fit(tokens, offsets, labels, len(self.labels))

        return self.fitted_baseline("ngram_baseline", fit, BASELINE_MAX_EXAMPLES)

    def collate_training(self, examples: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        """With ``trim_to_shortest``, every example of a training batch cut (by ``truncation``)
        to the batch's shortest: equal lengths, on which torch's fused CPU kernels run their
        backward pass many times faster than on packed variable lengths (docs/benchmarks.md,
        "Long documents"); with ``bucket_by_length`` a batch loses few tokens. Evaluation
        and prediction batches are never trimmed."""
        if not self.trim_to_shortest:
            return self.collate(examples)
        shortest = min(len(e["tokens"]) for e in examples)
        limit = shortest if self.max_length is None else min(shortest, self.max_length)
        return self.collate(examples, limit)

    def bucket_lengths(self, split: str) -> np.ndarray | None:
        """The truncated token counts of ``split``'s examples with ``bucket_by_length`` (read
        from the prepared offsets: no example is read), else None."""
        if not self.bucket_by_length:
            return None
        lengths = sequence_lengths(self.datasets[split], "tokens")
        return truncated_lengths(lengths, self.max_length)

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
