"""A toy datamodule prepared through the cache, for the export and streaming tests.

Its file holds one example per line, ``<split> <label> <word> <word> ...``; an encoded
example is ``{"ids": word ids (uint8, variable length), "label": int64, "index": the example's
number in its split}``, so a test can tell exactly which examples a batch holds. Importable
from every test module (``pythonpath = ["tests"]``) and from the DDP test's subprocess.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rnnkit.data.datamodule import RnnkitDataModule, pad_sequences
from rnnkit.data.io.prepared_cache import narrowest_unsigned

WORDS = ("the", "cat", "sat", "on", "a", "mat", "dog", "ran", "far", "away")


def write_toy_file(path: Path, sizes: dict[str, int]) -> Path:
    """A toy file with ``sizes[split]`` examples per split, of 1 to 9 words each."""
    lines = []
    for split, size in sizes.items():
        for i in range(size):
            words = [WORDS[(i * 7 + k * 3) % len(WORDS)] for k in range(1 + i % 9)]
            lines.append(f"{split} {i % 3} {' '.join(words)}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


class ToyDataModule(RnnkitDataModule):
    """Labelled word sequences from one file (see the module docstring)."""

    task = "toy"

    def __init__(
        self,
        path: str,
        batch_size: int = 4,
        num_workers: int = 0,
        seed: int = 0,
        cache_dir: str | None = None,
        rebuild_cache: bool = False,
        prepare_workers: int | None = 0,
    ) -> None:
        super().__init__(batch_size, num_workers, seed, cache_dir, rebuild_cache, prepare_workers)
        self.path = str(path)
        self.vocab: list[str] = []
        self._reads = 0

    def source_files(self) -> list[Path]:
        return [Path(self.path)]

    def load_split(self, split: str) -> Iterator[dict[str, Any]]:
        self._reads += 1
        index = 0
        with open(self.path, encoding="utf-8") as handle:
            for line in handle:
                name, label, *words = line.split()
                if name == split:
                    yield {"words": words, "label": int(label), "index": index}
                    index += 1

    def fit_artifacts(self, train_examples: Iterable[dict[str, Any]]) -> None:
        counts: Counter = Counter()
        for example in train_examples:
            counts.update(example["words"])
        self.vocab = ["<pad>", *sorted(counts)]

    def artifacts(self) -> dict[str, Any]:
        return {"vocab": self.vocab}

    def load_artifacts(self, artifacts: dict[str, Any]) -> None:
        self.vocab = list(artifacts["vocab"])

    def encoded_fields(self) -> dict[str, tuple[Any, bool]]:
        return {
            "ids": (narrowest_unsigned(len(self.vocab) - 1), True),
            "label": (np.int64, False),
            "index": (np.int64, False),
        }

    def encode(self, example: dict[str, Any]) -> dict[str, Any]:
        index = {word: i for i, word in enumerate(self.vocab)}
        return {
            "ids": [index[w] for w in example["words"]],
            "label": example["label"],
            "index": example["index"],
        }

    def collate(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        ids, lengths = pad_sequences([e["ids"] for e in examples])
        return {
            "ids": ids,
            "lengths": lengths,
            "label": torch.tensor([e["label"] for e in examples]),
            "index": torch.tensor([e["index"] for e in examples]),
        }

    @property
    def spec(self) -> dict[str, Any]:
        return {"vocab_size": len(self.vocab)}


def toy_datamodule(tmp_path: Path, sizes: dict[str, int], **kwargs: Any) -> ToyDataModule:
    """A ToyDataModule on a new toy file in ``tmp_path``, cached under ``tmp_path/cache``."""
    path = write_toy_file(tmp_path / "toy.txt", sizes)
    return ToyDataModule(str(path), **{"cache_dir": str(tmp_path / "cache"), **kwargs})
