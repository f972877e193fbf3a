"""``rnnkit-predict ckpt_path=... input=...``: human-readable predictions on raw input."""

from __future__ import annotations

import sys

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
from rnnkit.cli.errors import config_key, reporting_exit_codes, run_reporting_errors
from rnnkit.cli.validation import check_data_overrides, validate_checkpoint_command


def predict(cfg: DictConfig) -> list[str]:
    validate_checkpoint_command(cfg)  # every value checked before the checkpoint is read
    checkpoint = load_checkpoint(cfg.ckpt_path)
    data = OmegaConf.to_container(cfg.data, resolve=True)
    check_data_overrides(data.get("_target_") or stored_data_target(checkpoint), data)
    task = restore_task(checkpoint, cfg.ckpt_path)
    with config_key("data"):
        datamodule = restore_datamodule(checkpoint, data, source=cfg.ckpt_path)
    with config_key("input"):
        batch = datamodule.batch_from_raw(str(cfg.input))
    # null options are the task's defaults: only the ones set reach the task.
    options = {
        name: value
        for name, value in OmegaConf.to_container(cfg.options, resolve=True).items()
        if value is not None
    }
    with torch.no_grad(), config_key("options"):
        lines = task.predict_raw(batch, datamodule, **options)
    for line in lines:
        print(line)
    return lines


@reporting_exit_codes
@hydra.main(version_base="1.3", config_path="../configs", config_name="predict")
def predict_main(cfg: DictConfig) -> None:
    run_reporting_errors(predict, cfg)


def main() -> None:
    """``rnnkit-predict``: ``data.<key>=<value>`` overrides the checkpoint's data config."""
    sys.argv[1:] = open_mapping_overrides(sys.argv[1:])
    predict_main()


if __name__ == "__main__":
    main()
