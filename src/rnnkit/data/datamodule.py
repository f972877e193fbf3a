"""The datamodule contract every rnnkit dataset follows."""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

SPLITS = ("train", "val", "test")


class RnnkitDataModule(pl.LightningDataModule):
    """Base class: raw splits in, padded tensor batches out, fitted state as JSON.

    A subclass reads raw examples (:meth:`load_split`), fits what it learns from data on the
    training split only (:meth:`fit_artifacts`: vocabularies, label maps, scalers), encodes
    examples (:meth:`encode`) and pads them into batches (:meth:`collate`). It tells the task
    the sizes the model needs through :attr:`spec` (vocabulary size, number of labels, ...),
    so nobody writes them in YAML.

    Everything fitted is returned by :meth:`artifacts` as plain JSON-able data and restored by
    :meth:`load_artifacts`; checkpoints carry it, so eval and predict reuse the training
    vocabulary exactly.

    ``task`` names the task this data is for; a checkpoint of another task is refused.
    """

    task: str = ""

    def __init__(self, batch_size: int = 32, num_workers: int = 0, seed: int = 0) -> None:
        super().__init__()
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size: expected a positive integer, got {batch_size!r}")
        if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0:
            raise ValueError(f"num_workers: expected an integer >= 0, got {num_workers!r}")
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.seed = seed
        self.fitted = False
        self.datasets: dict[str, list[Any]] = {}

    # ---- what a subclass defines -------------------------------------------------------

    def load_split(self, split: str) -> list[Any]:
        """Raw examples of ``split`` (one of train, val, test)."""
        raise NotImplementedError

    def fit_artifacts(self, train_examples: list[Any]) -> None:
        """Learn vocabularies / label maps / scalers from the training examples only."""
        raise NotImplementedError

    def artifacts(self) -> dict[str, Any]:
        """What :meth:`fit_artifacts` learned, as JSON-able data."""
        raise NotImplementedError

    def load_artifacts(self, artifacts: dict[str, Any]) -> None:
        """Restore what :meth:`artifacts` returned; marks the module fitted."""
        raise NotImplementedError

    def encode(self, example: Any) -> Any:
        """One raw example to what :meth:`collate` consumes."""
        raise NotImplementedError

    def collate(self, examples: list[Any]) -> dict[str, Any]:
        """A list of encoded examples to a batch dict of tensors."""
        raise NotImplementedError

    @property
    def spec(self) -> dict[str, Any]:
        """Sizes the model needs from the data (available once fitted)."""
        raise NotImplementedError

    def parse_raw(self, raw: str) -> list[Any]:
        """Raw user input (a sentence, a file path, ...) to raw examples, for prediction."""
        raise NotImplementedError

    def summary(self) -> dict[str, Any]:
        """A few lines for the run's opening summary: sizes, vocabularies, label scheme."""
        sizes = {f"{split}_examples": len(data) for split, data in self.datasets.items()}
        return {**sizes, **self.spec}

    # ---- shared machinery --------------------------------------------------------------

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        raw = {split: self.load_split(split) for split in SPLITS}
        if not self.fitted:
            self.fit_artifacts(raw["train"])
            self.fitted = True
        self.datasets = {
            split: [self.encode(e) for e in examples] for split, examples in raw.items()
        }

    def restore(self, artifacts: dict[str, Any]) -> None:
        """Restore fitted state from a checkpoint instead of fitting it again."""
        self.load_artifacts(artifacts)
        self.fitted = True

    def batch_from_raw(self, raw: str) -> dict[str, Any]:
        """Prediction input: raw user input encoded and collated into one batch."""
        return self.collate([self.encode(example) for example in self.parse_raw(raw)])

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        generator = torch.Generator().manual_seed(self.seed)
        return DataLoader(
            self.datasets[split],
            batch_size=self.batch_size,
            shuffle=shuffle,
            collate_fn=self.collate,
            num_workers=self.num_workers,
            generator=generator,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)


def pad_sequences(
    sequences: list[list[int]], pad_value: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad id lists into ``(N, L_max)`` long ids and ``(N,)`` lengths."""
    lengths = torch.tensor([len(s) for s in sequences], dtype=torch.long)
    padded = torch.full((len(sequences), int(lengths.max())), pad_value, dtype=torch.long)
    for row, sequence in enumerate(sequences):
        padded[row, : len(sequence)] = torch.tensor(sequence, dtype=torch.long)
    return padded, lengths
