"""``rnnkit-predict ckpt_path=... input=... | input_file=...``: predictions on raw input.

Like a Unix filter: ``input_file=-`` reads one input a line from standard input, the
predictions go to standard output (or ``output_file``), as the task's text lines or as JSON
Lines (``output_format=jsonl``: one object per prediction), and nothing else is written: no
run or log folder (``src/rnnkit/configs/predict.yaml``). Each input line is predicted as it is
read, so a pipe sees its answer at once.

``experiment=<name>`` instead of ``ckpt_path`` uses that experiment's latest trained model
(:mod:`rnnkit.cli.experiment_checkpoint`). Data whose input is a file itself (speech's audio,
music's seed MIDI file: ``input_file_is_one_input``) takes ``input_file`` as one input; a task
that generates from nothing (music) needs no input, and writes its own ``output_file``.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import hydra
import torch
from omegaconf import DictConfig, OmegaConf

from rnnkit.cli.checkpoint import (
    load_checkpoint,
    restore_datamodule,
    restore_task,
    stored_data_target,
)
from rnnkit.cli.checkpoint_overrides import open_mapping_overrides
from rnnkit.cli.errors import (
    ConfigError,
    config_key,
    reporting_exit_codes,
    run_reporting_errors,
)
from rnnkit.cli.experiment_checkpoint import experiment_arguments, experiment_checkpoint
from rnnkit.cli.validation import (
    check_data_overrides,
    missing_input,
    validate_checkpoint_command,
)
from rnnkit.data.io.reading import read_lines
from rnnkit.tasks.base import RecurrentTask

STDIN = "-"
"""``input_file=-``: read the inputs from standard input."""


def predict(cfg: DictConfig) -> list[str]:
    """Predict on ``cfg.input``, every line of ``cfg.input_file`` (or the file as one input),
    or nothing (a generating task); write each prediction (text or JSON Lines) to
    ``cfg.output_file`` or standard output. Returns what was written for each prediction (one
    line, or several for a forecast table)."""
    if OmegaConf.is_missing(cfg, "ckpt_path") and cfg.get("from_experiment"):
        cfg.ckpt_path = experiment_checkpoint(cfg.paths.log_dir, str(cfg.from_experiment))
    validate_checkpoint_command(cfg)  # every value checked before the checkpoint is read
    checkpoint = load_checkpoint(cfg.ckpt_path)
    data = OmegaConf.to_container(cfg.data, resolve=True)
    check_data_overrides(data.get("_target_") or stored_data_target(checkpoint), data)
    task = restore_task(checkpoint, cfg.ckpt_path)
    with config_key("data"):
        datamodule = restore_datamodule(checkpoint, data, source=cfg.ckpt_path)
    # null options are the task's defaults: only the ones set reach the task.
    options = {
        name: value
        for name, value in OmegaConf.to_container(cfg.options, resolve=True).items()
        if value is not None
    }
    if cfg.get("steps") is not None:
        if "steps" in options:
            raise ConfigError("steps: given twice, as steps and as options.steps")
        options["steps"] = cfg.steps
    writes_own_file = getattr(task, "writes_output_file", False)
    if writes_own_file and cfg.output_file is not None:
        options["output_file"] = cfg.output_file  # the task writes it (music: MIDI)
    written: list[str] = []
    with _output(None if writes_own_file else cfg.output_file) as out:
        for line_number, raw, key in _inputs(cfg, datamodule):
            with config_key(key):
                batch = (
                    datamodule.batch_without_input()
                    if raw is None
                    else datamodule.batch_from_raw(raw)
                )
            with torch.no_grad(), config_key("options"):
                predictions = _predictions(task, batch, datamodule, options)
            for record, line in predictions:
                if cfg.output_format == "jsonl":
                    where = {"line": line_number} if line_number is not None else {}
                    text = json.dumps({"input": raw, **where, **record}, ensure_ascii=False)
                else:
                    text = line
                out.write(text + "\n")
                written.append(text)
            out.flush()
    return written


def _predictions(
    task: RecurrentTask, batch: dict[str, Any], datamodule: Any, options: dict[str, Any]
) -> list[tuple[dict[str, Any], str]]:
    """``(record, text)`` of each prediction of a batch: the task's records and their text
    (``format_prediction``); a task with text predictions only (``predict_raw``) gives
    ``({"text": line}, line)``."""
    if type(task).predict_records is not RecurrentTask.predict_records:
        records = task.predict_records(batch, datamodule, **options)
        return [(record, task.format_prediction(record)) for record in records]
    return [({"text": line}, line) for line in task.predict_raw(batch, datamodule, **options)]


def _inputs(cfg: DictConfig, datamodule: Any) -> Iterator[tuple[int | None, str | None, str]]:
    """``(line number or None, raw input, config key for errors)`` of each input; the raw
    input is None for a task that generates from nothing."""
    if cfg.input is not None and cfg.input_file is not None:
        raise ConfigError("input_file: give input or input_file, not both")
    if cfg.input is not None:
        yield None, str(cfg.input), "input"
        return
    if cfg.input_file is None:
        if not hasattr(datamodule, "batch_without_input"):
            raise ConfigError(missing_input(None))
        yield None, None, "input"
        return
    name = str(cfg.input_file)
    if getattr(datamodule, "input_file_is_one_input", False):
        yield None, name, "input_file"
        return
    if name == STDIN:
        lines = _stdin_lines()
    else:
        if not Path(name).is_file():
            raise FileNotFoundError(2, "input file not found", name)
        lines = read_lines(name)
    for number, text in lines:
        if text.strip():
            yield number, text, f"input_file: {name}, line {number}"


def _stdin_lines() -> Iterator[tuple[int, str]]:
    """Standard input's lines as UTF-8 text, numbered from 1, without their ends."""
    stream = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", newline=None)
    number = 1
    try:
        for line in stream:
            yield number, line.rstrip("\n")
            number += 1
    except UnicodeDecodeError:
        raise ValueError(
            f"input_file: standard input, line {number}: not valid UTF-8 (expected UTF-8 "
            "text; re-encode it, e.g. with iconv -t UTF-8)"
        ) from None
    finally:
        stream.detach()  # leave sys.stdin's buffer open


@contextlib.contextmanager
def _output(path: Any) -> Iterator[IO[str]]:
    """The file ``path`` (made with its folder, written as UTF-8), or standard output."""
    if path is None:
        yield sys.stdout
        return
    target = Path(str(path))
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("w", encoding="utf-8") as handle:
        yield handle


@reporting_exit_codes
@hydra.main(version_base="1.3", config_path="../configs", config_name="predict")
def predict_main(cfg: DictConfig) -> None:
    run_reporting_errors(predict, cfg)


def main() -> None:
    """``rnnkit-predict``: ``experiment=<name>`` first becomes ``from_experiment=<name>``, and
    ``data.<key>=<value>`` overrides the checkpoint's data config."""
    sys.argv[1:] = open_mapping_overrides(experiment_arguments(sys.argv[1:]))
    predict_main()


if __name__ == "__main__":
    main()
