"""The parts of resuming, one at a time: the loader's position, last.ckpt, random states,
and ``resume=<run dir>``'s arguments (the kill/resume runs are in test_resume.py)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from torch import nn

from rnnkit.callbacks import LastCheckpoint, RandomStateCheckpoint, replace_atomically
from rnnkit.callbacks.random_state import random_states, set_random_states
from rnnkit.cli.resume import resume_arguments
from rnnkit.data.io.sharded_batches import ShardedBatches, ShardedBatchLoader

SOURCE = Path(__file__).resolve().parents[2] / "src"


def indices(examples: list[int]) -> list[int]:
    return list(examples)


def loader(num_workers: int = 0, current_epoch=None) -> ShardedBatchLoader:
    batches = ShardedBatches(list(range(23)), indices, batch_size=4, shuffle=True, seed=3)
    return ShardedBatchLoader(batches, current_epoch=current_epoch, num_workers=num_workers)


def epochs(source: ShardedBatchLoader, count: int) -> list[list[list[int]]]:
    return [list(source) for _ in range(count)]


# (workers, epoch, batches taken before the checkpoint, epoch the trainer resumes in or None,
#  the batches expected next: (epoch, first batch) of the uninterrupted run)
LOADER_CASES = [
    (0, 0, 0, None, (0, 0)),
    (0, 0, 3, None, (0, 3)),
    (0, 1, 5, None, (1, 5)),
    (0, 1, 6, None, (2, 0)),  # a complete epoch resumes into the next
    (0, 1, 3, 1, (1, 3)),  # the trainer resumes mid-epoch
    (0, 1, 3, 2, (2, 0)),  # the trainer ended epoch 1 early (limit_train_batches)
    (2, 0, 3, None, (0, 3)),  # worker processes make the rest in order
    (2, 2, 1, 2, (2, 1)),
]


@pytest.mark.parametrize(("workers", "epoch", "taken", "trainer_epoch", "expected"), LOADER_CASES)
def test_a_restored_loader_yields_exactly_the_batches_not_yet_taken(
    workers, epoch, taken, trainer_epoch, expected
):
    reference = epochs(loader(), 4)
    interrupted = loader(workers)
    epochs(interrupted, epoch)
    iterator = iter(interrupted)
    for _ in range(taken):
        next(iterator)
    state = interrupted.state_dict()
    assert state == {"epoch": epoch, "batches_yielded": taken}

    resumed = loader(
        workers, current_epoch=None if trainer_epoch is None else lambda: trainer_epoch
    )
    resumed.load_state_dict(state)
    next_epoch, first = expected
    assert list(resumed) == reference[next_epoch][first:]
    assert len(resumed) == 6  # Lightning counts from the full length and the batches taken
    assert resumed.state_dict() == {"epoch": next_epoch, "batches_yielded": 6}


def test_a_loader_state_beyond_the_epoch_is_refused_naming_it():
    source = loader()
    source.load_state_dict({"epoch": 0, "batches_yielded": 9})
    with pytest.raises(ValueError, match="sampler state: 9 batches yielded, but an epoch has 6"):
        list(source)


def test_starting_an_epoch_leaves_the_global_random_state_alone():
    before = torch.get_rng_state()
    list(loader(0))
    assert torch.equal(torch.get_rng_state(), before)


def test_random_states_round_trip_through_a_weights_only_checkpoint(tmp_path):
    torch.manual_seed(1), np.random.seed(1), random.seed(1)
    path = tmp_path / "states.pt"
    torch.save(random_states(), path)
    expected = (torch.rand(3), np.random.rand(3), random.random())
    torch.manual_seed(2), np.random.seed(2), random.seed(2)
    set_random_states(torch.load(path, weights_only=True))
    assert torch.equal(torch.rand(3), expected[0])
    assert np.array_equal(np.random.rand(3), expected[1])
    assert random.random() == expected[2]


# --- last.ckpt --------------------------------------------------------------------------------


def test_replace_atomically_writes_the_new_file_or_leaves_the_old_one(tmp_path):
    path = tmp_path / "last.ckpt"
    replace_atomically(path, lambda temporary: temporary.write_bytes(b"first"))
    assert path.read_bytes() == b"first"

    def fails_halfway(temporary: Path) -> None:
        temporary.write_bytes(b"sec")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space"):
        replace_atomically(path, fails_halfway)
    assert path.read_bytes() == b"first"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt"]


KILLED_WRITER = """
import os, signal, sys
from pathlib import Path
from rnnkit.callbacks import replace_atomically

def write_half_then_die(temporary):
    temporary.write_bytes(b"x" * 1000)
    os.kill(os.getpid(), signal.SIGKILL)

replace_atomically(Path(sys.argv[1]), write_half_then_die)
"""


def test_a_writer_killed_mid_write_leaves_the_previous_last_ckpt(tmp_path):
    path = tmp_path / "last.ckpt"
    torch.save({"epoch": 1}, path)
    before = path.read_bytes()
    result = subprocess.run(
        [sys.executable, "-c", KILLED_WRITER, str(path)],
        env={**os.environ, "PYTHONPATH": str(SOURCE)},
        capture_output=True,
        timeout=120,
    )
    assert result.returncode == -signal.SIGKILL
    assert path.read_bytes() == before
    assert torch.load(path, weights_only=True) == {"epoch": 1}
    assert len(list(tmp_path.glob(".last.ckpt.tmp-*"))) == 1  # the next save removes it


class WorseningModel(pl.LightningModule):
    """A tiny regression whose logged ``val/score`` is best at epoch 0 and worse after."""

    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Linear(2, 1)

    def training_step(self, batch, batch_idx):
        return self.layer(batch).pow(2).mean()

    def validation_step(self, batch, batch_idx):
        self.log("val/score", float(self.current_epoch))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)


def fit(tmp_path: Path, callbacks: list, max_epochs: int = 3) -> pl.Trainer:
    data = torch.utils.data.DataLoader(torch.randn(8, 2), batch_size=2)
    trainer = pl.Trainer(
        max_epochs=max_epochs,
        callbacks=callbacks,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
    )
    trainer.fit(WorseningModel(), train_dataloaders=data, val_dataloaders=data)
    return trainer


def test_last_ckpt_follows_every_epoch_though_the_monitored_metric_got_worse(tmp_path):
    best = pl.callbacks.ModelCheckpoint(tmp_path, filename="best", monitor="val/score")
    last = LastCheckpoint(str(tmp_path))
    fit(tmp_path, [best, last], max_epochs=3)
    assert torch.load(tmp_path / "best.ckpt", weights_only=False)["epoch"] == 0
    assert torch.load(tmp_path / "last.ckpt", weights_only=False)["epoch"] == 2


class Recorder(pl.Callback):
    def __init__(self, path: Path) -> None:
        self.path, self.steps = path, []

    def on_train_batch_start(self, trainer, *args) -> None:
        if self.path.exists():
            self.steps.append(torch.load(self.path, weights_only=False)["global_step"])


@pytest.mark.parametrize(
    ("every_n_train_steps", "saved_steps"),
    [(None, [4, 8]), (3, [3, 4, 6, 8, 9]), (4, [4, 8])],  # 4 steps an epoch, 3 epochs
)
def test_last_ckpt_mid_epoch_interval(tmp_path, every_n_train_steps, saved_steps):
    path = tmp_path / "last.ckpt"
    recorder = Recorder(path)
    fit(tmp_path, [recorder, LastCheckpoint(str(tmp_path), every_n_train_steps)])
    assert sorted(set(recorder.steps)) == saved_steps
    assert torch.load(path, weights_only=False)["global_step"] == 12


@pytest.mark.parametrize("bad", [0, -2, 1.5, "often", True])
def test_a_bad_interval_is_refused_naming_the_key(bad):
    with pytest.raises(ValueError, match=r"every_n_train_steps: expected a positive integer"):
        LastCheckpoint("checkpoints", every_n_train_steps=bad)


class SignalAtStep(pl.Callback):
    def __init__(self, step: int, signum: int) -> None:
        self.step, self.signum = step, signum

    def on_train_batch_end(self, trainer, *args) -> None:
        if trainer.global_step == self.step:
            os.kill(os.getpid(), self.signum)


@pytest.mark.parametrize(
    ("signum", "step", "saved_step"),
    [
        (signal.SIGTERM, 6, 6),  # mid-epoch: saved at once
        (signal.SIGINT, 2, 2),
        (signal.SIGTERM, 4, 4),  # an epoch's last batch: saved at the epoch's end
    ],
)
def test_a_signal_writes_last_ckpt_after_the_batch_and_exits_128_plus_signal(
    tmp_path, capsys, signum, step, saved_step
):
    handlers = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    with pytest.raises(SystemExit) as stopped:
        fit(tmp_path, [SignalAtStep(step, signum), LastCheckpoint(str(tmp_path))])
    assert stopped.value.code == 128 + signum
    assert torch.load(tmp_path / "last.ckpt", weights_only=False)["global_step"] == saved_step
    assert {s: signal.getsignal(s) for s in handlers} == handlers
    stops = [line for line in capsys.readouterr().err.splitlines() if "stopped by" in line]
    assert stops == [
        f"rnnkit: stopped by {signal.Signals(signum).name} at epoch {(saved_step - 1) // 4}, "
        f"step {saved_step}; resume with: rnnkit-train resume={tmp_path.parent}"
    ]


def test_random_state_callback_restores_at_the_first_batch_after_loading():
    callback = RandomStateCheckpoint()
    torch.manual_seed(5)
    saved = callback.state_dict()
    expected = torch.rand(2)
    callback.load_state_dict(saved)
    torch.manual_seed(6)
    torch.rand(4)  # drawn before training starts (setup, sanity check): not in the sequence
    callback.on_train_batch_start(None, None, None, 0)
    assert torch.equal(torch.rand(2), expected)


# --- resume=<run dir> ----------------------------------------------------------------------


def recorded_run(tmp_path: Path, overrides: str, last: bool = True) -> Path:
    run_dir = tmp_path / "logs" / "tagging" / "runs" / "2026-12-05_10-00-00"
    (run_dir / ".hydra").mkdir(parents=True)
    (run_dir / ".hydra" / "overrides.yaml").write_text(overrides)
    (run_dir / "checkpoints").mkdir()
    if last:
        (run_dir / "checkpoints" / "last.ckpt").write_bytes(b"")
    return run_dir


RECORDED = "- experiment=tagging\n- cell=gru\n- trainer.max_epochs=5\n- ckpt_path=last\n"


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (["resume={run}"], ["experiment=tagging", "cell=gru", "trainer.max_epochs=5"]),
        (
            ["resume={run}", "trainer.max_epochs=9"],
            ["experiment=tagging", "cell=gru", "trainer.max_epochs=9"],
        ),
        (
            ["cell=lstm", "resume={run}"],
            ["cell=lstm", "experiment=tagging", "trainer.max_epochs=5"],
        ),
        (["-m", "resume={run}"], ["-m", "experiment=tagging", "cell=gru", "trainer.max_epochs=5"]),
    ],
)
def test_resume_stands_for_the_runs_overrides_its_last_ckpt_and_its_folder(
    tmp_path, arguments, expected
):
    run_dir = recorded_run(tmp_path, RECORDED)
    expanded = resume_arguments([a.format(run=run_dir) for a in arguments])
    tail = [f"ckpt_path={run_dir}/checkpoints/last.ckpt", f"hydra.run.dir={run_dir}"]
    assert [a for a in expanded if a not in tail] == expected
    assert all(a in expanded for a in tail)


def test_arguments_without_resume_are_left_alone():
    assert resume_arguments(["experiment=tagging", "ckpt_path=last"]) == [
        "experiment=tagging",
        "ckpt_path=last",
    ]


STOPPED_EARLY = "(the run stopped before its first epoch ended)"
DROP = "drop ckpt_path"
# (what the folder lacks, extra arguments, the one-line message)
BAD_RESUMES = [
    ("folder", [], "resume={run}: no such run folder"),
    ("overrides", [], "resume={run}: not a run folder of rnnkit-train (no .hydra/overrides.yaml)"),
    ("last", [], "resume={run}: no checkpoints/last.ckpt to resume from " + STOPPED_EARLY),
    (None, ["resume=elsewhere"], "resume: given more than once"),
    (None, ["ckpt_path=x.ckpt"], "resume: continues the run's last.ckpt in its folder; " + DROP),
]  # fmt: skip


def bad_run(tmp_path: Path, lacks: str | None) -> Path:
    if lacks == "folder":
        return tmp_path / "logs" / "no-such-run"
    run_dir = recorded_run(tmp_path, RECORDED, last=lacks != "last")
    if lacks == "overrides":
        (run_dir / ".hydra" / "overrides.yaml").unlink()
    return run_dir


@pytest.mark.parametrize(("lacks", "extra", "message"), BAD_RESUMES)
def test_a_bad_resume_is_refused_naming_it(tmp_path, lacks, extra, message):
    run_dir = bad_run(tmp_path, lacks)
    with pytest.raises((OSError, ValueError)) as refused:
        resume_arguments([f"resume={run_dir}", *extra])
    assert str(refused.value) == message.format(run=run_dir)


def test_a_bad_resume_stops_the_command_in_one_line_before_any_run_folder(tmp_path):
    run_dir = bad_run(tmp_path, "last")
    before = sorted(tmp_path.rglob("*"))
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    env.update(RNNKIT_LOG_DIR=str(tmp_path / "logs"), PYTHONPATH=str(SOURCE))
    result = subprocess.run(
        [sys.executable, "-m", "rnnkit.cli.train", f"resume={run_dir}"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert result.returncode != 0
    assert result.stderr.splitlines() == [
        f"rnnkit: error: resume={run_dir}: no checkpoints/last.ckpt to resume from (the run "
        "stopped before its first epoch ended)"
    ]
    assert sorted(tmp_path.rglob("*")) == before  # nothing written, no new run folder
