"""Checkpoints are data: every load path refuses a bad or hostile file in one line, exit 1.

One tiny sentiment run (module fixture) gives a good ``best.ckpt``/``last.ckpt``; each case
writes a damaged or hostile copy of it and opens it through ``rnnkit-eval``,
``rnnkit-predict``, ``rnnkit-train ckpt_path=...`` (resume) and the library entry
``RecurrentTask.load_from_checkpoint``. Every case asserts the exit code, a single stderr line
naming the file and what is wrong, that no code named in the file ran, and that the run's
earlier outputs (checkpoints, metrics.json) are byte-for-byte unchanged.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from hydra.core.global_hydra import GlobalHydra

from hydra_helpers import compose_run
from rnnkit.cli.errors import run_reporting_errors
from rnnkit.cli.eval import evaluate
from rnnkit.cli.predict import predict
from rnnkit.cli.train import train
from rnnkit.tasks.base import RecurrentTask
from rnnkit.tasks.checkpoint_file import CheckpointError
from rnnkit.tasks.sentiment import SentimentTask
from rnnkit.tasks.tagging import TaggingTask

QUICK = [
    "experiment=sentiment",
    "cell.hidden_size=8",
    "model.embedding_dim=8",
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=2",
    "trainer.limit_val_batches=1",
    "trainer.limit_test_batches=1",
    "trainer.enable_progress_bar=false",
    "logger=csv",
]
CODE_RAN = "code_ran"
"""The file a hostile ``_target_`` in a case would create if it ever ran."""


pytestmark = pytest.mark.usefixtures("no_leftover_log_handlers")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("trained")
    train(compose_run(QUICK, folder))
    GlobalHydra.instance().clear()
    assert (folder / "checkpoints" / "last.ckpt").is_file()
    return folder


@pytest.fixture(scope="module")
def good(run_dir) -> dict[str, Any]:
    return torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)


def fingerprints(folder: Path) -> dict[str, str]:
    """sha256 of every file under ``folder`` (to show that nothing earlier changed)."""
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


# ---- the damaged and hostile files -------------------------------------------------------


class _RunsCode:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def edited(change: Callable[[dict[str, Any], Path], None]) -> Callable[..., None]:
    """A writer of the good checkpoint after ``change(checkpoint, folder)``."""

    def write(path: Path, good: dict[str, Any], good_bytes: bytes) -> None:
        checkpoint = pickle.loads(pickle.dumps(good))  # a deep copy, tensors included
        change(checkpoint, path.parent)
        torch.save(checkpoint, path)

    return write


def raw(data: Callable[[bytes, Path], bytes]) -> Callable[..., None]:
    def write(path: Path, good: dict[str, Any], good_bytes: bytes) -> None:
        path.write_bytes(data(good_bytes, path.parent))

    return write


def pickled_code(good_bytes: bytes, folder: Path) -> bytes:
    return pickle.dumps({"rnnkit": {}, "payload": _RunsCode(folder / CODE_RAN)})


def drop(*keys: str) -> Callable[[dict[str, Any], Path], None]:
    def change(checkpoint: dict[str, Any], folder: Path) -> None:
        entry = checkpoint
        for key in keys[:-1]:
            entry = entry[key]
        del entry[keys[-1]]

    return change


def set_entry(*keys: str, value: Callable[[Path], Any]) -> Callable[[dict[str, Any], Path], None]:
    def change(checkpoint: dict[str, Any], folder: Path) -> None:
        entry = checkpoint
        for key in keys[:-1]:
            entry = entry[key]
        entry[keys[-1]] = value(folder)

    return change


def reshape_first_weight(checkpoint: dict[str, Any], folder: Path) -> None:
    name = next(n for n, t in checkpoint["state_dict"].items() if t.dim() == 2)
    checkpoint["state_dict"][name] = torch.zeros(3, 5)


def drop_first_weight(checkpoint: dict[str, Any], folder: Path) -> None:
    del checkpoint["state_dict"][next(iter(checkpoint["state_dict"]))]


def add_weight(checkpoint: dict[str, Any], folder: Path) -> None:
    checkpoint["state_dict"]["model.extra.weight"] = torch.zeros(2)


def opener(folder: Path) -> dict[str, Any]:
    """A ``_target_`` that would create the CODE_RAN file if it were ever instantiated."""
    return {
        "_target_": "builtins.open",
        "_partial_": True,
        "file": str(folder / CODE_RAN),
        "mode": "w",
    }


def system(folder: Path) -> dict[str, Any]:
    return {"_target_": "os.system", "_partial_": True, "command": f"touch {folder / CODE_RAN}"}


# (case id, writer, what the one line must say besides the file name)
BAD_FILES = [
    ("zero-byte", raw(lambda data, folder: b""), "the file is empty (0 bytes)"),
    (
        "truncated",
        raw(lambda data, folder: data[: len(data) // 2]),
        "not a loadable rnnkit checkpoint: truncated",
    ),
    (
        "garbage",
        raw(lambda data, folder: b"not a checkpoint\n" * 20),
        "not a loadable rnnkit checkpoint: truncated",
    ),
    ("pickled-code", raw(pickled_code), "pickled objects other than tensors"),
    ("a-list", raw(lambda data, folder: _saved([1, 2, 3])), "expected a dict of entries"),
    ("no-rnnkit-entry", edited(drop("rnnkit")), "was not written by rnnkit-train"),
    ("no-state-dict", edited(drop("state_dict")), "missing entry 'state_dict'"),
    ("no-hyper-parameters", edited(drop("hyper_parameters")), "missing entry 'hyper_parameters'"),
    (
        "no-optimizer-config",
        edited(drop("hyper_parameters", "optimizer")),
        "missing entry 'hyper_parameters.optimizer'",
    ),
    (
        "task-class-os-system",
        edited(set_entry("rnnkit", "task_class", value=lambda folder: "os.system")),
        "rnnkit.task_class: 'os.system' is outside the trusted modules",
    ),
    (
        "task-class-not-a-task",
        edited(set_entry("rnnkit", "task_class", value=lambda folder: "torch.nn.Linear")),
        "rnnkit.task_class: expected a subclass of RecurrentTask",
    ),
    (
        "optimizer-builtins-open",
        edited(set_entry("hyper_parameters", "optimizer", value=opener)),
        "optimizer._target_: 'builtins.open' is outside the trusted modules",
    ),
    (
        "optimizer-not-an-optimizer",
        edited(
            set_entry(
                "hyper_parameters", "optimizer", value=lambda f: {"_target_": "torch.nn.Linear"}
            )
        ),
        "optimizer._target_: expected a subclass of Optimizer",
    ),
    (
        "scheduler-os-system",
        edited(set_entry("hyper_parameters", "scheduler", value=system)),
        "scheduler._target_: 'os.system' is outside the trusted modules",
    ),
    (
        "cell-builtins-open",
        edited(set_entry("hyper_parameters", "cell", value=opener)),
        "cell._target_: 'builtins.open' is outside the trusted modules",
    ),
    (
        "weight-shape",
        edited(reshape_first_weight),
        "has shape (3, 5) in the checkpoint but",
    ),
    ("weight-missing", edited(drop_first_weight), "lacks weights 'model."),
    ("weight-unexpected", edited(add_weight), "has weights this model lacks 'model.extra.weight'"),
]


def _saved(value: Any) -> bytes:
    import io

    buffer = io.BytesIO()
    torch.save(value, buffer)
    return buffer.getvalue()


def write_case(tmp_path: Path, run_dir: Path, good: dict[str, Any], writer) -> Path:
    path = tmp_path / "bad.ckpt"
    writer(path, good, (run_dir / "checkpoints" / "last.ckpt").read_bytes())
    return path


def one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("rnnkit: error: "), lines[0]
    return lines[0]


def run_command(command: Callable[..., Any], cfg: Any, capsys) -> tuple[int, str]:
    """``command`` as its entry point runs it: (exit code, stderr)."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:
        run_reporting_errors(command, cfg)
    GlobalHydra.instance().clear()
    return exited.value.code, capsys.readouterr().err


ENTRY_POINTS = {
    "eval": lambda path, out: (evaluate, compose_run([f"ckpt_path={path}"], out, "eval")),
    "predict": lambda path, out: (
        predict,
        compose_run([f"ckpt_path={path}", "input=a fine film"], out, "predict"),
    ),
}


@pytest.mark.parametrize("entry_point", sorted(ENTRY_POINTS))
@pytest.mark.parametrize(("case", "writer", "expected"), BAD_FILES, ids=[c[0] for c in BAD_FILES])
def test_eval_and_predict_refuse_a_bad_checkpoint_in_one_line(
    tmp_path, run_dir, good, capsys, entry_point, case, writer, expected
):
    path = write_case(tmp_path, run_dir, good, writer)
    before = fingerprints(run_dir) | fingerprints(tmp_path)
    command, cfg = ENTRY_POINTS[entry_point](path, tmp_path / "out")
    code, stderr = run_command(command, cfg, capsys)
    line = one_error_line(stderr)
    assert code == 1
    assert str(path) in line and expected in line, line
    assert not (tmp_path / CODE_RAN).exists()
    after = fingerprints(run_dir) | fingerprints(tmp_path)
    assert {k: v for k, v in after.items() if not k.startswith("out")} == before


@pytest.mark.parametrize(("case", "writer", "expected"), BAD_FILES, ids=[c[0] for c in BAD_FILES])
def test_the_library_entry_refuses_a_bad_checkpoint(
    tmp_path, run_dir, good, case, writer, expected
):
    path = write_case(tmp_path, run_dir, good, writer)
    with pytest.raises(CheckpointError) as refused:
        RecurrentTask.load_from_checkpoint(path)
    message = str(refused.value)
    assert "\n" not in message
    assert str(path) in message and expected in message, message
    assert not (tmp_path / CODE_RAN).exists()


def test_the_library_entry_loads_a_good_checkpoint(run_dir, good):
    path = run_dir / "checkpoints" / "last.ckpt"
    task = RecurrentTask.load_from_checkpoint(path)
    assert type(task) is SentimentTask and task.training
    for name, tensor in task.state_dict().items():
        assert torch.equal(tensor, good["state_dict"][name]), name
    assert task.artifacts == good["rnnkit"]["artifacts"]
    assert type(SentimentTask.load_from_checkpoint(path)) is SentimentTask
    # Lightning's contract: keyword arguments replace stored constructor arguments.
    lower = SentimentTask.load_from_checkpoint(
        path, optimizer={"_target_": "torch.optim.SGD", "_partial_": True, "lr": 0.5}
    )
    assert lower.hparams.optimizer["_target_"] == "torch.optim.SGD"


def test_the_library_entry_refuses_another_task_and_unsafe_options(tmp_path, run_dir):
    path = run_dir / "checkpoints" / "last.ckpt"
    with pytest.raises(CheckpointError, match="holds a SentimentTask, not a TaggingTask"):
        TaggingTask.load_from_checkpoint(path)
    with pytest.raises(ValueError, match="^weights_only: "):
        RecurrentTask.load_from_checkpoint(path, weights_only=False)
    with pytest.raises(CheckpointError, match="optimizer._target_: 'builtins.open'"):
        RecurrentTask.load_from_checkpoint(path, optimizer=opener(tmp_path))
    assert not (tmp_path / CODE_RAN).exists()


def test_a_task_built_in_code_refuses_an_untrusted_optimizer_before_training(tmp_path, good):
    arguments = {**good["hyper_parameters"], "optimizer": opener(tmp_path)}
    with pytest.raises(ValueError, match="^optimizer._target_: 'builtins.open' is outside"):
        SentimentTask(**arguments)
    arguments = {**good["hyper_parameters"], "scheduler": system(tmp_path)}
    with pytest.raises(ValueError, match="^scheduler._target_: 'os.system' is outside"):
        SentimentTask(**arguments)
    assert not (tmp_path / CODE_RAN).exists()


# ---- resume (rnnkit-train ckpt_path=...) --------------------------------------------------

RESUME_CASES = [
    # (case id, writer or None for the run's own last.ckpt, extra overrides, expected)
    ("zero-byte", BAD_FILES[0][1], [], "the file is empty (0 bytes)"),
    ("truncated", BAD_FILES[1][1], [], "not a loadable rnnkit checkpoint: truncated"),
    ("no-state-dict", BAD_FILES[6][1], [], "missing entry 'state_dict'"),
    ("weight-shape", BAD_FILES[15][1], [], "has shape (3, 5) in the checkpoint but"),
    (
        "weights-only",
        edited(drop("optimizer_states")),
        [],
        "cannot resume training, missing entry 'optimizer_states'",
    ),
    ("no-loops", edited(drop("loops")), [], "cannot resume training, missing entry 'loops'"),
    ("other-hidden-size", None, ["cell.hidden_size=12"], "in the checkpoint but"),
    ("other-cell", None, ["cell=gru"], "in the checkpoint but"),
]


@pytest.mark.parametrize(
    ("case", "writer", "overrides", "expected"), RESUME_CASES, ids=[c[0] for c in RESUME_CASES]
)
def test_resume_refuses_a_checkpoint_that_does_not_fit(
    tmp_path, run_dir, good, capsys, case, writer, overrides, expected
):
    path = (
        run_dir / "checkpoints" / "last.ckpt"
        if writer is None
        else write_case(tmp_path, run_dir, good, writer)
    )
    before = fingerprints(run_dir)
    cfg = compose_run([*QUICK, "trainer.max_epochs=2", f"ckpt_path={path}", *overrides], tmp_path)
    code, stderr = run_command(train, cfg, capsys)
    line = one_error_line(stderr)
    assert code == 1
    assert str(path) in line and expected in line, line
    assert fingerprints(run_dir) == before
    assert not (tmp_path / "metrics.json").exists()


def test_the_command_line_prints_one_line_and_exits_1(tmp_path):
    """End to end, in a fresh interpreter: no traceback, exit 1, the file named."""
    path = tmp_path / "empty.ckpt"
    path.write_bytes(b"")
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    result = subprocess.run(
        [sys.executable, "-m", "rnnkit.cli.eval", f"ckpt_path={path}"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert result.returncode == 1
    assert one_error_line(result.stderr) == (
        f"rnnkit: error: checkpoint {path}: the file is empty (0 bytes)"
    )
