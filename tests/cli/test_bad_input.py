"""User mistakes end in one clear line naming the key or file, and a non-zero exit."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from rnnkit.cli.checkpoint import load_checkpoint, restore_task
from rnnkit.tasks.checkpoint_file import CheckpointError


def run_cli(module: str, *overrides: str, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    env["RNNKIT_LOG_DIR"] = str(tmp_path / "logs")
    return subprocess.run(
        [sys.executable, "-m", module, *overrides],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )


@pytest.mark.parametrize(
    ("module", "overrides", "expected"),
    [
        (
            "rnnkit.cli.train",
            ["cell.hidden_size=-3"],
            "cell.hidden_size: expected a positive integer",
        ),
        # The same path through the real command line as the first case; each message is
        # also checked in-process (tests/reliability): here only in make test-full.
        pytest.param(
            "rnnkit.cli.train",
            ["data.batch_size=0"],
            "data.batch_size: expected a positive integer",
            marks=pytest.mark.slow,
        ),
        pytest.param(
            "rnnkit.cli.train", ["model.pooling=median"], "pooling", marks=pytest.mark.slow
        ),
        ("rnnkit.cli.predict", ["ckpt_path=missing.ckpt", "input=x"], "missing.ckpt"),
        ("rnnkit.cli.eval", [], "ckpt_path"),
    ],
)
def test_user_errors_are_one_line_without_traceback(tmp_path, module, overrides, expected):
    result = run_cli(module, *overrides, tmp_path=tmp_path)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if "error" in line.lower()]
    assert errors, result.stderr
    assert expected in errors[-1]


def test_unknown_group_option_lists_the_choices(tmp_path):
    result = run_cli("rnnkit.cli.train", "cell=foo", tmp_path=tmp_path)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "cell/foo" in result.stderr and "lstm" in result.stderr


class _RunsCode:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_a_checkpoint_with_pickled_code_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "code_ran"
    path = tmp_path / "evil.ckpt"
    with path.open("wb") as handle:
        pickle.dump({"rnnkit": {}, "payload": _RunsCode(marker)}, handle)
    with pytest.raises(CheckpointError, match="not a loadable rnnkit checkpoint"):
        load_checkpoint(path)
    assert not marker.exists()


def test_a_checkpoint_naming_untrusted_code_is_refused(tmp_path):
    path = tmp_path / "untrusted.ckpt"
    torch.save(
        {
            "rnnkit": {"task": "sentiment", "task_class": "os.system"},
            "hyper_parameters": {"cell": {}, "model": {}, "data_spec": {}, "optimizer": {}},
            "state_dict": {},
        },
        path,
    )
    with pytest.raises(CheckpointError, match="rnnkit.task_class: 'os.system' is outside"):
        restore_task(load_checkpoint(path))


def test_a_checkpoint_of_another_task_is_refused(tmp_path):
    from rnnkit.cli.checkpoint import check_task

    checkpoint = {"rnnkit": {"task": "tagging"}}
    with pytest.raises(ValueError, match="'tagging' checkpoint, but this run is a 'sentiment'"):
        check_task(checkpoint, "sentiment", "x.ckpt")
