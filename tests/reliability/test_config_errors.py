"""Bad command lines and configs: exit 2, one line naming the key, nothing written.

Each case composes ``rnnkit-train <overrides>`` in-process (as the command line does) and runs
it through the CLI's error reporting; a few run the real command to check Hydra's own errors.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra.errors import ConfigCompositionException

import rnnkit
from rnnkit.cli.compose import CONFIG_DIR, compose_run
from rnnkit.cli.draw import draw
from rnnkit.cli.errors import (
    EXIT_CONFIG_ERROR,
    EXIT_DATA_ERROR,
    ConfigError,
    reporting_exit_codes,
    run_reporting_errors,
)
from rnnkit.cli.eval import evaluate
from rnnkit.cli.predict import predict
from rnnkit.cli.prepare import prepare_and_export
from rnnkit.cli.top_level_keys import check_top_level_keys, known_top_level_keys
from rnnkit.cli.train import train
from rnnkit.cli.validation import (
    validate_checkpoint_command,
    validate_prepare_config,
    validate_run_config,
)

# (overrides, what the one error line must contain)
CONFIG_CASES = [
    (["trainer.max_epochs=abc"], "trainer.max_epochs: expected an integer or null, got 'abc'"),
    (["num_threads=-1"], "num_threads: expected a positive integer or null, got -1"),
    (["num_threads=abc"], "num_threads: expected a positive integer or null, got 'abc'"),
    (["seed=abc"], "seed: expected an integer >= 0"),
    (["seed=-5"], "seed: expected an integer >= 0"),
    (["task.optimizer.lr=abc"], "task.optimizer.lr: expected a number, got 'abc'"),
    (["task.optimizer.lr=0"], "task.optimizer.lr: expected a positive number, got 0"),
    (["task.optimizer.lr=-0.1"], "task.optimizer.lr: expected a positive number, got -0.1"),
    (["task.optimizer.weight_decay=-1"], "task.optimizer.weight_decay: expected a number >= 0"),
    (["cell.bidirectional=maybe"], "cell.bidirectional: expected true or false, got 'maybe'"),
    (["cell.bidirectional='yes'"], "cell.bidirectional: expected true or false, got 'yes'"),
    (["cell.hidden_size=0"], "cell.hidden_size: expected a positive integer, got 0"),
    (["cell.num_layers=1.5"], "cell.num_layers: expected an integer, got 1.5"),
    (["cell.dropout=1.5"], "cell.dropout: expected a number >= 0 and < 1, got 1.5"),
    (["model.embedding_dim=0"], "model.embedding_dim: expected a positive integer, got 0"),
    (["model.dropout=-0.5"], "model.dropout: expected a number >= 0 and < 1"),
    (["model.pooling=3"], "model.pooling: expected a string, got 3"),
    (["trainer.gradient_clip_val=-1"], "trainer.gradient_clip_val: expected a number >= 0"),
    (["trainer.precision=16-mixed"], "trainer.precision: '16-mixed' needs a GPU"),
    (["trainer.precision=16-true"], "trainer.precision: '16-true' needs a GPU"),
    (["trainer.precision=half"], "trainer.precision: expected one of"),
    (["+cell.dtype=float16"], "cell.dtype: not a setting (the trainer sets the precision"),
    (["+cell.input_size=3"], "cell.input_size: not a setting (set by the task"),
    (
        ["+model.foo=1"],
        "model.foo: unknown key; expected one of: dropout, embedding, embedding_dim, "
        "ensemble_size, pooling",
    ),
    (["+model.poolng=max"], "model.poolng: unknown key; did you mean model.pooling?"),
    (["+model.embeding_dim=8"], "did you mean model.embedding_dim?"),
    (["+cell.hiden_size=3"], "cell.hiden_size: unknown key; did you mean cell.hidden_size?"),
    (["+trainer.max_epoch=3"], "trainer.max_epoch: unknown key; did you mean trainer.max_epochs?"),
    (["+data.batchsize=3"], "data.batchsize: unknown key; did you mean data.batch_size?"),
    (["+task.optimizer.betass=[1,2]"], "did you mean task.optimizer.betas?"),
    (["data.batch_size=0"], "data.batch_size: expected a positive integer, got 0"),
    (["experiment=tagging", "model.crf=maybe"], "model.crf: expected true or false"),
    (["experiment=forecasting", "model.strategy=3"], "model.strategy: expected a string"),
    (["experiment=forecasting", "+data.horizn=3"], "did you mean data.horizon?"),
    (["experiment=translation", "+model.atention=dot"], "did you mean model.attention?"),
    (["cell=gru", "+cell.proj_size=4"], "cell.proj_size: unknown key"),
    (["cell=peephole_lstm", "+cell.cell.hiden=1"], "cell.cell.hiden: unknown key"),
]


def error_lines(stderr: str) -> list[str]:
    """The ``rnnkit: error:`` lines (other lines may be log records of earlier tests)."""
    return [line for line in stderr.splitlines() if line.startswith("rnnkit: error:")]


@pytest.mark.parametrize(("overrides", "expected"), CONFIG_CASES, ids=lambda v: str(v))
def test_a_bad_config_value_exits_2_naming_the_key_before_any_work(
    tmp_path, capsys, overrides, expected
):
    run_dir = tmp_path / "run"
    cfg = compose_run(overrides, run_dir)
    with pytest.raises(SystemExit) as exit_info:
        run_reporting_errors(train, cfg)
    assert exit_info.value.code == EXIT_CONFIG_ERROR
    lines = error_lines(capsys.readouterr().err)
    assert len(lines) == 1, lines
    assert expected in lines[0]
    assert not run_dir.exists()  # nothing was prepared, trained or written


EXPERIMENTS = sorted(path.stem for path in (CONFIG_DIR / "experiment").glob("*.yaml"))
CELLS = sorted(path.stem for path in (CONFIG_DIR / "cell").glob("*.yaml"))


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_shipped_experiment_passes_validation(tmp_path, experiment):
    """The schema is read from the constructors: no shipped config may be refused."""
    validate_run_config(compose_run([f"experiment={experiment}"], tmp_path))


@pytest.mark.slow  # about 230 compositions: make test-full
@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_shipped_experiment_with_every_cell_passes_validation(tmp_path, experiment):
    for cell in CELLS:
        validate_run_config(compose_run([f"experiment={experiment}", f"cell={cell}"], tmp_path))


COMMANDS = {
    "train": train,
    "prepare": prepare_and_export,
    "draw": draw,
    "eval": evaluate,
    "predict": predict,
}
CHECKPOINT_ARGUMENTS = {"eval": ["ckpt_path=missing.ckpt"], "predict": ["ckpt_path=missing.ckpt"]}
"""What eval and predict get unless the case sets it: a checkpoint that does not exist, so a
case that validated too late would exit 1 (file not found) instead of 2."""

# (command, overrides, what the one error line must contain)
COMMAND_CONFIG_CASES = [
    ("train", ["+num_thread=2"], "num_thread: unknown key; did you mean num_threads?"),
    ("train", ["+trainr.max_epochs=3"], "trainr.max_epochs: unknown key; did you mean trainer."),
    ("train", ["+foo=1"], "foo: unknown key; expected one of: callbacks, cell, ckpt_path,"),
    ("train", ["experiment=tagging", "+optimized_metrik=x"], "did you mean optimized_metric?"),
    ("prepare", ["+exprot=memory://x"], "exprot: unknown key; did you mean export?"),
    ("prepare", ["+data.batchsize=3"], "data.batchsize: unknown key; did you mean data.batch_"),
    ("prepare", ["export_shard_multiple=0"], "export_shard_multiple: expected a positive integer"),
    ("draw", ["+outptu=x.png"], "outptu: unknown key; did you mean output?"),
    ("eval", ["+ckpt=b.ckpt"], "ckpt: unknown key; did you mean ckpt_path?"),
    ("eval", ["+trainr.logger=true"], "trainr.logger: unknown key; did you mean trainer.logger?"),
    ("eval", ["ckpt_path=3"], "ckpt_path: expected the path of a checkpoint file, got 3"),
    ("eval", ["ckpt_path=???"], "ckpt_path: missing; the command needs ckpt_path=<value>"),
    ("eval", ["+data.batch_size=0"], "data.batch_size: expected a positive integer, got 0"),
    ("eval", ["+trainer.accelerater=cpu"], "did you mean trainer.accelerator?"),
    ("predict", ["input=x", "+inputs=y"], "inputs: unknown key; did you mean input?"),
    ("predict", ["input=x", "+option.beam_size=2"], "did you mean options.beam_size?"),
    ("predict", ["input=' '"], "input: expected a sentence, a prompt or a file path (or"),
    ("predict", ["input=x", "input_file=y"], "input_file: give either input or input_file"),
    (
        "predict",
        ["input=x", "output_format=csv"],
        "output_format: expected one of ['text', 'jsonl']",
    ),
    ("predict", ["input=x", "+options.beam_size=0"], "options.beam_size: expected a positive"),
    ("predict", ["input=x", "+options.top_p=2"], "options.top_p: expected a number > 0 and <="),
    ("predict", ["input=x", "+data.num_workers=-1"], "data.num_workers: expected an integer >="),
]


@pytest.mark.parametrize(("command", "overrides", "expected"), COMMAND_CONFIG_CASES, ids=str)
def test_every_command_refuses_an_unknown_key_or_bad_value_before_any_work(
    tmp_path, capsys, command, overrides, expected
):
    run_dir = tmp_path / "run"
    cfg = compose_run([*CHECKPOINT_ARGUMENTS.get(command, []), *overrides], run_dir, command)
    with pytest.raises(SystemExit) as exit_info:
        run_reporting_errors(COMMANDS[command], cfg)
    assert exit_info.value.code == EXIT_CONFIG_ERROR
    lines = error_lines(capsys.readouterr().err)
    assert len(lines) == 1, lines
    assert expected in lines[0]
    assert not run_dir.exists() and not (tmp_path / "x.png").exists()


VALIDATORS = {
    "train": validate_run_config,
    "prepare": validate_prepare_config,
    "draw": check_top_level_keys,
    "eval": validate_checkpoint_command,
    "predict": validate_checkpoint_command,
}

# (command, overrides): `+` overrides of keys the command's config (or its experiment) has
ACCEPTED_CASES = [
    ("train", ["experiment=tagging", "++optimized_metric=val/f1"]),
    ("train", ["experiment=forecasting", "++experiment_name=mine", "+data.stream_from=x"]),
    ("train", ["+trainer.max_time=00:01:00:00"]),
    ("prepare", ["experiment=language_model", "+export_storage_options.anon=true"]),
    ("draw", ["++steps=3"]),
    ("eval", ["+data.batch_size=4"]),
    ("predict", ["input=a fine film", "+options.beam_size=2", "+data.num_workers=0"]),
]


@pytest.mark.parametrize(("command", "overrides"), ACCEPTED_CASES, ids=str)
def test_keys_the_config_defines_are_accepted(tmp_path, command, overrides):
    cfg = compose_run([*CHECKPOINT_ARGUMENTS.get(command, []), *overrides], tmp_path, command)
    VALIDATORS[command](cfg)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_the_top_level_keys_are_the_primary_config_and_its_groups(command):
    """Read from the composition, not a list: the primary YAML's keys, those of the config it
    extends and the groups of their defaults lists."""
    import yaml

    expected: set[str] = set()
    names = [command]
    while names:
        primary = yaml.safe_load((CONFIG_DIR / f"{names.pop()}.yaml").read_text())
        for entry in primary.pop("defaults", []):
            if isinstance(entry, dict):
                expected.update(
                    k for k, v in entry.items() if v is not None and not k.startswith("override ")
                )
            elif entry != "_self_":
                names.append(entry)
        expected.update(primary)
    expected -= {"hydra"}
    assert known_top_level_keys(command, []) == expected


def test_eval_names_a_misspelt_data_override_of_the_checkpoints_datamodule(tmp_path, capsys):
    """The data overrides' keys are checked against the checkpoint's datamodule before its task
    or data are rebuilt."""
    run_dir = tmp_path / "trained"
    quick = ["experiment=sentiment", "cell.hidden_size=4", "model.embedding_dim=4", "logger=csv"]
    quick += ["trainer.max_epochs=1", "trainer.limit_train_batches=1", "test=false"]
    quick += ["trainer.limit_val_batches=1", "trainer.enable_progress_bar=false"]
    train(compose_run(quick, run_dir))
    checkpoint = run_dir / "checkpoints" / "last.ckpt"
    cfg = compose_run([f"ckpt_path={checkpoint}", "+data.batchsize=4"], tmp_path / "eval", "eval")
    with pytest.raises(SystemExit) as exit_info:
        run_reporting_errors(evaluate, cfg)
    assert exit_info.value.code == EXIT_CONFIG_ERROR
    lines = error_lines(capsys.readouterr().err)
    assert lines == ["rnnkit: error: data.batchsize: unknown key; did you mean data.batch_size?"]


# (error raised by the command, exit code, what the line must contain)
EXIT_CASES = [
    (ValueError("train.tsv, line 3: expected 2 columns"), EXIT_DATA_ERROR, "train.tsv, line 3"),
    (PermissionError(13, "Permission denied", "/srv/logs"), EXIT_DATA_ERROR, "/srv/logs"),
    (NotADirectoryError(20, "Not a directory", "/tmp/f/logs"), EXIT_DATA_ERROR, "/tmp/f/logs"),
    (FileNotFoundError(2, "No such file", "x.ckpt"), EXIT_DATA_ERROR, "file not found: x.ckpt"),
    (TypeError("cell: got an unexpected keyword 'x'"), EXIT_CONFIG_ERROR, "cell: got"),
    (
        ConfigCompositionException("Could not find 'cell/foo'\n\nConfig search path:\n\tx"),
        EXIT_CONFIG_ERROR,
        "Could not find 'cell/foo'",
    ),
]


@pytest.mark.parametrize(("error", "code", "expected"), EXIT_CASES, ids=lambda v: repr(v)[:40])
def test_exit_codes_follow_the_kind_of_error(capsys, monkeypatch, error, code, expected):
    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)

    def fails():
        raise error

    with pytest.raises(SystemExit) as exit_info:
        reporting_exit_codes(fails)()  # as Hydra's own errors reach the entry point
    assert exit_info.value.code == code
    lines = error_lines(capsys.readouterr().err)
    assert len(lines) == 1 and expected in lines[0] and "search path" not in lines[0]
    assert "HYDRA_FULL_ERROR" not in os.environ  # restored


def test_a_bug_is_not_disguised_as_a_user_error(monkeypatch):
    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)

    def fails():
        raise KeyError("a bug")

    with pytest.raises(KeyError):
        run_reporting_errors(fails)


def run_train(tmp_path: Path, *overrides: str, log_dir: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    env["RNNKIT_LOG_DIR"] = str(log_dir)
    env["PYTHONPATH"] = str(Path(rnnkit.__file__).parents[1])  # this checkout's rnnkit
    return subprocess.run(
        [sys.executable, "-m", "rnnkit.cli.train", *overrides],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )


SLOW = pytest.mark.slow

# (overrides, exit code, what the one error line must contain); the log folder is
# tmp_path/"logs" unless the case names a file in its place.
# Exit 2 and exit 1 each run in make test; the other exit-2 cases, whose messages the
# in-process tests above check too, only in make test-full (each is a 5 s interpreter start).
COMMAND_CASES = [
    (["cell=foo"], 2, "Could not find 'cell/foo'"),
    pytest.param(
        ["trainer.max_epochs=abc"], 2, "trainer.max_epochs: expected an integer", marks=SLOW
    ),
    pytest.param(["cell.hidden_size="], 2, "cell.hidden_size: expected an integer", marks=SLOW),
    pytest.param(
        ["+num_thread=2"], 2, "num_thread: unknown key; did you mean num_threads?", marks=SLOW
    ),
    (["LOG_DIR_IS_A_FILE", "trainer.fast_dev_run=true"], 1, "not a directory"),
]


@pytest.mark.parametrize(("overrides", "code", "expected"), COMMAND_CASES, ids=str)
def test_the_command_line_exit_code_and_one_line(tmp_path, overrides, code, expected):
    log_dir = tmp_path / "logs"
    earlier = tmp_path / "earlier.txt"
    earlier.write_text("an earlier run's output")
    if "LOG_DIR_IS_A_FILE" in overrides:
        overrides = [o for o in overrides if o != "LOG_DIR_IS_A_FILE"]
        log_dir = earlier / "logs"  # a folder inside a file: cannot be created
    result = run_train(tmp_path, *overrides, log_dir=log_dir)
    assert result.returncode == code, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("rnnkit: error:")]
    assert len(errors) == 1 and expected in errors[0], result.stderr[-2000:]
    if code == 1:
        assert str(log_dir) in errors[0]
    assert earlier.read_text() == "an earlier run's output"
    written = [p.name for p in tmp_path.rglob("*") if p.suffix in (".ckpt", ".json")]
    assert not written  # Hydra made the run folder; nothing was trained or saved


def test_an_addition_removed_again_is_no_unknown_key():
    """``+callbacks.kill=... ~callbacks.kill`` (what a resume after a test's kill does): the
    known keys come from a composition without the addition, so without its deletion too."""
    cfg = compose_run(
        ["experiment=sentiment", "+callbacks.extra.x=1", "~callbacks.extra", "+num_thread=2"],
        "/tmp/unused-run-dir",
    )
    with pytest.raises(ConfigError, match="num_thread: unknown key; did you mean num_threads"):
        check_top_level_keys(cfg)
