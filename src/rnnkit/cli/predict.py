"""``rnnkit-predict ckpt_path=... input=...``: human-readable predictions on raw input."""

from __future__ import annotations

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
