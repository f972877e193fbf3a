"""Text classification data (sentiment): sentences with one label each."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from rnnkit.data.datamodule import RnnkitDataModule, pad_sequences
from rnnkit.data.io.vocabulary import Vocabulary


class TextClassificationDataModule(RnnkitDataModule):
    """Sentences and labels; subclasses say where raw ``{"text", "label"}`` examples come from.

    Text is split on whitespace (lower-cased when ``lowercase``). The vocabulary and the label
    set are fitted on the training split. Batches: ``tokens (N, L)`` long, ``lengths (N,)``,
    ``labels (N,)`` (absent for unlabelled prediction input).
    """

    task = "sentiment"

    def __init__(
        self,
        batch_size: int = 32,
        num_workers: int = 0,
        seed: int = 0,
        lowercase: bool = True,
        min_frequency: int = 1,
        max_vocab_size: int | None = None,
    ) -> None:
        super().__init__(batch_size, num_workers, seed)
        self.lowercase = lowercase
        self.min_frequency = min_frequency
        self.max_vocab_size = max_vocab_size
        self.vocab: Vocabulary | None = None
        self.labels: list[str] = []

    def tokenize(self, text: str) -> list[str]:
        return (text.lower() if self.lowercase else text).split()

    def fit_artifacts(self, train_examples: list[dict[str, Any]]) -> None:
        self.vocab = Vocabulary.fit(
            (self.tokenize(e["text"]) for e in train_examples),
            min_frequency=self.min_frequency,
            max_size=self.max_vocab_size,
        )
        self.labels = sorted({str(e["label"]) for e in train_examples})

    def artifacts(self) -> dict[str, Any]:
        return {"vocab": self.vocab.to_json(), "labels": self.labels}

    def load_artifacts(self, artifacts: dict[str, Any]) -> None:
        self.vocab = Vocabulary.from_json(artifacts["vocab"])
        self.labels = list(artifacts["labels"])

    def encode(self, example: dict[str, Any]) -> tuple[list[int], int]:
        tokens = self.tokenize(example["text"])
        if not tokens:
            raise ValueError(f"empty sentence in {example.get('source', 'the data')}")
        label = example.get("label")
        if label is None:
            return self.vocab.encode(tokens), -1
        if str(label) not in self.labels:
            raise ValueError(
                f"unknown label {label!r} in {example.get('source', 'the data')}: expected one "
                f"of the training labels {self.labels}"
            )
        return self.vocab.encode(tokens), self.labels.index(str(label))

    def collate(self, examples: list[tuple[list[int], int]]) -> dict[str, torch.Tensor]:
        tokens, lengths = pad_sequences([ids for ids, _ in examples], self.vocab.pad_index)
        return {
            "tokens": tokens,
            "lengths": lengths,
            "labels": torch.tensor([label for _, label in examples], dtype=torch.long),
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
