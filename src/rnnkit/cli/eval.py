"""``rnnkit-eval ckpt_path=...``: re-run the test metrics of a checkpoint on its test split."""

from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig, OmegaConf

from rnnkit.cli.checkpoint import (
    load_checkpoint,
    restore_datamodule,
    restore_task,
    stored_data_target,
)
from rnnkit.cli.checkpoint_overrides import open_mapping_overrides
from rnnkit.cli.console import quiet_console
from rnnkit.cli.errors import config_key, reporting_exit_codes, run_reporting_errors
from rnnkit.cli.run_summary import eval_summary
from rnnkit.cli.validation import check_data_overrides, validate_checkpoint_command


def evaluate(cfg: DictConfig) -> dict[str, float]:
    """Test the checkpoint ``cfg.ckpt_path``; print and return its metrics."""
    with quiet_console(bool(cfg.get("verbose", False))):
        return _evaluate(cfg)


def _evaluate(cfg: DictConfig) -> dict[str, float]:
    validate_checkpoint_command(cfg)  # every value checked before the checkpoint is read
    checkpoint = load_checkpoint(cfg.ckpt_path)
    data = OmegaConf.to_container(cfg.data, resolve=True)
    check_data_overrides(data.get("_target_") or stored_data_target(checkpoint), data)
    task = restore_task(checkpoint, cfg.ckpt_path)
    with config_key("data"):
        datamodule = restore_datamodule(checkpoint, data, source=cfg.ckpt_path)
    with config_key("trainer"):
        trainer = hydra.utils.instantiate(cfg.trainer, callbacks=[])
    results = trainer.test(task, datamodule=datamodule, verbose=bool(cfg.get("verbose", False)))
    metrics = {k: float(v) for result in results for k, v in result.items()}
    print(eval_summary(str(cfg.ckpt_path), dict(sorted(metrics.items()))), flush=True)
    return metrics


@reporting_exit_codes
@hydra.main(version_base="1.3", config_path="../configs", config_name="eval")
def eval_main(cfg: DictConfig) -> None:
    run_reporting_errors(evaluate, cfg)


def main() -> None:
    """``rnnkit-eval``: ``data.<key>=<value>`` overrides the checkpoint's data config."""
    sys.argv[1:] = open_mapping_overrides(sys.argv[1:])
    eval_main()


if __name__ == "__main__":
    main()
