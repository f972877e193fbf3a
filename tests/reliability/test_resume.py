"""A run killed at any moment and resumed ends with the uninterrupted run's final metrics.

Each case trains a small sentiment, tagging or forecasting run (deterministic CPU settings: one
thread, ``trainer.deterministic``, a fixed seed) in a subprocess that is killed at one moment:
SIGKILL after a step, in the middle of writing ``last.ckpt``, between validation and the
epoch's end, or from outside while it runs; SIGTERM and SIGINT, which stop it after the batch
with ``last.ckpt``. ``rnnkit-train resume=<run dir>`` (or ``ckpt_path=last``) then finishes it,
in the same folder, and its ``metrics.json`` must equal the uninterrupted run's exactly.

The callbacks below are the kill switches: the subprocess finds them on its PYTHONPATH
(``+callbacks.kill._target_=test_resume.KillAtStep``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import pytorch_lightning as pl
import torch

from rnnkit.tasks.checkpoint_file import read_checkpoint

SOURCE = Path(__file__).resolve().parents[2] / "src"
HERE = Path(__file__).resolve().parent


class KillAtStep(pl.Callback):
    """Send ``signal_name`` to this process after optimizer step ``step``."""

    def __init__(self, step: int, signal_name: str = "SIGKILL") -> None:
        self.step = step
        self.signum = signal.Signals[signal_name]

    def on_train_batch_end(self, trainer: pl.Trainer, *args: Any, **kwargs: Any) -> None:
        if trainer.global_step == self.step:
            os.kill(os.getpid(), self.signum)


class KillAfterValidation(pl.Callback):
    """SIGKILL at the end of epoch ``epoch``'s validation, before the epoch-end checkpoints."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_validation_end(self, trainer: pl.Trainer, *args: Any, **kwargs: Any) -> None:
        if trainer.current_epoch == self.epoch and not trainer.sanity_checking:
            os.kill(os.getpid(), signal.SIGKILL)


class KillDuringCheckpointWrite(pl.Callback):
    """SIGKILL in the middle of writing the ``write``-th checkpoint file (counting best.ckpt
    and last.ckpt, or only the files named ``file``): half of its bytes are on disk, in the
    temporary file that ``AtomicCheckpointIO`` renames over the checkpoint once complete."""

    def __init__(self, write: int, file: str | None = None) -> None:
        self.write = write
        self.file = file

    def setup(self, trainer: pl.Trainer, *args: Any, **kwargs: Any) -> None:
        checkpoint_io = trainer.strategy.checkpoint_io
        save, write_file = checkpoint_io.save_checkpoint, checkpoint_io.write_file
        writes = [0]

        def counting_save(checkpoint: dict, path: Any, *rest: Any, **options: Any) -> None:
            if self.file is None or Path(path).name == self.file:
                writes[0] += 1
            save(checkpoint, path, *rest, **options)

        def write_half_then_die(checkpoint: dict, temporary: Path) -> None:
            write_file(checkpoint, temporary)
            if writes[0] == self.write and (self.file is None or self.file in temporary.name):
                os.truncate(temporary, temporary.stat().st_size // 2)
                os.kill(os.getpid(), signal.SIGKILL)

        checkpoint_io.save_checkpoint = counting_save
        checkpoint_io.write_file = write_half_then_die


TASKS = {
    # ~30 steps over 3 epochs each, a mid-epoch last.ckpt every 4 steps.
    "sentiment": [
        "experiment=sentiment",
        "cell.hidden_size=8",
        "trainer.max_epochs=3",
        "trainer.limit_train_batches=10",
        "trainer.limit_val_batches=3",
        "trainer.limit_test_batches=3",
        "model.dropout=0.3",
    ],
    "tagging": [
        "experiment=tagging",
        "cell.hidden_size=8",
        "trainer.max_epochs=3",
        "data.num_train=320",
        "data.num_val=64",
        "data.num_test=64",
    ],
    "forecasting": [
        "experiment=forecasting",
        "cell.hidden_size=8",
        "trainer.max_epochs=3",
        "trainer.limit_train_batches=10",
        "trainer.limit_val_batches=2",
        "trainer.limit_test_batches=2",
    ],
}
DETERMINISTIC = [
    "num_threads=1",
    "seed=7",
    "trainer.deterministic=true",
    "trainer.enable_progress_bar=false",
    "callbacks.model_summary=null",
    "callbacks.last_checkpoint.every_n_train_steps=4",
]


def train(tmp_path: Path, *arguments: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "rnnkit.cli.train", *arguments],
        capture_output=True,
        text=True,
        env=run_env(tmp_path),
        cwd=tmp_path,
        timeout=timeout,
    )


def run_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    env["RNNKIT_LOG_DIR"] = str(tmp_path / "logs")
    env["PYTHONPATH"] = os.pathsep.join([str(SOURCE), str(HERE)])
    return env


def run_dirs(tmp_path: Path) -> list[Path]:
    return sorted(path.parent for path in (tmp_path / "logs").glob("*/runs/*/.hydra"))


def finished_metrics(tmp_path: Path, *arguments: str) -> dict[str, float]:
    result = train(tmp_path, *arguments)
    assert result.returncode == 0, result.stderr[-3000:]
    (run_dir,) = run_dirs(tmp_path)
    return json.loads((run_dir / "metrics.json").read_text())


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> dict[str, dict[str, float]]:
    """Each task's final metrics without interruption (computed once, on first use)."""
    cache: dict[str, dict[str, float]] = {}

    def metrics(task: str) -> dict[str, float]:
        if task not in cache:
            folder = tmp_path_factory.mktemp(f"uninterrupted-{task}")
            cache[task] = finished_metrics(folder, *TASKS[task], *DETERMINISTIC)
        return cache[task]

    return metrics


def kill(switch: str, **options: object) -> list[str]:
    """Overrides adding the kill switch ``switch`` (a callback above) with ``options``."""
    return [f"+callbacks.kill._target_=test_resume.{switch}"] + [
        f"+callbacks.kill.{key}={value}" for key, value in options.items()
    ]


SIGTERM, SIGINT = {"signal_name": "SIGTERM"}, {"signal_name": "SIGINT"}
# (task, kill switch, expected exit code of the interrupted run, how to resume)
KILL_CASES = [
    ("sentiment", kill("KillAtStep", step=6), -9, "resume"),
    ("sentiment", kill("KillAtStep", step=13), -9, "last"),
    ("sentiment", kill("KillAfterValidation", epoch=1), -9, "resume"),
    ("sentiment", kill("KillDuringCheckpointWrite", write=4), -9, "resume"),
    ("sentiment", kill("KillAtStep", step=15, **SIGTERM), 143, "resume"),
    ("sentiment", kill("KillAtStep", step=10, **SIGINT), 130, "resume"),
    ("tagging", kill("KillAtStep", step=7), -9, "resume"),
    ("tagging", kill("KillAfterValidation", epoch=0), -9, "last"),
    ("tagging", kill("KillDuringCheckpointWrite", write=3), -9, "resume"),
    ("tagging", kill("KillAtStep", step=14, **SIGTERM), 143, "resume"),
    ("forecasting", kill("KillAtStep", step=17), -9, "resume"),
    ("forecasting", kill("KillAfterValidation", epoch=1), -9, "resume"),
    ("forecasting", kill("KillDuringCheckpointWrite", write=5), -9, "last"),
    ("forecasting", kill("KillAtStep", step=9, **SIGTERM), 143, "last"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("task", "switch", "exit_code", "how"), KILL_CASES)
def test_killed_then_resumed_ends_like_the_uninterrupted_run(
    tmp_path, uninterrupted, task, switch, exit_code, how
):
    arguments = [*TASKS[task], *DETERMINISTIC]
    killed = train(tmp_path, *arguments, *switch)
    assert killed.returncode == exit_code, killed.stderr[-3000:]
    (run_dir,) = run_dirs(tmp_path)
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
    for checkpoint in (run_dir / "checkpoints").glob("*.ckpt"):
        read_checkpoint(checkpoint)  # every checkpoint left by the kill is whole
    assert not (run_dir / "metrics.json").exists()
    if exit_code in (130, 143):
        stops = [line for line in killed.stderr.splitlines() if "rnnkit: stopped by" in line]
        assert stops and f"resume={run_dir}" in stops[-1], killed.stderr[-3000:]

    # The recorded overrides hold the kill switch: the resumed run drops it.
    resume = (
        [f"resume={run_dir}", "~callbacks.kill"]
        if how == "resume"
        else [*arguments, "ckpt_path=last"]
    )
    resumed = train(tmp_path, *resume)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert run_dirs(tmp_path) == [run_dir]  # no new run folder
    assert json.loads((run_dir / "metrics.json").read_text()) == uninterrupted(task)
    assert not list((run_dir / "checkpoints").glob(".*.tmp-*"))


@pytest.mark.slow
def test_a_run_killed_while_rewriting_best_ckpt_keeps_the_previous_one(tmp_path, uninterrupted):
    arguments = [*TASKS["sentiment"], *DETERMINISTIC]
    killed = train(
        tmp_path, *arguments, *kill("KillDuringCheckpointWrite", write=2, file="best.ckpt")
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    (run_dir,) = run_dirs(tmp_path)
    checkpoints = run_dir / "checkpoints"
    assert len(list(checkpoints.glob(".best.ckpt.tmp-*"))) == 1  # killed halfway through it
    assert read_checkpoint(checkpoints / "best.ckpt")["epoch"] == 0  # the previous best, whole
    assert torch.load(checkpoints / "last.ckpt", weights_only=True)["epoch"] == 1  # mid-epoch 1

    resumed = train(tmp_path, f"resume={run_dir}", "~callbacks.kill")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert json.loads((run_dir / "metrics.json").read_text()) == uninterrupted("sentiment")
    assert sorted(p.name for p in checkpoints.iterdir()) == ["best.ckpt", "last.ckpt"]
    assert read_checkpoint(checkpoints / "best.ckpt")["epoch"] >= 1


@pytest.mark.slow
def test_killed_from_outside_twice_then_resumed_ends_like_the_uninterrupted_run(
    tmp_path, uninterrupted
):
    """SIGKILL from another process at whatever moment the run is in, twice."""
    arguments = [*TASKS["sentiment"], *DETERMINISTIC]
    process = subprocess.Popen(
        [sys.executable, "-m", "rnnkit.cli.train", *arguments],
        env=run_env(tmp_path),
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while not list((tmp_path / "logs").glob("*/runs/*/checkpoints/last.ckpt")):
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    process.kill()
    process.wait()
    (run_dir,) = run_dirs(tmp_path)
    resumed = subprocess.Popen(
        [sys.executable, "-m", "rnnkit.cli.train", f"resume={run_dir}"],
        env=run_env(tmp_path),
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    first = (run_dir / "checkpoints" / "last.ckpt").stat().st_mtime_ns
    while (run_dir / "checkpoints" / "last.ckpt").stat().st_mtime_ns == first:
        assert resumed.poll() is None and time.monotonic() < deadline
        time.sleep(0.01)
    resumed.kill()
    resumed.wait()

    result = train(tmp_path, f"resume={run_dir}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert run_dirs(tmp_path) == [run_dir]
    assert json.loads((run_dir / "metrics.json").read_text()) == uninterrupted("sentiment")
