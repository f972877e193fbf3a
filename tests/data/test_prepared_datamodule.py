"""RnnkitDataModule's preparation: prepared once per files and settings, then read mapped."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import pytorch_lightning as pl
import torch

from rnnkit.data.datamodule import SPLITS, RnnkitDataModule, pad_sequences
from rnnkit.data.io.prepared_cache import MappedSplit, narrowest_unsigned

PAD, UNK = "<pad>", "<unk>"
LINES = {
    "train": ["pos\tA good film", "neg\tA bad film", "pos\tgood good FUN", "neg\tbad Plot"],
    "val": ["pos\tgood new film", "neg\tbad"],
    "test": ["neg\tunseen words here", "pos\tfun"],
}


class ToyText(RnnkitDataModule):
    """``<folder>/<split>.txt`` of ``label<TAB>text`` lines; words below ``min_frequency`` are
    unknown. Counts its :meth:`load_split` calls by split."""

    task = "toy"

    def __init__(self, folder, lowercase: bool = True, min_frequency: int = 1, **kwargs) -> None:
        super().__init__(**kwargs)
        self.folder = str(folder)
        self.lowercase = lowercase
        self.min_frequency = min_frequency
        # Learned by fit_artifacts, plain lists: they are part of preparation_settings().
        self.words: list[str] = []
        self.labels: list[str] = []
        self._ids: dict[str, int] = {}
        self._calls: Counter = Counter()

    def source_files(self) -> list[Path]:
        return [Path(self.folder) / f"{split}.txt" for split in SPLITS]

    def load_split(self, split):
        self._calls[split] += 1
        with open(Path(self.folder) / f"{split}.txt", encoding="utf-8") as lines:
            for line in lines:
                label, text = line.rstrip("\n").split("\t")
                yield label, (text.lower() if self.lowercase else text).split()

    def fit_artifacts(self, train_examples) -> None:
        frequencies: Counter = Counter()
        labels = set()
        for label, words in train_examples:
            frequencies.update(words)
            labels.add(label)
        kept = sorted(w for w, count in frequencies.items() if count >= self.min_frequency)
        self.load_artifacts({"words": [PAD, UNK, *kept], "labels": sorted(labels)})

    def artifacts(self):
        return {"words": self.words, "labels": self.labels}

    def load_artifacts(self, artifacts) -> None:
        self.words, self.labels = list(artifacts["words"]), list(artifacts["labels"])
        self._ids = {word: index for index, word in enumerate(self.words)}

    def encoded_fields(self):
        return {
            "tokens": (narrowest_unsigned(len(self.words) - 1), True),
            "label": (np.int64, False),
        }

    def encode_counts(self, example, counts: Counter):
        label, words = example
        ids = [self._ids.get(word, 1) for word in words]
        counts["unknown_tokens"] += ids.count(1)
        counts["tokens"] += len(ids)
        return {"tokens": ids, "label": self.labels.index(label)}

    def encode(self, example):
        return self.encode_counts(example, Counter())

    def collate(self, examples):
        tokens, lengths = pad_sequences([e["tokens"] for e in examples])
        labels = torch.tensor([e["label"] for e in examples])
        return {"tokens": tokens, "lengths": lengths, "labels": labels}

    @property
    def spec(self):
        return {"vocab_size": len(self.words), "num_labels": len(self.labels)}


def write_files(folder: Path, lines=LINES) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for split, rows in lines.items():
        (folder / f"{split}.txt").write_text("".join(f"{row}\n" for row in rows))
    return folder


@pytest.fixture
def files(tmp_path) -> Path:
    return write_files(tmp_path / "data")


def toy(files, tmp_path, **kwargs) -> ToyText:
    kwargs = {"cache_dir": tmp_path / "prepared", "batch_size": 2, "prepare_workers": 0, **kwargs}
    return ToyText(files, **kwargs)


def arrays(datamodule) -> dict:
    """Every split's examples as lists, to compare preparations."""
    return {
        split: [{k: np.asarray(v).tolist() for k, v in item.items()} for item in data]
        for split, data in datamodule.datasets.items()
    }


def prepared_folders(tmp_path) -> list[str]:
    return sorted(path.name for path in (tmp_path / "prepared").iterdir())


def wait_a_clock_tick():
    time.sleep(0.02)  # file times advance in clock ticks (see test_prepared_cache.py)


def test_first_setup_prepares_and_maps_the_splits(files, tmp_path):
    datamodule = toy(files, tmp_path)
    datamodule.setup("fit")
    # One pass over train to fit, one per split to encode.
    assert datamodule._calls == {"train": 2, "val": 1, "test": 1}
    assert all(isinstance(datamodule.datasets[split], MappedSplit) for split in SPLITS)
    assert datamodule.words == [PAD, UNK, "a", "bad", "film", "fun", "good", "plot"]
    ids = {word: index for index, word in enumerate(datamodule.words)}
    first = datamodule.datasets["train"][0]
    assert first["tokens"].dtype == np.uint8
    assert first["tokens"].tolist() == [ids["a"], ids["good"], ids["film"]]
    assert first["label"] == datamodule.labels.index("pos")
    assert datamodule.datasets["test"][0]["tokens"].tolist() == [1, 1, 1]
    folder = Path(datamodule.preparation["folder"])
    assert folder.parent == tmp_path / "prepared" and folder.name.startswith("ToyText-")
    assert prepared_folders(tmp_path) == [folder.name]


def test_unknown_and_total_tokens_are_counted_per_split(files, tmp_path):
    datamodule = toy(files, tmp_path)
    datamodule.setup("fit")
    expected = {
        "train_unknown_tokens": 0,
        "train_tokens": 11,
        "val_unknown_tokens": 1,  # new
        "val_tokens": 4,
        "test_unknown_tokens": 3,  # unseen words here
        "test_tokens": 4,
    }
    assert datamodule.preparation["counts"] == expected
    summary = datamodule.summary()
    assert summary["val_unknown_tokens"] == 1 and summary["train_examples"] == 4
    # The counts are kept with the prepared data: a cached run reports them too.
    cached = toy(files, tmp_path)
    cached.setup("fit")
    assert cached.preparation["counts"] == expected
    assert cached.summary() == summary


def test_second_setup_reads_the_cache_without_reading_the_files(files, tmp_path):
    first = toy(files, tmp_path)
    first.setup("fit")
    second = toy(files, tmp_path)
    second.setup("fit")
    assert second._calls == {}
    assert second.fitted and second.artifacts() == first.artifacts()
    assert second.spec == first.spec
    assert arrays(second) == arrays(first)
    assert prepared_folders(tmp_path) == [Path(second.preparation["folder"]).name]


def test_an_edited_file_rebuilds(files, tmp_path):
    toy(files, tmp_path).setup("fit")
    wait_a_clock_tick()
    (files / "val.txt").write_text("neg\tgood new film\npos\tbad\n")  # same size
    edited = toy(files, tmp_path)
    edited.setup("fit")
    assert edited._calls == {"train": 2, "val": 1, "test": 1}
    assert [item["label"] for item in edited.datasets["val"]] == [0, 1]
    assert len(prepared_folders(tmp_path)) == 2


@pytest.mark.parametrize("setting", [{"lowercase": False}, {"min_frequency": 2}])
def test_a_changed_setting_rebuilds(files, tmp_path, setting):
    first = toy(files, tmp_path)
    first.setup("fit")
    changed = toy(files, tmp_path, **setting)
    changed.setup("fit")
    assert changed._calls == {"train": 2, "val": 1, "test": 1}
    assert changed.words != first.words and arrays(changed) != arrays(first)
    assert len(prepared_folders(tmp_path)) == 2


def test_loading_settings_reuse_the_cache(files, tmp_path):
    toy(files, tmp_path).setup("fit")
    reloaded = toy(files, tmp_path, batch_size=3, num_workers=1, prepare_workers=2)
    reloaded.setup("fit")
    assert reloaded._calls == {}


def test_rebuild_cache_prepares_again(files, tmp_path):
    first = toy(files, tmp_path)
    first.setup("fit")
    rebuilt = toy(files, tmp_path, rebuild_cache=True)
    rebuilt.setup("fit")
    assert rebuilt._calls == {"train": 2, "val": 1, "test": 1}
    assert arrays(rebuilt) == arrays(first)
    assert prepared_folders(tmp_path) == [Path(first.preparation["folder"]).name]


def test_restored_artifacts_prepare_another_key_with_them(files, tmp_path):
    first = toy(files, tmp_path)
    first.setup("fit")
    # As from a checkpoint: another vocabulary order, with "good" forgotten.
    artifacts = {"words": [PAD, UNK, "plot", "film", "bad", "a", "fun"], "labels": ["neg", "pos"]}
    restored = toy(files, tmp_path)
    restored.restore(artifacts)
    restored.setup("fit")
    assert restored._calls == {"train": 1, "val": 1, "test": 1}  # encoded, not fitted
    assert restored.artifacts() == artifacts
    assert len(prepared_folders(tmp_path)) == 2
    assert restored.datasets["train"][0]["tokens"].tolist() == [5, 1, 3]
    assert restored.preparation["counts"]["train_unknown_tokens"] == 3
    # The same checkpoint again: its prepared data is read.
    again = toy(files, tmp_path)
    again.restore(artifacts)
    again.setup("fit")
    assert again._calls == {} and arrays(again) == arrays(restored)


def batches(datamodule) -> list:
    loaders = (datamodule.train_dataloader, datamodule.val_dataloader, datamodule.test_dataloader)
    return [[batch for batch in loader()] for loader in loaders]


def assert_same_batches(left, right) -> None:
    assert len(left) == len(right)
    for one, other in zip(left, right, strict=True):
        assert len(one) == len(other) and len(one) > 0
        for a, b in zip(one, other, strict=True):
            assert a.keys() == b.keys()
            for key in a:
                assert a[key].dtype == b[key].dtype and torch.equal(a[key], b[key]), key


def test_cached_batches_equal_in_memory_batches(files, tmp_path):
    in_memory = toy(files, tmp_path, cache_dir=None)
    in_memory.setup("fit")
    assert isinstance(in_memory.datasets["train"], list)
    assert not (tmp_path / "prepared").exists()
    cached = toy(files, tmp_path)
    cached.setup("fit")
    assert_same_batches(batches(cached), batches(in_memory))
    reread = toy(files, tmp_path)
    reread.setup("fit")
    assert_same_batches(batches(reread), batches(in_memory))


def test_built_in_style_modules_stay_in_memory(files, tmp_path):
    class NoFiles(ToyText):
        def source_files(self):
            return []

    class NotFlat(ToyText):
        encoded_fields = RnnkitDataModule.encoded_fields

    for module in (NoFiles, NotFlat):
        datamodule = module(files, cache_dir=tmp_path / "prepared", prepare_workers=0)
        datamodule.setup("fit")
        assert isinstance(datamodule.datasets["train"], list), module
        assert datamodule.datasets["train"][0] == {"tokens": [2, 6, 4], "label": 1}
    assert not (tmp_path / "prepared").exists()


def test_prepare_workers_give_the_same_arrays(tmp_path):
    # Enough lines for several chunks of 4096 examples, ending in a short one.
    words = [f"w{i % 97}" for i in range(200)]
    lines = {
        split: [f"{'pos' if i % 3 else 'neg'}\t{' '.join(words[i % 50 : i % 50 + i % 9])}"
                for i in range(size)]
        for split, size in (("train", 9000), ("val", 4097), ("test", 7))
    }  # fmt: skip
    files = write_files(tmp_path / "data", lines)
    serial = toy(files, tmp_path / "serial", prepare_workers=0)
    serial.setup("fit")
    parallel = toy(files, tmp_path / "parallel", prepare_workers=2)
    parallel.setup("fit")
    assert parallel.preparation["counts"] == serial.preparation["counts"]
    assert parallel.preparation["counts"]["train_tokens"] == sum(i % 9 for i in range(9000))
    for split in SPLITS:
        one, other = serial.datasets[split], parallel.datasets[split]
        assert len(one) == len(other) == len(lines[split])
        for field in ("tokens", "label"):
            assert np.array_equal(one.values(field), other.values(field))
        assert np.array_equal(one.offsets("tokens"), other.offsets("tokens"))


# ---- Lightning's calls: prepare_data on one process, then setup; again at test -------------


def test_prepare_data_then_setup_prepares_once(files, tmp_path):
    datamodule = toy(files, tmp_path)
    datamodule.prepare_data()
    datamodule.setup("fit")
    assert datamodule._calls == {"train": 2, "val": 1, "test": 1}
    datamodule.prepare_data()  # trainer.test calls it again
    datamodule.setup("test")
    assert datamodule._calls == {"train": 2, "val": 1, "test": 1}
    assert len(prepared_folders(tmp_path)) == 1


def test_setup_before_the_trainer_then_prepare_data_prepares_once(files, tmp_path):
    # rnnkit-train sets the datamodule up before the Trainer exists, then trainer.fit attaches
    # the trainer and calls prepare_data.
    datamodule = toy(files, tmp_path)
    datamodule.setup("fit")
    datamodule.trainer = pl.Trainer(logger=False, enable_progress_bar=False)
    datamodule.prepare_data()
    assert datamodule._calls == {"train": 2, "val": 1, "test": 1}
    # A new run reads the cache, with or without a trainer attached first.
    attached = toy(files, tmp_path)
    attached.trainer = pl.Trainer(logger=False, enable_progress_bar=False)
    attached.prepare_data()
    attached.setup("fit")
    assert attached._calls == {}
    assert len(prepared_folders(tmp_path)) == 1


def test_rebuild_cache_rebuilds_once_per_run(files, tmp_path):
    toy(files, tmp_path).setup("fit")
    datamodule = toy(files, tmp_path, rebuild_cache=True)
    datamodule.prepare_data()
    datamodule.setup("fit")
    datamodule.prepare_data()
    assert datamodule._calls == {"train": 2, "val": 1, "test": 1}


def test_rebuild_cache_is_left_to_the_first_process(files, tmp_path, monkeypatch):
    # A DDP process launched by Lightning sets up before its Trainer exists (as rnnkit-train
    # does) and knows its rank only from the environment: it reads what rank 0 rebuilt.
    from pytorch_lightning.utilities import rank_zero_only

    toy(files, tmp_path).setup("fit")
    monkeypatch.setattr(rank_zero_only, "rank", 1)
    other = toy(files, tmp_path, rebuild_cache=True)
    other.setup("fit")
    assert other._calls == {}
    monkeypatch.setattr(rank_zero_only, "rank", 0)
    first = toy(files, tmp_path, rebuild_cache=True)
    first.setup("fit")
    assert first._calls == {"train": 2, "val": 1, "test": 1}


@pytest.mark.parametrize("workers", [0, 2])
def test_a_failed_preparation_leaves_nothing_and_the_next_one_succeeds(tmp_path, workers):
    lines = {**LINES, "test": ["neg\tfine", "maybe\tan unseen label"]}
    files = write_files(tmp_path / "data", lines)
    with pytest.raises(ValueError, match="'maybe' is not in list"):
        toy(files, tmp_path, prepare_workers=workers).setup("fit")
    assert prepared_folders(tmp_path) == []
    wait_a_clock_tick()
    write_files(files)
    datamodule = toy(files, tmp_path, prepare_workers=workers)
    datamodule.setup("fit")
    assert len(datamodule.datasets["test"]) == 2 and len(prepared_folders(tmp_path)) == 1


def test_the_training_runs_own_artifacts_read_its_cache(files, tmp_path):
    # Evaluating a run's checkpoint: the same files, settings and fitted artifacts.
    first = toy(files, tmp_path)
    first.setup("fit")
    restored = toy(files, tmp_path)
    restored.restore(first.artifacts())
    restored.setup("fit")
    assert restored._calls == {} and arrays(restored) == arrays(first)
    assert restored.preparation["folder"] == first.preparation["folder"]
    assert len(prepared_folders(tmp_path)) == 1
