"""Run folders are never shared, even by runs started in the same second."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from rnnkit.cli.run_folders import latest_run_dir, new_run_dir

SOURCE = Path(__file__).resolve().parents[2] / "src"


def test_simultaneous_new_run_folders_are_all_different(tmp_path):
    barrier = threading.Barrier(8)
    made: list[Path] = []

    def start() -> None:
        barrier.wait()
        made.append(new_run_dir(tmp_path / "runs"))

    threads = [threading.Thread(target=start) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(made)) == 8
    assert all(path.is_dir() and not any(path.iterdir()) for path in made)


def test_a_taken_timestamp_gets_a_numbered_folder_and_the_taken_one_is_untouched(tmp_path):
    runs = tmp_path / "runs"
    now = datetime.now()
    for second in range(5):
        taken = runs / (now + timedelta(seconds=second)).strftime("%Y-%m-%d_%H-%M-%S")
        taken.mkdir(parents=True)
        (taken / "metrics.json").write_text("{}")
    made = new_run_dir(runs)
    assert made.name.rsplit("_", 1)[1] == "2"
    assert all(
        (path / "metrics.json").read_text() == "{}" for path in runs.iterdir() if path != made
    )


def test_last_is_the_run_whose_last_ckpt_is_newest(tmp_path):
    runs = tmp_path / "runs"
    for name, age in (("2026-12-05_10-00-00", 30), ("2026-12-05_09-00-00", 10), ("b", 20)):
        checkpoint = runs / name / "checkpoints" / "last.ckpt"
        checkpoint.parent.mkdir(parents=True)
        checkpoint.write_bytes(b"")
        os.utime(checkpoint, (time.time() - age, time.time() - age))
    (runs / "newer_without_checkpoint").mkdir()
    assert latest_run_dir(runs) == runs / "2026-12-05_09-00-00"


def test_last_without_any_run_is_refused_naming_the_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"ckpt_path=last: no run under .*runs has a"):
        latest_run_dir(tmp_path / "runs")


@pytest.mark.slow
def test_two_runs_started_at_once_in_the_same_second_keep_their_own_folders(tmp_path):
    """Both runs find this second's folder (and the next minute's) taken: each makes its own."""
    runs = tmp_path / "logs" / "sentiment" / "runs"
    now = datetime.now()
    for second in range(120):
        taken = runs / (now + timedelta(seconds=second)).strftime("%Y-%m-%d_%H-%M-%S")
        taken.mkdir(parents=True)
        (taken / "metrics.json").write_text('{"someone": "else"}')
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    env.update(RNNKIT_LOG_DIR=str(tmp_path / "logs"), PYTHONPATH=str(SOURCE))
    command = [
        sys.executable, "-m", "rnnkit.cli.train", "experiment=sentiment", "cell.hidden_size=4",
        "trainer.max_epochs=1", "trainer.limit_train_batches=2", "trainer.limit_val_batches=1",
        "trainer.limit_test_batches=1", "trainer.enable_progress_bar=false",
    ]  # fmt: skip
    processes = [
        subprocess.Popen(command, env=env, cwd=tmp_path, stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [process.communicate(timeout=600)[0] for process in processes]
    assert [process.returncode for process in processes] == [0, 0]
    new = sorted(path for path in runs.iterdir() if (path / ".hydra").is_dir())
    assert len(new) == 2 and all(path.name.endswith(("_2", "_3")) for path in new)
    for path in new:
        metrics = json.loads((path / "metrics.json").read_text())
        assert "test/acc" in metrics
        assert (path / "checkpoints" / "last.ckpt").is_file()
        assert sum(str(path / "checkpoints" / "best.ckpt") in output for output in outputs) == 1
    others = [path for path in runs.iterdir() if path not in new]
    assert all(json.loads((p / "metrics.json").read_text()) == {"someone": "else"} for p in others)
