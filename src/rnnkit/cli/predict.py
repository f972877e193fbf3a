"""``rnnkit-predict ckpt_path=... input=...``: human-readable predictions on raw input.

``experiment=<name>`` instead of ``ckpt_path`` uses that experiment's latest trained model
(:mod:`rnnkit.cli.experiment_checkpoint`). A task that generates from nothing (music) needs
no ``input``; ``output_file`` and ``steps`` are its options as well. ``input_file=`` is another
name for ``input=``.
"""

from __future__ import annotations

import sys

import hydra
import torch
from omegaconf import DictConfig, OmegaConf, open_dict

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
from rnnkit.cli.validation import check_data_overrides, validate_checkpoint_command

# Top-level keys of predict.yaml that are options of the task's predict_raw when set.
OPTION_KEYS = ("output_file", "steps")


def predict(cfg: DictConfig) -> list[str]:
    with open_dict(cfg):
        if OmegaConf.is_missing(cfg, "ckpt_path") and cfg.get("from_experiment"):
            cfg.ckpt_path = experiment_checkpoint(cfg.paths.log_dir, str(cfg.from_experiment))
        if cfg.get("input_file") is not None:
            if not OmegaConf.is_missing(cfg, "input"):
                raise ConfigError("input_file: give input or input_file, not both")
            cfg.input = cfg.input_file
        without_input = OmegaConf.is_missing(cfg, "input")
        if without_input:  # the task may generate from nothing (see below)
            del cfg["input"]
    validate_checkpoint_command(cfg)  # every value checked before the checkpoint is read
    checkpoint = load_checkpoint(cfg.ckpt_path)
    data = OmegaConf.to_container(cfg.data, resolve=True)
    check_data_overrides(data.get("_target_") or stored_data_target(checkpoint), data)
    task = restore_task(checkpoint, cfg.ckpt_path)
    with config_key("data"):
        datamodule = restore_datamodule(checkpoint, data, source=cfg.ckpt_path)
    with config_key("input"):
        if not without_input:
            batch = datamodule.batch_from_raw(str(cfg.input))
        elif hasattr(datamodule, "batch_without_input"):
            batch = datamodule.batch_without_input()
        else:
            raise ConfigError("input: missing; the command needs input=<value>")
    # null options are the task's defaults: only the ones set reach the task.
    options = {
        name: value
        for name, value in OmegaConf.to_container(cfg.options, resolve=True).items()
        if value is not None
    }
    for key in OPTION_KEYS:
        if cfg.get(key) is not None:
            if key in options:
                raise ConfigError(f"{key}: given twice, as {key} and as options.{key}")
            options[key] = cfg[key]
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
    """``rnnkit-predict``: ``experiment=<name>`` first becomes ``from_experiment=<name>``, and
    ``data.<key>=<value>`` overrides the checkpoint's data config."""
    sys.argv[1:] = open_mapping_overrides(experiment_arguments(sys.argv[1:]))
    predict_main()


if __name__ == "__main__":
    main()
