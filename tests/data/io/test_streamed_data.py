"""Streaming an export: batches equal the cached ones, every process reads every example
exactly once per epoch in the same number of batches, and a datamodule streams without its
files (the base class's stream_from, for any subclass; language modelling's contiguous rows)."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

pytest.importorskip("datasets")

from rnnkit.data.io import streamed_split  # noqa: E402
from rnnkit.data.io.parquet_export import export_prepared  # noqa: E402
from rnnkit.data.io.sharded_batches import ShardedBatches, epoch_rounds  # noqa: E402
from rnnkit.data.io.streamed_split import (  # noqa: E402
    Export,
    StreamedBatches,
    StreamedSplit,
    batch_sizes,
    rank_share,
)
from rnnkit.data.language_modeling.text_files import TextFilesDataModule  # noqa: E402
from toy_prepared_data import ToyDataModule, toy_datamodule  # noqa: E402

SRC = Path(__file__).resolve().parents[3] / "src"
TESTS = Path(__file__).resolve().parents[2]


def exported(tmp_path, sizes, shard_examples=None, shard_multiple=1, **kwargs):
    datamodule = toy_datamodule(tmp_path, sizes, **kwargs)
    datamodule.setup()
    url = str(tmp_path / "export")
    export_prepared(datamodule, url, shard_examples, shard_multiple)
    return datamodule, url


def same_batches(first, second):
    assert len(first) == len(second)
    for mine, theirs in zip(first, second):
        assert mine.keys() == theirs.keys()
        for key in mine:
            assert torch.equal(mine[key], theirs[key]), key


# ---- sharing out, on the counts alone --------------------------------------------------


@pytest.mark.parametrize(
    ("examples", "batches", "batch_size", "expected"),
    [(10, 3, 4, (4, 4, 2)), (9, 2, 4, (4, 5)), (10, 2, 3, (5, 5)), (5, 3, 4, (2, 2, 1))],
)
def test_batch_sizes_are_the_batch_size_when_they_fit_else_near_equal(
    examples, batches, batch_size, expected
):
    assert batch_sizes(examples, batches, batch_size) == expected


def test_every_rank_gets_the_same_batch_count_and_all_examples_once():
    for total, batch_size, world_size, shards in itertools.product(
        [1, 2, 7, 23, 64, 101], [1, 3, 8], [1, 2, 3, 4], [1, 2, 4, 6, 7]
    ):
        if total < world_size:
            continue  # fewer examples than processes: refused by epoch_rounds
        counts = [len(part) for part in np.array_split(np.arange(total), min(shards, total))]
        rounds = len(epoch_rounds(total, batch_size, world_size))
        shares = [rank_share(counts, batch_size, r, world_size) for r in range(world_size)]
        assert {share.rule for share in shares} == {shares[0].rule}
        assert sum(share.examples for share in shares) == total
        for share in shares:
            assert len(share.batch_sizes) == rounds
            assert sum(share.batch_sizes) == share.examples
            assert min(share.batch_sizes) >= 1
        if shares[0].rule == "shards":
            dealt = sorted(i for share in shares for i in share.shards)
            assert dealt == list(range(len(counts)))


def test_shards_go_to_processes_only_when_their_count_divides():
    assert rank_share([5, 5, 5, 5], 2, 1, 2).rule == "shards"
    assert rank_share([5, 5, 5, 5], 2, 1, 2).shards == (1, 3)
    assert rank_share([5, 5, 5], 2, 1, 2).rule == "examples"
    # shards too unequal: a process would have fewer examples than batches
    assert rank_share([19, 1], 2, 0, 2).rule == "examples"


# ---- streaming a toy export --------------------------------------------------------------


@pytest.mark.parametrize("shard_examples", [None, 4])
def test_streamed_batches_equal_the_cached_ones(tmp_path, shard_examples):
    datamodule, url = exported(tmp_path, {"train": 23, "val": 7, "test": 5}, shard_examples)
    export = Export(url, cache_dir=tmp_path / "hf")
    for split in ("train", "val", "test"):
        cached = ShardedBatches(datamodule.datasets[split], datamodule.collate, 4, shuffle=False)
        streamed = export.split(split).batches(datamodule.collate, 4, shuffle=False)
        assert len(streamed) == len(cached)
        same_batches(list(streamed), list(cached))


@pytest.mark.parametrize(
    ("examples", "batch_size", "world_size", "shard_examples", "shard_multiple"),
    [
        (23, 4, 2, 5, 1),  # 5 shards: examples rule
        (23, 4, 2, 6, 2),  # 4 shards: shards rule
        (23, 2, 3, 8, 1),  # 3 shards: shards rule
        (23, 5, 4, 23, 1),  # 1 shard: examples rule
        (10, 3, 4, 2, 1),  # the last round merged
        (41, 3, 2, 7, 2),
    ],
)
def test_simulated_ranks_read_every_example_once_per_epoch(
    tmp_path, examples, batch_size, world_size, shard_examples, shard_multiple
):
    datamodule, url = exported(
        tmp_path, {"train": examples, "val": 3, "test": 3}, shard_examples, shard_multiple
    )
    split = Export(url, cache_dir=tmp_path / "hf").split("train")
    rounds = len(epoch_rounds(examples, batch_size, world_size))
    for shuffle in (False, True):
        ranks = [
            StreamedBatches(split, datamodule.collate, batch_size, shuffle, 7, r, world_size)
            for r in range(world_size)
        ]
        orders = []
        for _ in range(2):  # epochs
            seen = []
            for rank in ranks:
                batches = list(rank)
                assert len(batches) == len(rank) == rounds
                assert all(len(b["index"]) >= 1 for b in batches)
                seen += [i for b in batches for i in b["index"].tolist()]
            assert sorted(seen) == list(range(examples))
            orders.append(seen)
        assert (orders[0] != orders[1]) == shuffle


def test_shuffled_batches_stay_within_a_processs_shards(tmp_path):
    datamodule, url = exported(tmp_path, {"train": 40, "val": 3, "test": 3}, 10)
    split = Export(url, cache_dir=tmp_path / "hf").split("train")
    rank = StreamedBatches(split, datamodule.collate, 4, shuffle=True, rank=1, world_size=2)
    assert rank.share.rule == "shards" and rank.share.shards == (1, 3)
    for _ in range(2):
        seen = sorted(i for b in rank for i in b["index"].tolist())
        assert seen == [*range(10, 20), *range(30, 40)]


def test_a_stream_that_does_not_match_its_manifest_is_an_error(tmp_path):
    datamodule, url = exported(tmp_path, {"train": 20, "val": 3, "test": 3}, 10)
    manifest_path = Path(url) / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["splits"]["train"]["shards"][0]["examples"] = 11
    manifest["splits"]["train"]["examples"] = 21
    manifest_path.write_text(json.dumps(manifest))
    batches = (
        Export(url, cache_dir=tmp_path / "hf")
        .split("train")
        .batches(datamodule.collate, 4, shuffle=False)
    )
    with pytest.raises(RuntimeError, match="streamed 20 examples of the train split, the manif"):
        list(batches)


def test_a_missing_export_names_its_url(tmp_path):
    url = f"memory://nothing-{tmp_path.name}/here"
    with pytest.raises(FileNotFoundError) as error:
        Export(url)
    assert str(error.value).startswith(f"{url}: no manifest.json; expected a complete export")
    assert "\n" not in str(error.value)


# ---- a datamodule that streams -------------------------------------------------------------


def test_any_datamodule_streams_from_an_export_without_its_files(tmp_path):
    datamodule, url = exported(tmp_path, {"train": 23, "val": 7, "test": 5}, 4)
    os.remove(datamodule.path)
    streamed = ToyDataModule.from_config(
        path=datamodule.path,
        batch_size=4,
        cache_dir=str(tmp_path / "cache"),
        stream_from=url,
        stream_options={},
    )
    assert streamed.streamed and streamed.stream_from == url
    streamed.prepare_data()
    streamed.setup("fit")
    assert streamed._reads == 0
    assert streamed.artifacts() == datamodule.artifacts()
    assert all(isinstance(streamed.datasets[s], StreamedSplit) for s in ("train", "val", "test"))
    assert streamed.summary()["train_examples"] == 23
    assert "stream_from" not in streamed.preparation_settings()
    same_batches(list(streamed.val_dataloader()), list(datamodule.val_dataloader()))
    indices = sorted(i for b in streamed.train_dataloader() for i in b["index"].tolist())
    assert indices == list(range(23))


def test_a_datamodule_refuses_another_datamodules_export(tmp_path):
    _, url = exported(tmp_path, {"train": 5, "val": 2, "test": 2})
    language = TextFilesDataModule(train_file="x.txt", split_fractions=[0.5, 0.5])
    language.stream_from = url
    with pytest.raises(ValueError, match="was exported from toy_prepared_data.ToyDataModule"):
        language.setup()


def test_a_checkpoints_vocabulary_must_match_the_exports(tmp_path):
    datamodule, url = exported(tmp_path, {"train": 5, "val": 2, "test": 2})
    restored = ToyDataModule.from_config(path="gone.txt", stream_from=url)
    restored.restore({"vocab": ["<pad>", "other"]})
    with pytest.raises(ValueError, match="encoded with other vocabularies or label maps"):
        restored.setup()


def test_worker_processes_are_refused(tmp_path, monkeypatch):
    datamodule, url = exported(tmp_path, {"train": 8, "val": 2, "test": 2})
    batches = (
        Export(url, cache_dir=tmp_path / "hf")
        .split("train")
        .batches(datamodule.collate, 2, shuffle=False)
    )
    # What a DataLoader worker sees (a real one takes seconds to start and stop).
    worker = SimpleNamespace(id=0, num_workers=2)
    monkeypatch.setattr(streamed_split, "get_worker_info", lambda: worker)
    with pytest.raises(RuntimeError, match="without worker processes"):
        list(batches)


# ---- language modelling: each process's contiguous rows --------------------------------------


@pytest.fixture
def language(tmp_path, monkeypatch):
    monkeypatch.setattr(TextFilesDataModule, "PIECE_CHARACTERS", 2_000)
    text = "".join(f"line {i}: the {i * 7 % 13} cats sat.\n" for i in range(3_000))
    (tmp_path / "play.txt").write_text(text, encoding="utf-8")
    settings = {
        "path": str(tmp_path),
        "train_file": "play.txt",
        "split_fractions": [0.8, 0.1, 0.1],
        "batch_size": 8,
        "eval_batch_size": 4,
        "sequence_length": 16,
        "cache_dir": str(tmp_path / "cache"),
        "prepare_workers": 0,
    }
    cached = TextFilesDataModule(**settings)
    cached.setup()
    url = f"memory://language-{tmp_path.name}"
    manifest = export_prepared(cached, url, shard_examples=3)
    assert len(manifest["splits"]["train"]["shards"]) > 4
    (tmp_path / "play.txt").unlink()
    streamed = TextFilesDataModule.from_config(**settings, stream_from=url)
    streamed.setup()
    return cached, streamed


@pytest.mark.parametrize("world_size", [1, 2, 4])
def test_language_model_rows_equal_the_cached_ones_on_every_rank(language, world_size):
    cached, streamed = language
    for split in ("train", "val", "test"):
        for rank in range(world_size):
            same_batches(
                list(streamed.stream_batches(split, rank=rank, world_size=world_size)),
                list(cached.stream_batches(split, rank=rank, world_size=world_size)),
            )


def test_language_model_reads_only_the_shards_of_its_rows(language, monkeypatch):
    cached, streamed = language
    split = streamed.datasets["train"]
    read = []
    tables = StreamedSplit.tables

    def recording(self, shards, columns=None):
        read.extend(shards)
        return tables(self, shards, columns)

    monkeypatch.setattr(StreamedSplit, "tables", recording)
    streamed.stream_batches("train", rank=3, world_size=4)
    assert 0 < len(read) < len(split.shards) and 0 not in read
    assert streamed.summary() == cached.summary()
    with pytest.raises(ValueError, match="train split: streamed from memory://"):
        streamed.stream("train")


# ---- two DDP processes ------------------------------------------------------------------------

DDP_SCRIPT = """
import json, os, sys
import pytorch_lightning as pl
import torch
from toy_prepared_data import ToyDataModule

class Recorder(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.seen = {"train": [], "val": []}

    def training_step(self, batch, index):
        self.seen["train"].append([self.current_epoch, batch["index"].tolist()])
        return (self.weight * batch["label"].float()).sum()

    def validation_step(self, batch, index):
        self.seen["val"].append([self.current_epoch, batch["index"].tolist()])

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.0)

    def on_fit_end(self):
        with open(os.path.join(sys.argv[2], f"rank{self.global_rank}.json"), "w") as handle:
            json.dump(self.seen, handle)

if __name__ == "__main__":
    data = ToyDataModule.from_config(
        path="gone.txt", batch_size=3, cache_dir=sys.argv[2], stream_from=sys.argv[1]
    )
    trainer = pl.Trainer(
        accelerator="cpu", devices=2, strategy="ddp", max_epochs=2, logger=False,
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        num_sanity_val_steps=0,
    )
    trainer.fit(Recorder(), datamodule=data)
"""


@pytest.mark.slow
def test_two_ddp_processes_read_every_training_example_once_per_epoch(tmp_path):
    _, url = exported(tmp_path, {"train": 29, "val": 11, "test": 3}, 4, 1)
    script = tmp_path / "ddp_run.py"
    script.write_text(textwrap.dedent(DDP_SCRIPT))
    environment = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), str(TESTS)]),
        "OMP_NUM_THREADS": "1",
    }
    for key in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_PORT"):
        environment.pop(key, None)
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, str(script), url, str(tmp_path)],
        env=environment,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    seen = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    for split, size in (("train", 29), ("val", 11)):
        steps = [len(rank[split]) for rank in seen]
        assert steps[0] == steps[1] == 2 * len(epoch_rounds(size, 3, 2))
        for epoch in range(2):
            indices = [i for rank in seen for e, batch in rank[split] if e == epoch for i in batch]
            assert sorted(indices) == list(range(size)), (split, epoch)
    assert time.perf_counter() - started < 300
