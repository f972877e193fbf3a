"""Language-modelling data: documents as one contiguous token stream, batched as PTB is."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader, IterableDataset

from rnnkit.data.datamodule import RnnkitDataModule
from rnnkit.data.io.vocabulary import EOS, PAD, UNK, Vocabulary

LEVELS = ("char", "word")


class LanguageModelingDataModule(RnnkitDataModule):
    """Documents in, contiguous next-token batches out (Zaremba et al. 2014's PTB batching).

    A raw example is a document ``{"text": str}`` (optionally ``"name"``). Tokens are
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
        min_frequency, max_vocab_size: vocabulary cut-offs (rarer tokens become ``<unk>``).
        lowercase: lower-case the text first.
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
        max_vocab_size: int | None = None,
        lowercase: bool = False,
    ) -> None:
        super().__init__(batch_size, num_workers, seed)
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

    def fit_artifacts(self, train_examples: list[dict[str, Any]]) -> None:
        if not train_examples:
            raise ValueError("train split: expected at least one document, got none")
        documents = [self.tokenize(self._text(e)) for e in train_examples]
        specials = (PAD, UNK) if self.level == "char" else (PAD, UNK, EOS)
        self.vocab = Vocabulary.fit(
            documents,
            specials=specials,
            min_frequency=self.min_frequency,
            max_size=self.max_vocab_size,
        )
        counts = Counter(i for doc in documents for i in self.vocab.encode(doc))
        self.train_counts = [counts.get(i, 0) for i in range(len(self.vocab))]

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

    def encode(self, example: dict[str, Any]) -> list[int]:
        return self.vocab.encode(self.tokenize(self._text(example)))

    def stream_batches(self, split: str, batch_size: int | None = None) -> list[dict[str, Any]]:
        """The split's contiguous batches (see the class docstring), in order."""
        rows = batch_size or (self.batch_size if split == "train" else self.eval_batch_size)
        stream = torch.tensor([i for doc in self.datasets[split] for i in doc], dtype=torch.long)
        columns = (len(stream) - 1) // rows
        if columns < 1:
            raise ValueError(
                f"{split} split: {len(stream)} tokens cannot fill {rows} rows "
                f"(batch_size); use a smaller batch size"
            )
        inputs = stream[: rows * columns].view(rows, columns)
        targets = stream[1 : rows * columns + 1].view(rows, columns)
        starts = torch.zeros(len(stream), dtype=torch.bool)
        offsets = torch.tensor([0] + [len(doc) for doc in self.datasets[split]]).cumsum(0)[:-1]
        starts[offsets[offsets < len(stream)]] = True  # an empty document starts nothing
        starts = starts[: rows * columns].view(rows, columns)
        length = self.sequence_length
        return [
            {
                "tokens": inputs[:, start : start + length].contiguous(),
                "targets": targets[:, start : start + length].contiguous(),
                "document_starts": starts[:, start : start + length].contiguous(),
            }
            for start in range(0, columns, length)
        ]

    def rank_batches(
        self, batches: list[dict[str, Any]], rank: int, world_size: int
    ) -> list[dict[str, Any]]:
        """Rank ``rank``'s share of every batch: its own block of the ``B`` stream rows.

        Under DDP each of the ``world_size`` processes reads rows ``[rank * B / W, (rank + 1) *
        B / W)`` of every batch (``B`` must be a multiple of ``W``), so a rank's consecutive
        batches stay contiguous text for its carried state, and the ranks together still read
        every row once: the distributed form of the same stream batching.
        """
        if world_size == 1:
            return batches
        rows = batches[0]["tokens"].shape[0] if batches else 0
        if rows % world_size:
            raise ValueError(
                f"batch_size: {rows} stream rows cannot be shared equally by {world_size} "
                f"processes (DDP); expected a multiple of {world_size}"
            )
        return [{k: v.tensor_split(world_size)[rank] for k, v in b.items()} for b in batches]

    def _stream_loader(self, split: str) -> DataLoader:
        batches = self.stream_batches(split)
        trainer = getattr(self, "trainer", None)
        if trainer is not None and trainer.world_size > 1:
            batches = self.rank_batches(batches, trainer.global_rank, trainer.world_size)
        # An iterable dataset: Lightning adds no distributed sampler, which would deal whole
        # batches out to the ranks in turn and break each rank's contiguous stream. No worker
        # processes: the batches are ready-made, and each worker would replay all of them.
        return DataLoader(StreamBatches(batches), batch_size=None, num_workers=0)

    def train_dataloader(self) -> DataLoader:
        return self._stream_loader("train")

    def val_dataloader(self) -> DataLoader:
        return self._stream_loader("val")

    def test_dataloader(self) -> DataLoader:
        return self._stream_loader("test")

    def summary(self) -> dict[str, Any]:
        tokens = {
            f"{split}_tokens": sum(len(d) for d in docs) for split, docs in self.datasets.items()
        }
        batches = (
            math.ceil(((tokens["train_tokens"] - 1) // self.batch_size) / self.sequence_length)
            if "train_tokens" in tokens
            else None
        )
        return {**super().summary(), **tokens, "train_batches_per_epoch": batches}

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


class StreamBatches(IterableDataset):
    """Ready-made batches, in order (an iterable dataset, so no sampler reorders them)."""

    def __init__(self, batches: list[dict[str, Any]]) -> None:
        self.batches = batches

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)
