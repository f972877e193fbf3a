"""Two CPU DDP processes train a toy model on a toy prepared datamodule; each writes the example
indices it saw. Run by test_ddp_exactly_once.py (pytest does not collect this file).

Usage: python ddp_exactly_once_script.py DATA_FOLDER OUTPUT_FOLDER CACHE_FOLDER [--rebuild]

``DATA_FOLDER`` holds ``train.txt``, ``val.txt``, ``test.txt``: one example index per line.
Like rnnkit-train, every process sets the datamodule up before the Trainer exists (prepared
into ``CACHE_FOLDER``), then fits. ``OUTPUT_FOLDER/rank<r>.json`` gets, per rank, the indices
seen by training_step and validation_step per epoch, and the datamodule's load_split calls.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch

from rnnkit.data.datamodule import SPLITS, RnnkitDataModule, pad_sequences


class IndexedLines(RnnkitDataModule):
    """Example ``i`` carries its index and ``i % 4`` tokens (to be padded)."""

    task = "toy"

    def __init__(self, folder: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.folder = folder
        self._calls: Counter = Counter()

    def source_files(self) -> list[Path]:
        return [Path(self.folder) / f"{split}.txt" for split in SPLITS]

    def load_split(self, split):
        self._calls[split] += 1
        with open(Path(self.folder) / f"{split}.txt", encoding="utf-8") as lines:
            for line in lines:
                yield int(line)

    def fit_artifacts(self, train_examples) -> None:
        for _ in train_examples:
            pass

    def artifacts(self):
        return {}

    def load_artifacts(self, artifacts) -> None:
        pass

    def encoded_fields(self):
        return {"index": (np.int64, False), "tokens": (np.uint8, True)}

    def encode(self, example):
        return {"index": example, "tokens": [1] * (example % 4)}

    def collate(self, examples):
        tokens, lengths = pad_sequences([[0, *e["tokens"]] for e in examples])
        return {"index": torch.tensor([e["index"] for e in examples]), "tokens": tokens}

    @property
    def spec(self):
        return {}


class Recorder(pl.LightningModule):
    """Records the example indices of every training and validation step, per epoch."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(()))
        self.seen: dict[str, dict[int, list[int]]] = {"train": {}, "val": {}}

    def _record(self, stage: str, batch) -> None:
        assert len(batch["index"]) > 0
        epoch = self.current_epoch
        self.seen[stage].setdefault(epoch, []).extend(batch["index"].tolist())

    def training_step(self, batch, batch_index):
        self._record("train", batch)
        return (self.weight * batch["tokens"].float()).mean() + self.weight**2

    def validation_step(self, batch, batch_index):
        if not self.trainer.sanity_checking:
            self._record("val", batch)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def main(data: str, output: str, cache: str, rebuild: bool) -> None:
    datamodule = IndexedLines(
        data, batch_size=4, cache_dir=cache, rebuild_cache=rebuild, prepare_workers=0
    )
    datamodule.setup("fit")
    model = Recorder()
    trainer = pl.Trainer(
        accelerator="cpu",
        devices=2,
        strategy="ddp",
        max_epochs=2,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(model, datamodule=datamodule)
    record = {
        "rank": trainer.global_rank,
        "world_size": trainer.world_size,
        "seen": model.seen,
        "load_split_calls": dict(datamodule._calls),
        "steps": trainer.global_step,
    }
    path = Path(output) / f"rank{trainer.global_rank}.json"
    path.write_text(json.dumps(record), encoding="utf-8")


if __name__ == "__main__":
    torch.set_num_threads(1)
    main(*sys.argv[1:4], rebuild="--rebuild" in sys.argv[4:])
