"""``rnnkit-predict ckpt_path=... input=...``: human-readable predictions on raw input.

``experiment=<name>`` instead of ``ckpt_path`` reads the best checkpoint of that experiment's
newest run; ``input_file=`` is another name for ``input=``."""

from __future__ import annotations

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
        if cfg.get("experiment") and not cfg.ckpt_path:
            runs = Path(cfg.paths.log_dir) / str(cfg.experiment) / "runs"
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
def main(cfg: DictConfig) -> None:
    run_reporting_errors(predict, cfg)


if __name__ == "__main__":
    main()
