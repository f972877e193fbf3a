"""Language-modelling data: documents as one contiguous token stream, batched as PTB is."""

from __future__ import annotations

import math
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset

from rnnkit.data.datamodule import RnnkitDataModule
from rnnkit.data.io.prepared_cache import MappedSplit, narrowest_unsigned
from rnnkit.data.io.streamed_split import StreamedSplit
from rnnkit.data.io.vocabulary import DEFAULT_MAX_SIZE, EOS, PAD, UNK, Vocabulary
from rnnkit.data.language_modeling.kneser_ney import KneserNeyModel

LEVELS = ("char", "word")
NGRAM_ORDERS = {"char": 6, "word": 3}
"""The order of the n-gram baseline per level. Characters: on tiny-shakespeare's validation text
orders 4-8 give 2.49, 2.28, 2.25, 2.26, 2.27 bits/char (docs/benchmarks.md)."""
NGRAM_MAX_TOKENS = 10_000_000
"""The n-gram baseline counts the training stream's first this many tokens (all of
tiny-shakespeare's 1 M characters), so its time and memory stay bounded on any corpus."""


class LanguageModelingDataModule(RnnkitDataModule):
    """Documents in, contiguous next-token batches out (Zaremba et al. 2014's PTB batching).

    A raw example is a document ``{"text": str}`` (optionally ``"name"``), or a piece of one:
    ``"continues": True`` marks a piece that continues the previous example's document (readers
    of large files yield them, cut at line ends, so no document is held whole). Tokens are
    characters (``level="char"``) or whitespace-separated words with ``<eos>`` ending every
    line (``level="word"``, as PTB does; words outside the vocabulary become ``<unk>``). The
    vocabulary and the training token counts (for the unigram baseline) are fitted on train.

    Batching: a split's documents are concatenated into one stream of ``M`` tokens, cut into
    ``B`` (``batch_size``; ``eval_batch_size`` for val and test) parallel rows of ``S = (M - 1)
    // B`` tokens; batch ``k`` holds columns ``[k * L, (k + 1) * L)`` (``L =
    sequence_length``; the last batch may be shorter), so row ``i`` of batch ``k + 1``
    continues row ``i`` of batch ``k``: a state carried from batch to batch (truncated BPTT)
    sees the text without gaps. Chunk order is never shuffled. Batches: ``tokens (B, L)``,
    ``targets (B, L)``, the same stream one token later, and ``document_starts (B, L)`` bool,
    true where ``tokens`` holds the first token of a document (a stateful model zeroes that
    row's state there). Every token but the stream's last ``B``-row remainder is predicted
    exactly once per epoch.

    Args:
        sequence_length: ``L``, steps per batch (the truncated-BPTT length).
        level: ``"char"`` or ``"word"``.
        eval_batch_size: rows of the val and test streams (None: ``batch_size``).
        min_frequency, max_vocab_size: vocabulary cut-offs (rarer tokens become ``<unk>``);
            ``max_vocab_size`` defaults to :data:`DEFAULT_MAX_SIZE` (null: no cap).
        lowercase: lower-case the text first.
        cache_dir, rebuild_cache, prepare_workers, stream_from, stream_options: see
            :class:`RnnkitDataModule`.

    Prepared once (with a ``cache_dir`` and files), a split is one flat array of token ids in
    the narrowest unsigned dtype, memory-mapped: batches are cut from it on demand.

    Streamed from an export (``stream_from``), a process needs only its own rows of the
    stream, which are one contiguous range of tokens: it copies that range (the shards it lies
    in) into a temporary memory-mapped file once, and cuts the same batches from it as from
    the whole stream.
    """

    task = "language_modeling"

    def __init__(
        self,
        batch_size: int = 32,
        num_workers: int = 0,
        seed: int = 0,
        sequence_length: int = 100,
        level: str = "char",
        eval_batch_size: int | None = None,
        min_frequency: int = 1,
        max_vocab_size: int | None = DEFAULT_MAX_SIZE,
        lowercase: bool = False,
        cache_dir: str | None = None,
        rebuild_cache: bool = False,
        prepare_workers: int | None = None,
        stream_from: str | None = None,
        stream_options: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(
            batch_size,
            num_workers,
            seed,
            cache_dir,
            rebuild_cache,
            prepare_workers,
            stream_from,
            stream_options,
        )
        if level not in LEVELS:
            raise ValueError(f"level: expected one of {LEVELS}, got {level!r}")
        for name, value in (
            ("sequence_length", sequence_length),
            ("eval_batch_size", eval_batch_size or 1),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: expected a positive integer, got {value!r}")
        self.sequence_length = sequence_length
        self.level = level
        self.eval_batch_size = eval_batch_size or batch_size
        self.min_frequency = min_frequency
        self.max_vocab_size = max_vocab_size
        self.lowercase = lowercase
        self.vocab: Vocabulary | None = None
        self.train_counts: list[int] = []
        self._rank_streams: dict[tuple[str, int, int, int], tuple[np.ndarray, np.ndarray]] = {}

    # ---- tokens ------------------------------------------------------------------------

    def tokenize(self, text: str, end_last_line: bool = True) -> list[str]:
        """Characters, or words with ``<eos>`` after each line; a last line without a line
        break gets its ``<eos>`` only with ``end_last_line`` (a prompt's does not)."""
        text = text.lower() if self.lowercase else text
        if self.level == "char":
            return list(text)
        tokens: list[str] = []
        lines = text.split("\n")
        for number, line in enumerate(lines):
            tokens += line.split()
            if number < len(lines) - 1 or (end_last_line and line.strip()):
                tokens.append(EOS)
        return tokens

    def decode_text(self, ids: torch.Tensor | list[int]) -> str:
        """Token ids back to text (``<eos>`` as a line break at word level)."""
        tokens = [self.vocab.tokens[int(i)] for i in ids]
        if self.level == "char":
            return "".join(tokens)
        lines, words = [], []
        for token in tokens:
            if token == EOS:
                lines.append(" ".join(words) + "\n")
                words = []
            else:
                words.append(token)
        return "".join(lines) + " ".join(words)

    # ---- fitted state ------------------------------------------------------------------

    def fit_artifacts(self, train_examples: Iterable[dict[str, Any]]) -> None:
        counts: Counter = Counter()
        documents = 0
        for example in train_examples:
            counts.update(self._token_counts(self._text(example)))
            documents += 1
        if not documents:
            raise ValueError("train split: expected at least one document, got none")
        specials = (PAD, UNK) if self.level == "char" else (PAD, UNK, EOS)
        self.vocab = Vocabulary.from_counts(
            counts,
            specials=specials,
            min_frequency=self.min_frequency,
            max_size=self.max_vocab_size,
        )
        train_counts = [0] * len(self.vocab)
        unknown = self.vocab.index[UNK]
        for token, count in counts.items():
            train_counts[self.vocab.index.get(token, unknown)] += count
        self.train_counts = train_counts

    def _token_counts(self, text: str) -> Counter:
        if self.level == "char":
            text = text.lower() if self.lowercase else text
            codes, counts = np.unique(_code_points(text), return_counts=True)
            return Counter(dict(zip(map(chr, codes.tolist()), counts.tolist())))
        return Counter(self.tokenize(text))

    def artifacts(self) -> dict[str, Any]:
        return {
            "vocab": self.vocab.to_json(),
            "level": self.level,
            "train_counts": self.train_counts,
        }

    def load_artifacts(self, artifacts: dict[str, Any]) -> None:
        if artifacts["level"] != self.level:
            raise ValueError(
                f"level: the checkpoint's vocabulary is {artifacts['level']}-level, "
                f"got level={self.level!r}"
            )
        self.vocab = Vocabulary.from_json(artifacts["vocab"])
        self.train_counts = list(artifacts["train_counts"])

    @property
    def spec(self) -> dict[str, Any]:
        return {
            "vocab_size": len(self.vocab),
            "level": self.level,
            "sequence_length": self.sequence_length,
        }

    def unigram_log_probs(self) -> torch.Tensor:
        """``(V,)`` natural-log unigram probabilities of the training tokens, add-one smoothed
        over the vocabulary except ``<pad>`` (never a target): the order-blind baseline."""
        counts = torch.tensor(self.train_counts, dtype=torch.float64) + 1.0
        counts[self.vocab.pad_index] = 0.0
        return (counts / counts.sum()).log()

    def ngram_model(self) -> KneserNeyModel | None:
        """The interpolated Kneser-Ney baseline (:mod:`~rnnkit.data.language_modeling.kneser_ney`,
        order :data:`NGRAM_ORDERS` of the level, lowered until its codes fit int64), counted
        on first use from the training stream's first :data:`NGRAM_MAX_TOKENS` tokens; None
        when the split streams from an export."""

        def fit(train: Any) -> KneserNeyModel:
            model = KneserNeyModel(
                len(self.vocab), NGRAM_ORDERS[self.level], (self.vocab.pad_index,)
            )
            return model.fit(self.stream("train")[0][:NGRAM_MAX_TOKENS])

        return self.fitted_baseline("ngram_model", fit)

    # ---- examples and streams ----------------------------------------------------------

    @staticmethod
    def _text(example: dict[str, Any]) -> str:
        text = example.get("text")
        if not isinstance(text, str):
            raise ValueError(
                f"document {example.get('name', '')!r}: expected a 'text' string, "
                f"got {type(text).__name__}"
            )
        return text

    def preparation_settings(self) -> dict[str, Any]:
        settings = super().preparation_settings()
        settings.pop("sequence_length", None)  # batches are cut from the stream at load time
        return settings

    def encoded_fields(self) -> dict[str, tuple[Any, bool]]:
        return {"ids": (narrowest_unsigned(len(self.vocab) - 1), True), "first": (np.uint8, False)}

    def encode(self, example: dict[str, Any]) -> dict[str, Any]:
        """``{"ids": token ids, "first": 1 unless the example continues a document}``."""
        return self.encode_counts(example, Counter())

    def encode_counts(self, example: dict[str, Any], counts: Counter) -> dict[str, Any]:
        text = self._text(example)
        if self.level == "char":
            ids, unknown = self._encode_chars(text.lower() if self.lowercase else text)
        else:
            ids, unknown = self.vocab.encode_counting(self.tokenize(text))
            ids = np.asarray(ids, dtype=np.int64)
        counts["tokens"] += len(ids)
        counts["unknown_tokens"] += unknown
        return {"ids": ids, "first": 0 if example.get("continues") else 1}

    def _encode_chars(self, text: str) -> tuple[np.ndarray, int]:
        """Characters to ids through a sorted table of code points (no per-character Python)."""
        if getattr(self, "_char_table", (None,))[0] is not self.vocab:
            singles = [(ord(t), i) for i, t in enumerate(self.vocab.tokens) if len(t) == 1]
            singles.sort()
            keys = np.array([c for c, _ in singles], dtype=np.uint32)
            ids = np.array([i for _, i in singles], dtype=np.int64)
            self._char_table = (self.vocab, keys, ids)
        _, keys, ids = self._char_table
        codes = _code_points(text)
        if not len(keys):
            return np.full(len(codes), self.vocab.index[UNK], dtype=np.int64), len(codes)
        position = np.minimum(np.searchsorted(keys, codes), len(keys) - 1)
        known = keys[position] == codes
        encoded = np.where(known, ids[position], self.vocab.index[UNK])
        return encoded, int(len(codes) - known.sum())

    def stream(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        """The split as one flat token array (memory-mapped when prepared) and the sorted
        positions where documents start."""
        data = self.datasets[split]
        if isinstance(data, StreamedSplit):
            raise ValueError(
                f"{split} split: streamed from {data.export.url}, so no process holds the whole "
                f"stream; use stream_batches or token_count"
            )
        if isinstance(data, MappedSplit):
            offsets = data.offsets("ids")
            firsts = np.flatnonzero(np.asarray(data.values("first")))
            return data.values("ids"), np.unique(offsets[firsts])
        ids = [np.asarray(e["ids"], dtype=np.int64) for e in data]
        stream = np.concatenate(ids) if ids else np.zeros(0, dtype=np.int64)
        lengths = np.array([len(i) for i in ids], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(lengths)])[:-1]
        firsts = np.array([bool(e["first"]) for e in data], dtype=bool)
        return stream, np.unique(offsets[firsts]) if len(firsts) else np.zeros(0, np.int64)

    def stream_batches(
        self, split: str, batch_size: int | None = None, rank: int = 0, world_size: int = 1
    ) -> StreamBatches:
        """The split's contiguous batches (see the class docstring), in order, cut on demand;
        with ``world_size > 1``, rank ``rank``'s block of every batch's rows."""
        rows = batch_size or (self.batch_size if split == "train" else self.eval_batch_size)
        if isinstance(self.datasets[split], StreamedSplit):
            stream, starts = self.rank_stream(split, rows, rank, world_size)
            share = rows // world_size
            return StreamBatches(stream, starts, share, self.sequence_length, 0, 1, split)
        stream, starts = self.stream(split)
        return StreamBatches(stream, starts, rows, self.sequence_length, rank, world_size, split)

    def token_count(self, split: str) -> int:
        """Tokens in the split's stream."""
        data = self.datasets[split]
        if isinstance(data, StreamedSplit):
            return data.value_count("ids")
        return len(self.stream(split)[0])

    def rank_stream(
        self, split: str, rows: int, rank: int = 0, world_size: int = 1
    ) -> tuple[np.ndarray, np.ndarray]:
        """A streamed split's tokens that rank ``rank``'s rows of ``rows`` read (rows ``[r *
        rows / W, (r + 1) * rows / W)`` of ``S`` columns, and the one token after them) and
        the positions among them where documents start; copied once into a temporary
        memory-mapped file (in ``cache_dir`` when set)."""
        key = (split, rows, rank, world_size)
        if key not in self._rank_streams:
            data = self.datasets[split]
            total = data.value_count("ids")
            StreamBatches.check(total, rows, world_size, split)
            columns = (total - 1) // rows
            share = rows // world_size
            start, stop = rank * share * columns, (rank + 1) * share * columns + 1
            dtype = data.export.fields["ids"][0]
            folder = None if self.cache_dir is None else str(self.cache_dir)
            if folder is not None:
                self.cache_dir.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=folder) as handle:  # removed once unmapped
                tokens = np.memmap(handle, dtype=dtype, mode="w+", shape=(stop - start,))
            starts = data.read_values("ids", start, stop, tokens, flag="first")
            self._rank_streams[key] = (tokens, np.unique(starts))
        return self._rank_streams[key]

    def _stream_loader(self, split: str) -> DataLoader:
        trainer = getattr(self, "trainer", None)
        rank, world_size = (0, 1) if trainer is None else (trainer.global_rank, trainer.world_size)
        batches = self.stream_batches(split, rank=rank, world_size=world_size)
        # An iterable dataset: Lightning adds no distributed sampler, which would deal whole
        # batches out to the ranks in turn and break each rank's contiguous stream. No worker
        # processes: cutting a batch is a slice, and each worker would replay all of them.
        return DataLoader(batches, batch_size=None, num_workers=0)

    def train_dataloader(self) -> DataLoader:
        return self._stream_loader("train")

    def val_dataloader(self) -> DataLoader:
        return self._stream_loader("val")

    def test_dataloader(self) -> DataLoader:
        return self._stream_loader("test")

    def summary(self) -> dict[str, Any]:
        tokens = {f"{split}_tokens": self.token_count(split) for split in self.datasets}
        batches = (
            math.ceil(((tokens["train_tokens"] - 1) // self.batch_size) / self.sequence_length)
            if "train_tokens" in tokens
            else None
        )
        summary = super().summary()
        summary.pop("train_examples", None)
        summary.pop("val_examples", None)
        summary.pop("test_examples", None)
        return {**summary, **tokens, "train_batches_per_epoch": batches}

    # ---- prediction input --------------------------------------------------------------

    def collate(self, examples: list[list[int]]) -> dict[str, Any]:
        """Prompts of equal length as ``tokens (N, P)``."""
        lengths = {len(ids) for ids in examples}
        if len(lengths) != 1:
            raise ValueError(
                f"prompts: expected prompts of one length, got lengths {sorted(lengths)}"
            )
        return {"tokens": torch.tensor(examples, dtype=torch.long)}

    def parse_raw(self, raw: str) -> list[dict[str, Any]]:
        """A prompt to continue. The two-character escapes ``\\n`` and ``\\t`` stand for a line
        break and a tab (for the command line). An empty prompt starts at a line start."""
        text = raw.replace("\\n", "\n").replace("\\t", "\t")
        return [{"name": "prompt", "text": text}]

    def batch_from_raw(self, raw: str) -> dict[str, Any]:
        (example,) = self.parse_raw(raw)
        tokens = self.tokenize(self._text(example), end_last_line=False)
        if not tokens:
            tokens = ["\n"] if self.level == "char" else [EOS]
        return self.collate([self.vocab.encode(tokens)])


def _code_points(text: str) -> np.ndarray:
    """``(len(text),)`` uint32 Unicode code points of ``text``."""
    return np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)


class StreamBatches(IterableDataset):
    """A token stream's contiguous batches, cut on demand (a sequence and an iterable).

    The stream of ``M`` tokens is read as ``rows`` parallel rows of ``S = (M - 1) // rows``
    tokens; batch ``k`` holds columns ``[k * L, (k + 1) * L)``: ``tokens (B, L)``, ``targets
    (B, L)`` (the stream one token later) and ``document_starts (B, L)``. Under DDP rank ``r``
    of ``W`` takes rows ``[r * rows / W, (r + 1) * rows / W)`` of every batch (``B = rows /
    W``), so each rank's batches stay contiguous text and together they read every row once.
    """

    def __init__(
        self,
        stream: np.ndarray,
        starts: np.ndarray,
        rows: int,
        length: int,
        rank: int = 0,
        world_size: int = 1,
        split: str = "train",
    ) -> None:
        self.check(len(stream), rows, world_size, split)
        columns = (len(stream) - 1) // rows
        self.stream = stream
        self.starts = np.asarray(starts, dtype=np.int64)
        self.rows, self.columns, self.length = rows, columns, length
        share = rows // world_size
        self.row_range = (rank * share, (rank + 1) * share)

    @staticmethod
    def check(tokens: int, rows: int, world_size: int, split: str) -> None:
        """Raise ValueError unless ``tokens`` fill ``rows`` rows shared by ``world_size``."""
        if (tokens - 1) // rows < 1:
            raise ValueError(
                f"{split} split: {tokens} tokens cannot fill {rows} rows "
                f"(batch_size); use a smaller batch size"
            )
        if rows % world_size:
            raise ValueError(
                f"batch_size: {rows} stream rows cannot be shared equally by {world_size} "
                f"processes (DDP); expected a multiple of {world_size}"
            )

    def __len__(self) -> int:
        return math.ceil(self.columns / self.length)

    def __getitem__(self, index: int | slice) -> dict[str, torch.Tensor] | list:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if not -len(self) <= index < len(self):
            raise IndexError(f"batch {index} out of range for {len(self)} batches")
        index %= len(self)
        first, last = self.row_range
        start = index * self.length
        end = min(start + self.length, self.columns)
        # Positions in the stream of the batch's tokens: row r, column c -> r * S + c.
        positions = (
            np.arange(first, last, dtype=np.int64)[:, None] * self.columns
            + np.arange(start, end, dtype=np.int64)[None, :]
        )
        tokens = np.asarray(self.stream[positions], dtype=np.int64)
        targets = np.asarray(self.stream[positions + 1], dtype=np.int64)
        found = np.searchsorted(self.starts, positions)
        starts = (found < len(self.starts)) & (
            self.starts[np.minimum(found, max(len(self.starts) - 1, 0))] == positions
            if len(self.starts)
            else np.zeros(positions.shape, dtype=bool)
        )
        return {
            "tokens": torch.from_numpy(tokens),
            "targets": torch.from_numpy(targets),
            "document_starts": torch.from_numpy(np.asarray(starts, dtype=bool)),
        }

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        for index in range(len(self)):
            yield self[index]
