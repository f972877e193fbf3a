"""Every checkpoint file is written all or nothing (rnnkit.callbacks.AtomicCheckpointIO).

A write that fails halfway (a full disk, an interrupt, a failed fsync or rename) leaves the
previous file byte for byte and no temporary file; the new file is staged in its own folder and
fsynced before the rename; rnnkit-train's best.ckpt and last.ckpt go through it, under every
shipped trainer config. The SIGKILL-while-writing runs are in test_resume.py.
"""

from __future__ import annotations

import errno
import io
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import fsspec
import hydra
import pytest
import torch
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO

from rnnkit.callbacks import AtomicCheckpointIO
from rnnkit.callbacks import atomic_checkpoint_io as module
from rnnkit.cli.train import train
from rnnkit.cli.validation import validate_run_config

PREVIOUS = {"epoch": 0, "state_dict": {"weight": torch.arange(1000.0)}}
NEW = {"epoch": 1, "state_dict": {"weight": torch.zeros(1000)}}


@pytest.fixture
def best(tmp_path) -> Path:
    path = tmp_path / "checkpoints" / "best.ckpt"
    AtomicCheckpointIO().save_checkpoint(PREVIOUS, path)
    return path


def save_some_bytes_then_fill_the_disk(checkpoint, path) -> None:
    Path(path).write_bytes(b"PK\x03\x04" + b"\0" * 500)
    raise OSError(errno.ENOSPC, "No space left on device")


def save_some_bytes_then_interrupt(checkpoint, path) -> None:
    Path(path).write_bytes(b"PK\x03\x04")
    raise KeyboardInterrupt


def fail_with(error: BaseException):
    def fail(*args, **kwargs):
        raise error

    return fail


# (what fails, replacement, the error it raises)
FAILURES = [
    ("torch.save", save_some_bytes_then_fill_the_disk, OSError),
    ("torch.save", save_some_bytes_then_interrupt, KeyboardInterrupt),
    ("os.fsync", fail_with(OSError(errno.EIO, "Input/output error")), OSError),
    ("os.replace", fail_with(OSError(errno.EXDEV, "Invalid cross-device link")), OSError),
]


@pytest.mark.parametrize(("target", "replacement", "error"), FAILURES)
def test_a_failure_mid_write_leaves_the_previous_best_ckpt_and_no_temporary_file(
    best, monkeypatch, target, replacement, error
):
    before = best.read_bytes()
    owner, name = target.split(".")
    monkeypatch.setattr(getattr(module, owner), name, replacement)
    with pytest.raises(error):
        AtomicCheckpointIO().save_checkpoint(NEW, best)
    monkeypatch.undo()
    assert best.read_bytes() == before
    assert torch.load(best, weights_only=True)["epoch"] == 0
    assert sorted(p.name for p in best.parent.iterdir()) == ["best.ckpt"]


def test_the_new_file_is_staged_in_its_own_folder_and_fsynced_before_the_rename(best, monkeypatch):
    events: list[tuple[str, str]] = []
    fsync, replace = os.fsync, os.replace

    def recording_fsync(descriptor: int) -> None:
        events.append(("fsync", os.readlink(f"/proc/self/fd/{descriptor}")))
        fsync(descriptor)

    def recording_replace(source, destination) -> None:
        events.append(("replace", str(source)))
        replace(source, destination)

    monkeypatch.setattr(module.os, "fsync", recording_fsync)
    monkeypatch.setattr(module.os, "replace", recording_replace)
    AtomicCheckpointIO().save_checkpoint(NEW, best)
    staged = str(best.parent / f".best.ckpt.tmp-{os.getpid()}")
    assert events[:2] == [("fsync", staged), ("replace", staged)]
    assert ("fsync", str(best.parent)) in events[2:]  # the folder, after the rename
    assert torch.load(best, weights_only=True)["epoch"] == 1


def test_lightnings_own_writer_stages_outside_the_folder_without_fsync(best, monkeypatch):
    """Why rnnkit has its own writer (Lightning 2.6): if this starts failing, check whether
    Lightning's ``_atomic_save`` became same-folder + fsync + rename."""
    staged, synced = [], []
    mkstemp = tempfile.mkstemp

    def recording_mkstemp(*args, **kwargs):
        handle, name = mkstemp(*args, **kwargs)
        staged.append(Path(name).parent)
        return handle, name

    monkeypatch.setattr(tempfile, "mkstemp", recording_mkstemp)
    monkeypatch.setattr(os, "fsync", lambda descriptor: synced.append(descriptor))
    TorchCheckpointIO().save_checkpoint(NEW, best)
    assert staged and staged[0] != best.parent
    assert synced == []


def test_temporary_files_of_killed_writers_are_removed_at_the_next_write(best):
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], text=True, capture_output=True
    )  # a finished process: its temporary files are stale
    left = best.parent / f".best.ckpt.tmp-{dead.stdout.strip()}"
    left_too = best.parent / f".last.ckpt.tmp-{dead.stdout.strip()}"
    running = best.parent / f".last.ckpt.tmp-{os.getppid()}"  # a live writer's: kept
    for path in (left, left_too, running):
        path.write_bytes(b"half")
    AtomicCheckpointIO().save_checkpoint(NEW, best)
    assert sorted(p.name for p in best.parent.iterdir()) == [running.name, "best.ckpt"]


def test_file_urls_are_written_atomically_and_remote_ones_by_lightning(best, monkeypatch):
    AtomicCheckpointIO().save_checkpoint(NEW, f"file://{best}")
    assert torch.load(best, weights_only=True)["epoch"] == 1

    monkeypatch.setattr(module, "replace_atomically", fail_with(AssertionError("not local")))
    AtomicCheckpointIO().save_checkpoint(NEW, "memory://run/checkpoints/best.ckpt")
    with fsspec.open("memory://run/checkpoints/best.ckpt", "rb") as handle:
        assert torch.load(io.BytesIO(handle.read()), weights_only=True)["epoch"] == 1


QUICK = [
    "experiment=sentiment",
    "cell.hidden_size=8",
    "model.embedding_dim=8",
    "trainer.max_epochs=2",
    "trainer.limit_train_batches=3",
    "trainer.limit_val_batches=2",
    "trainer.limit_test_batches=2",
    "trainer.enable_progress_bar=false",
]


def test_rnnkit_train_writes_best_and_last_ckpt_through_the_atomic_writer(
    make_config, tmp_path, monkeypatch
):
    written: list[str] = []
    write_file = AtomicCheckpointIO.write_file

    def recording_write_file(self, checkpoint, path):
        written.append(Path(path).name)
        write_file(self, checkpoint, path)

    monkeypatch.setattr(AtomicCheckpointIO, "write_file", recording_write_file)
    train(make_config(QUICK))
    (checkpoints,) = tmp_path.glob("**/checkpoints")
    assert sorted(p.name for p in checkpoints.iterdir()) == ["best.ckpt", "last.ckpt"]
    pid = os.getpid()
    assert {f".best.ckpt.tmp-{pid}", f".last.ckpt.tmp-{pid}"} == set(written)
    assert written.count(f".last.ckpt.tmp-{pid}") == 2  # one a epoch, written once each


@pytest.mark.parametrize("trainer", ["default", "cpu", "gpu", "ddp", "ddp_cpu"])
def test_every_trainer_config_builds_the_atomic_writer(make_config, trainer):
    cfg = make_config([*QUICK, f"trainer={trainer}"])
    validate_run_config(cfg)
    (plugin,) = cfg.trainer.plugins
    assert plugin._target_ == "rnnkit.callbacks.AtomicCheckpointIO"
    if cfg.trainer.accelerator != "cpu":
        return  # no GPU here: the config is checked, not built
    built = hydra.utils.instantiate(cfg.trainer, logger=False)
    assert type(built.strategy.checkpoint_io) is AtomicCheckpointIO
