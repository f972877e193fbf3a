"""Open checkpoints safely and rebuild their task and datamodule."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from rnnkit.data.datamodule import RnnkitDataModule
from rnnkit.tasks.base import CHECKPOINT_KEY, RecurrentTask
from rnnkit.tasks.building import locate

MOVED_DATA_MODULES = {
    "rnnkit.data.builtin_sentiment": "rnnkit.data.sentiment.builtin",
    "rnnkit.data.text_table": "rnnkit.data.sentiment.text_table",
    "rnnkit.data.sst2": "rnnkit.data.sentiment.sst2",
    "rnnkit.data.imdb": "rnnkit.data.sentiment.imdb",
    "rnnkit.data.long_range": "rnnkit.data.sentiment.long_range",
    "rnnkit.data.builtin_tagging": "rnnkit.data.tagging.builtin",
    "rnnkit.data.conll": "rnnkit.data.tagging.conll",
    "rnnkit.data.conllu": "rnnkit.data.tagging.conllu",
    "rnnkit.data.builtin_translation": "rnnkit.data.translation.builtin",
    "rnnkit.data.parallel_text": "rnnkit.data.translation.parallel_text",
    "rnnkit.data.tatoeba": "rnnkit.data.translation.tatoeba",
    "rnnkit.data.builtin_captioning": "rnnkit.data.captioning.builtin",
    "rnnkit.data.flickr8k": "rnnkit.data.captioning.flickr8k",
    "rnnkit.data.coco_captions": "rnnkit.data.captioning.coco_captions",
    "rnnkit.data.builtin_forecasting": "rnnkit.data.forecasting.builtin",
    "rnnkit.data.csv_series": "rnnkit.data.forecasting.csv_series",
    "rnnkit.data.ett": "rnnkit.data.forecasting.ett",
    "rnnkit.data.builtin_language_model": "rnnkit.data.language_modeling.builtin",
    "rnnkit.data.text_files": "rnnkit.data.language_modeling.text_files",
}
"""Datamodule modules of the flat ``data/`` layout (before 2026-12-05) -> their module now.

Checkpoints store their datamodule's ``_target_``; this keeps the ones written before
``data/`` was organised by task readable by ``rnnkit-eval`` and ``rnnkit-predict``."""


def current_data_target(target: Any) -> Any:
    """``target`` with a module of the flat ``data/`` layout replaced by its module now."""
    if isinstance(target, str):
        module, _, name = target.rpartition(".")
        if module in MOVED_DATA_MODULES:
            return f"{MOVED_DATA_MODULES[module]}.{name}"
    return target


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint with ``weights_only=True``: tensors and plain data, never code."""
    path = Path(str(path))
    if not path.is_file():
        raise FileNotFoundError(2, "checkpoint not found", str(path))
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - any unpickling failure is a bad file
        raise ValueError(
            f"ckpt_path: {path} is not a loadable rnnkit checkpoint "
            f"({type(error).__name__}: {str(error).splitlines()[0][:200]})"
        ) from None
    if not isinstance(checkpoint, dict) or CHECKPOINT_KEY not in checkpoint:
        raise ValueError(
            f"ckpt_path: {path} was not written by rnnkit-train (no '{CHECKPOINT_KEY}' entry)"
        )
    return checkpoint


def check_task(checkpoint: dict[str, Any], expected: str | None, path: str) -> None:
    """Refuse a checkpoint of another task than ``expected``."""
    found = checkpoint[CHECKPOINT_KEY].get("task")
    if expected and found != expected:
        raise ValueError(
            f"ckpt_path: {path} is a '{found}' checkpoint, but this run is a '{expected}' task"
        )


def restore_task(checkpoint: dict[str, Any]) -> RecurrentTask:
    """Rebuild the task from the checkpoint's hyperparameters and load its weights."""
    info = checkpoint[CHECKPOINT_KEY]
    task_class = locate(info.get("task_class"), RecurrentTask, "checkpoint task")
    task = task_class(**checkpoint["hyper_parameters"])
    task.load_state_dict(checkpoint["state_dict"])
    task.artifacts = info.get("artifacts", {})
    task.eval()
    return task


def restore_datamodule(
    checkpoint: dict[str, Any], overrides: dict[str, Any] | None = None
) -> RnnkitDataModule:
    """Rebuild the checkpoint's datamodule with its fitted vocabularies, labels and scalers."""
    config = dict(checkpoint["hyper_parameters"].get("data") or {})
    if not config:
        raise ValueError("ckpt_path: the checkpoint holds no data config to rebuild the data from")
    config.update(overrides or {})
    arguments = {k: v for k, v in config.items() if not k.startswith("_")}
    data_class = locate(current_data_target(config.get("_target_")), RnnkitDataModule, "data")
    datamodule = data_class.from_config(**arguments)
    datamodule.restore(checkpoint[CHECKPOINT_KEY].get("artifacts", {}))
    return datamodule
