"""``rnnkit-train``: compose a config, train, test, and report the final metric.

rnnkit-train experiment=sentiment cell=gru cell.bidirectional=true trainer.max_epochs=3
"""

from __future__ import annotations

import importlib.util
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import hydra
import pytorch_lightning as pl
import torch
from omegaconf import DictConfig, OmegaConf

from rnnkit.cli.checkpoint import check_task, load_checkpoint
from rnnkit.cli.console import quiet_console
from rnnkit.cli.errors import config_key, reporting_exit_codes, run_reporting_errors
from rnnkit.cli.resume import checkpoint_to_resume, resume_arguments
from rnnkit.cli.run_hparams import link_hparams_to_metrics, run_hparams
from rnnkit.cli.run_summary import final_metrics, train_summary
from rnnkit.cli.validation import validate_run_config
from rnnkit.data.datamodule import RnnkitDataModule
from rnnkit.tasks.base import RecurrentTask
from rnnkit.tasks.building import locate

log = logging.getLogger("rnnkit")


def as_dict(config: Any) -> Any:
    """A resolved plain container of ``config`` (None stays None)."""
    if config is None:
        return None
    return OmegaConf.to_container(config, resolve=True)


def build_datamodule(config: DictConfig) -> RnnkitDataModule:
    with config_key("data"):
        arguments = as_dict(config)
        data_class = locate(arguments.pop("_target_", None), RnnkitDataModule, "data")
        # from_config: data.stream_from / data.stream_options work for every datamodule.
        return data_class.from_config(**arguments)


def build_task(cfg: DictConfig, datamodule: RnnkitDataModule) -> RecurrentTask:
    task_config = as_dict(cfg.task)
    with config_key("task"):
        task_class = locate(task_config.pop("_target_", None), RecurrentTask, "task")
    if datamodule.task and task_class.task != datamodule.task:
        raise ValueError(
            f"data: a '{datamodule.task}' dataset cannot train the '{task_class.task}' task "
            f"({type(datamodule).__name__} vs {task_class.__name__})"
        )
    with config_key("model"):
        return task_class(
            cell=as_dict(cfg.cell),
            model=as_dict(cfg.model),
            data_spec=datamodule.spec,
            data=as_dict(cfg.data),
            **task_config,
        )


OPTIONAL_PACKAGES = {
    "pytorch_lightning.loggers.MLFlowLogger": ("mlflow", "mlflow"),
    "pytorch_lightning.loggers.WandbLogger": ("wandb", "wandb"),
}
"""``_target_`` -> (the module it needs, the rnnkit extra that installs it)."""


def check_optional_package(target: str, key: str) -> None:
    """One line naming the extra to install when ``target`` needs a package that is absent."""
    module, extra = OPTIONAL_PACKAGES.get(target, (None, None))
    if module and importlib.util.find_spec(module) is None:
        raise ValueError(
            f"{key}: {target.rsplit('.', 1)[-1]} needs the {module} package, which is not "
            f"installed: pip install 'rnnkit[{extra}]'"
        )


def build_group(configs: DictConfig | None, key: str) -> list[Any]:
    """Instantiate every entry of a dict-of-configs group (callbacks, logger)."""
    built = []
    for name, config in (configs or {}).items():
        if config is not None and "_target_" in config:
            check_optional_package(str(config._target_), f"{key}.{name}")
            with config_key(f"{key}.{name}"):
                built.append(hydra.utils.instantiate(config))
    return built


def finish_loggers(loggers: list[Any]) -> None:
    """End the loggers' runs: Lightning's finalize leaves a Weights & Biases run open, and the
    next run of a sweep in this process would be logged into it."""
    for logger in loggers:
        if type(logger).__name__ == "WandbLogger" and logger._experiment is not None:
            logger.experiment.finish()


def print_summary(cfg: DictConfig, datamodule: RnnkitDataModule, task: RecurrentTask) -> None:
    parameters = sum(p.numel() for p in task.parameters())
    lines = [
        f"experiment: {cfg.get('experiment_name')}  task: {task.task}  "
        f"output: {cfg.paths.output_dir}"
    ]
    lines += [
        f"  {key}: {value}"
        for key, value in datamodule.summary().items()
        if not isinstance(value, (list, dict))
    ]
    lines.append(f"  model: {type(task.model).__name__}, {parameters:,} parameters")
    log.info("\n".join(lines))


def prepare(cfg: DictConfig) -> tuple[RnnkitDataModule, RecurrentTask]:
    """The run's threads and seed set, its datamodule set up (fitted on train) and its task
    built: ``(datamodule, task)``, before any Trainer exists; every config value is checked
    first (:mod:`rnnkit.cli.validation`)."""
    validate_run_config(cfg)
    if cfg.get("num_threads"):
        torch.set_num_threads(int(cfg.num_threads))
    pl.seed_everything(cfg.seed, workers=True)
    datamodule = build_datamodule(cfg.data)
    datamodule.setup("fit")
    task = build_task(cfg, datamodule)
    options = cfg.get("compile")
    if options:
        task.compile_model(**({} if options is True else as_dict(options)))
    return datamodule, task


def train(cfg: DictConfig) -> float | None:
    """Train (and test) from a composed config; return the optimised metric for sweeps.

    The console is quiet unless ``cfg.verbose`` (:mod:`rnnkit.cli.console`)."""
    with quiet_console(bool(cfg.get("verbose", False))):
        return _train(cfg)


def _train(cfg: DictConfig) -> float | None:
    datamodule, task = prepare(cfg)
    print_summary(cfg, datamodule, task)

    resume = checkpoint_to_resume(cfg)
    if resume:
        check_task(load_checkpoint(resume), task.task, resume)

    callbacks = build_group(cfg.get("callbacks"), "callbacks")
    loggers = build_group(cfg.get("logger"), "logger")
    trainer = build_trainer(cfg, callbacks, loggers or False)
    for logger in loggers:
        logger.log_hyperparams(run_hparams(cfg, task))

    started = time.perf_counter()
    verbose = bool(cfg.get("verbose", False))
    metrics = fit_and_test(cfg, trainer, task, datamodule, resume=resume, verbose=verbose)
    elapsed = time.perf_counter() - started

    report_final(cfg, metrics, elapsed, trainer, task)
    finish_loggers(loggers)
    metric_name = cfg.get("optimized_metric")
    return metrics.get(metric_name) if metric_name else None


def build_trainer(cfg: DictConfig, callbacks: list[Any], logger: Any) -> pl.Trainer:
    """The ``cfg.trainer`` Trainer with these callbacks and logger(s)."""
    with config_key("trainer"):
        return hydra.utils.instantiate(cfg.trainer, callbacks=callbacks, logger=logger)


def fit_and_test(
    cfg: DictConfig,
    trainer: pl.Trainer,
    task: RecurrentTask,
    datamodule: RnnkitDataModule,
    resume: str | None = None,
    verbose: bool = True,
) -> dict[str, float]:
    """Fit (unless ``cfg.train`` is false, resuming from ``resume``), then test the best
    validation checkpoint, or the final weights without one (unless ``cfg.test`` is false).

    Returns the logged metrics after fitting, updated with the test metrics.
    """
    if cfg.get("train", True):
        trainer.fit(task, datamodule=datamodule, ckpt_path=resume)
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    if cfg.get("test", True):
        best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
        tested = (
            trainer.test(
                task, datamodule=datamodule, ckpt_path=best, weights_only=True, verbose=verbose
            )
            if best
            else trainer.test(task, datamodule=datamodule, verbose=verbose)
        )
        for result in tested:
            metrics.update({k: float(v) for k, v in result.items()})
    return metrics


def report_final(
    cfg: DictConfig,
    metrics: dict[str, float],
    elapsed: float,
    trainer: pl.Trainer,
    task: RecurrentTask | None = None,
) -> None:
    """Link the hparams to the final metrics (TensorBoard), print the run's summary and write
    ``metrics.json`` (the ``val/`` and ``test/`` metrics); on the main process only."""
    if not trainer.is_global_zero:
        return
    shown = final_metrics(metrics)
    link_hparams_to_metrics(trainer.loggers, run_hparams(cfg, task), list(shown))
    print(train_summary(metrics, elapsed, trainer), flush=True)
    output_dir = Path(cfg.paths.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "metrics.json").write_text(json.dumps(shown, indent=2))


@reporting_exit_codes
@hydra.main(version_base="1.3", config_path="../configs", config_name="train")
def train_main(cfg: DictConfig) -> float | None:
    return run_reporting_errors(train, cfg)


def main() -> None:
    """``rnnkit-train``: ``resume=<run dir>`` first becomes that run's overrides."""
    sys.argv[1:] = run_reporting_errors(resume_arguments, sys.argv[1:])
    train_main()


if __name__ == "__main__":
    main()
