"""``rnnkit-predict ckpt_path=... input=...``: human-readable predictions on raw input.

``experiment=<name>`` instead of ``ckpt_path`` reads the best checkpoint of that experiment's
newest run (Hydra would take ``experiment`` for the config group of that name: the command line
passes it on as ``from_experiment=<name>``); ``input_file=`` is another name for ``input=``."""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
import torch
from omegaconf import DictConfig, OmegaConf, open_dict

from rnnkit.cli.checkpoint import (
    load_checkpoint,
    restore_datamodule,
    restore_task,
    stored_data_target,
)
from rnnkit.cli.errors import ConfigError, config_key, reporting_exit_codes, run_reporting_errors
from rnnkit.cli.run_folders import latest_run_dir
from rnnkit.cli.validation import check_data_overrides, validate_checkpoint_command


def predict(cfg: DictConfig) -> list[str]:
    with open_dict(cfg):  # experiment= and input_file= stand for ckpt_path= and input=
        if cfg.get("from_experiment") and not cfg.ckpt_path:
            runs = Path(cfg.paths.log_dir) / str(cfg.from_experiment) / "runs"
            best = Path("checkpoints") / "best.ckpt"
            cfg.ckpt_path = str(latest_run_dir(runs, best, "experiment") / best)
        if cfg.get("input_file") is not None:
            if cfg.input is not None:
                raise ConfigError("input_file: give input or input_file, not both")
            cfg.input = cfg.input_file
    validate_checkpoint_command(cfg)  # every value checked before the checkpoint is read
    checkpoint = load_checkpoint(cfg.ckpt_path)
    data = OmegaConf.to_container(cfg.data, resolve=True)
    check_data_overrides(data.get("_target_") or stored_data_target(checkpoint), data)
    task = restore_task(checkpoint, cfg.ckpt_path)
    with config_key("data"):
        datamodule = restore_datamodule(checkpoint, data, source=cfg.ckpt_path)
    with config_key("input"):
        batch = datamodule.batch_from_raw(str(cfg.input))
    options = OmegaConf.to_container(cfg.options, resolve=True)
    with torch.no_grad(), config_key("options"):
        lines = task.predict_raw(batch, datamodule, **options)
    for line in lines:
        print(line)
    return lines


@reporting_exit_codes
@hydra.main(version_base="1.3", config_path="../configs", config_name="predict")
def run(cfg: DictConfig) -> None:
    run_reporting_errors(predict, cfg)


def main() -> None:
    """``rnnkit-predict``, with ``experiment=<name>`` passed on as ``from_experiment=<name>``."""
    sys.argv[1:] = [
        f"from_experiment={argument.partition('=')[2]}"
        if argument.startswith("experiment=")
        else argument
        for argument in sys.argv[1:]
    ]
    run()


if __name__ == "__main__":
    main()
