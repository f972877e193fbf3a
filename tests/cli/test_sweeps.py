"""Multirun sweeps (basic and Optuna) and DDP on CPU processes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

FAST = ["experiment=sentiment", "debug=fast_dev_run", "cell.hidden_size=8", "model.embedding_dim=8"]


def run_train(tmp_path: Path, *overrides: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, RNNKIT_LOG_DIR=str(tmp_path / "logs"))
    return subprocess.run(
        [sys.executable, "-m", "rnnkit.cli.train", *overrides],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_multirun_sweep_over_cells(tmp_path):
    result = run_train(tmp_path, "--multirun", *FAST, "cell=rnn,gru")
    assert result.returncode == 0, result.stderr[-2000:]
    runs = sorted((tmp_path / "logs" / "sentiment" / "multiruns").glob("*/[0-9]*"))
    assert [run.name for run in runs] == ["0", "1"]
    choices = [(run / ".hydra" / "overrides.yaml").read_text() for run in runs]
    assert "cell=rnn" in choices[0] and "cell=gru" in choices[1]


@pytest.mark.slow  # the Optuna plugin's sweep; the basic multirun above stays in make test
def test_optuna_sweep_smoke(tmp_path):
    result = run_train(
        tmp_path,
        "hparams_search=optuna",
        *FAST,
        "hydra.sweeper.n_trials=2",
        "hydra.sweeper.sampler.n_startup_trials=2",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Best parameters" in result.stdout + result.stderr
    assert list((tmp_path / "logs").rglob("optimization_results.yaml"))


@pytest.mark.slow
def test_ddp_on_two_cpu_processes_trains(tmp_path):
    result = run_train(
        tmp_path,
        "experiment=sentiment",
        "trainer=ddp_cpu",
        "cell.hidden_size=8",
        "model.embedding_dim=8",
        "trainer.max_epochs=1",
        "trainer.limit_train_batches=4",
        "trainer.limit_val_batches=2",
        "trainer.limit_test_batches=2",
        "trainer.enable_progress_bar=false",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    output = result.stdout + result.stderr
    assert (
        "GLOBAL_RANK: 1" in output
        or "world_size=2" in output
        or "Initializing distributed" in output
    )
    assert "test/acc" in result.stdout


@pytest.mark.slow
def test_ddp_language_model_carries_state_over_each_ranks_own_rows(tmp_path):
    result = run_train(
        tmp_path,
        "experiment=language_model",
        "trainer=ddp_cpu",
        "cell.hidden_size=16",
        "model.embedding_dim=8",
        "data.max_train_chars=150000",
        "data.max_val_chars=120000",
        "data.max_test_chars=120000",
        "data.batch_size=8",
        "data.eval_batch_size=8",
        "trainer.max_epochs=1",
        "trainer.limit_train_batches=20",
        "trainer.limit_val_batches=10",
        "trainer.limit_test_batches=10",
        "trainer.enable_progress_bar=false",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "test/bpc" in result.stdout
