"""``rnnkit-predict ckpt_path=... input=... | input_file=...``: predictions on raw input.

Like a Unix filter: ``input_file=-`` reads one input a line from standard input, the
predictions go to standard output (or ``output_file``), as the task's text lines or as JSON
Lines (``output_format=jsonl``: one object per prediction), and nothing else is written: no
run or log folder (``configs/predict.yaml``). Each input line is predicted as it is read, so a
pipe sees its answer at once.
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
from rnnkit.cli.errors import config_key, reporting_exit_codes, run_reporting_errors
from rnnkit.cli.validation import check_data_overrides, validate_checkpoint_command
from rnnkit.data.io.reading import read_lines

STDIN = "-"
"""``input_file=-``: read the inputs from standard input."""


def predict(cfg: DictConfig) -> list[str]:
    """Predict on ``cfg.input`` or every line of ``cfg.input_file``; write each prediction
    (text or JSON Lines) to ``cfg.output_file`` or standard output. Returns what was written
    for each prediction (one line, or several for a forecast table)."""
    validate_checkpoint_command(cfg)  # every value checked before the checkpoint is read
    checkpoint = load_checkpoint(cfg.ckpt_path)
    data = OmegaConf.to_container(cfg.data, resolve=True)
    check_data_overrides(data.get("_target_") or stored_data_target(checkpoint), data)
    task = restore_task(checkpoint, cfg.ckpt_path)
    with config_key("data"):
        datamodule = restore_datamodule(checkpoint, data, source=cfg.ckpt_path)
    options = OmegaConf.to_container(cfg.options, resolve=True)
    written: list[str] = []
    with _output(cfg.output_file) as out:
        for line_number, raw, key in _inputs(cfg):
            with config_key(key):
                batch = datamodule.batch_from_raw(raw)
            with torch.no_grad(), config_key("options"):
                records = task.predict_records(batch, datamodule, **options)
            for record in records:
                if cfg.output_format == "jsonl":
                    where = {"line": line_number} if line_number is not None else {}
                    text = json.dumps({"input": raw, **where, **record}, ensure_ascii=False)
                else:
                    text = task.format_prediction(record)
                out.write(text + "\n")
                written.append(text)
            out.flush()
    return written


def _inputs(cfg: DictConfig) -> Iterator[tuple[int | None, str, str]]:
    """``(line number or None, raw input, config key for errors)`` of each input."""
    if cfg.input is not None:
        yield None, str(cfg.input), "input"
        return
    name = str(cfg.input_file)
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
def main(cfg: DictConfig) -> None:
    run_reporting_errors(predict, cfg)


if __name__ == "__main__":
    main()
