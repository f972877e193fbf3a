"""The hyperparameters a person compares runs on: about twenty, each once.

The whole composed config stays in the run folder (``.hydra/config.yaml``); the loggers get
this short list instead of its 60-80 flattened keys, so TensorBoard's HPARAMS tab, the MLflow
run table and the Weights & Biases run table show columns a person can read.
"""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig, OmegaConf

__all__ = ["MODEL_KEYS", "link_hparams_to_metrics", "run_hparams"]

MODEL_KEYS = (
    "embedding_dim",
    "dropout",
    "pooling",
    "crf",
    "attention",
    "strategy",
    "tie_weights",
    "tbptt_steps",
)
"""Keys of ``model`` that change what is trained (where the task has them); generation and
logging options (``sample_prompt``, ...) are left out."""


def _value(cfg: DictConfig, key: str) -> Any:
    """``cfg``'s value at the dotted ``key`` (resolved alone), or None where there is none."""
    return OmegaConf.select(cfg, key, default=None)


def _class_name(cfg: DictConfig, key: str) -> str | None:
    """The class the ``_target_`` at ``key`` names (``torch.optim.Adam`` -> ``Adam``)."""
    target = _value(cfg, f"{key}._target_") if _value(cfg, key) is not None else None
    return str(target).rsplit(".", 1)[-1] if target else None


def _choice(group: str) -> str | None:
    """The option Hydra picked for a config group (``data=sst2`` -> ``sst2``), if known."""
    try:
        from hydra.core.hydra_config import HydraConfig

        return HydraConfig.get().runtime.choices.get(group)
    except (ValueError, AttributeError):  # not inside a Hydra run
        return None


def run_hparams(cfg: DictConfig, task: Any = None) -> dict[str, Any]:
    """The run's comparable hyperparameters, flat ``{name: str | int | float | bool}``.

    Names are the config keys that set them (``cell.hidden_size``, ``task.optimizer.lr``,
    ``data.batch_size``), so a value seen in a run table is the override that reproduces it;
    ``experiment``, ``task``, ``dataset``, ``cell``, ``pattern``, ``optimizer`` and
    ``scheduler`` name the parts, and ``parameters`` counts the model's weights (with
    ``task``, the built :class:`~rnnkit.tasks.base.RecurrentTask`). Unset (None) values are
    left out.
    """
    values: dict[str, Any] = {
        "experiment": _value(cfg, "experiment_name"),
        "task": getattr(task, "task", None) or _class_name(cfg, "task"),
        "dataset": _choice("data") or _class_name(cfg, "data"),
        "pattern": type(task.model).__name__ if task is not None else None,
        "cell": _choice("cell") or _class_name(cfg, "cell.cell") or _class_name(cfg, "cell"),
        "cell.hidden_size": _value(cfg, "cell.hidden_size"),
        "cell.num_layers": _value(cfg, "cell.num_layers") or 1,
        "cell.bidirectional": bool(_value(cfg, "cell.bidirectional")),
        "cell.dropout": _value(cfg, "cell.dropout"),
        **{f"model.{key}": _value(cfg, f"model.{key}") for key in MODEL_KEYS},
        "optimizer": _class_name(cfg, "task.optimizer"),
        "task.optimizer.lr": _value(cfg, "task.optimizer.lr"),
        "task.optimizer.weight_decay": _value(cfg, "task.optimizer.weight_decay"),
        "scheduler": _class_name(cfg, "task.scheduler") or "none",
        "data.batch_size": _value(cfg, "data.batch_size"),
        "trainer.max_epochs": _value(cfg, "trainer.max_epochs"),
        "trainer.gradient_clip_val": _value(cfg, "trainer.gradient_clip_val"),
        "trainer.precision": _value(cfg, "trainer.precision"),
        "seed": _value(cfg, "seed"),
    }
    if task is not None:
        values["parameters"] = sum(p.numel() for p in task.parameters())
    return {k: v for k, v in values.items() if isinstance(v, (str, int, float, bool))}


def link_hparams_to_metrics(loggers: list[Any], hparams: dict[str, Any], names: list[str]) -> None:
    """Fill TensorBoard's HPARAMS tab: the run's ``hparams`` beside its final ``names``
    (``val/acc``, ``test/acc``, ...).

    The tab reads each metric from the scalar of the same tag that the run already logged, so
    nothing is logged twice (no ``hp/*`` copies). Other loggers keep their hparams from
    :meth:`log_hyperparams` and the final metrics from the run itself.
    """
    from pytorch_lightning.loggers import TensorBoardLogger
    from torch.utils.tensorboard.summary import hparams as hparams_summaries

    for logger in loggers:
        if not isinstance(logger, TensorBoardLogger) or not names:
            continue
        # The metric values here only declare the columns; TensorBoard shows the scalars'.
        summaries = hparams_summaries(hparams, dict.fromkeys(names, 0.0))
        writer = logger.experiment._get_file_writer()
        for summary in summaries:
            writer.add_summary(summary)
        # Lightning finalized the loggers after fit and test; this late write reopened the
        # writer, which only its own finalize flushes to disk (else it lands at exit, or never).
        logger.finalize("success")
