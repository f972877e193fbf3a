"""Open checkpoints safely and rebuild their task and datamodule (``rnnkit-eval``,
``rnnkit-predict``, ``rnnkit-train ckpt_path=...``).

Checkpoints are data: they are read with ``torch.load(weights_only=True)`` and every
``_target_`` they store is imported only when allow-listed (:mod:`rnnkit.tasks.building`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rnnkit.data.datamodule import RnnkitDataModule
from rnnkit.tasks.base import RecurrentTask
from rnnkit.tasks.building import locate
from rnnkit.tasks.checkpoint_file import CHECKPOINT_KEY, CheckpointError, read_checkpoint

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


def current_data_arguments(target: Any, config: dict[str, Any]) -> dict[str, Any]:
    """A stored data config with arguments renamed since it was written in their new names:
    Tatoeba's ``file`` (and its optional folder ``path``) is ``path``, IMDB's ``max_tokens`` is
    ``max_length`` with ``truncation="head"`` (2026-12)."""
    if target == "rnnkit.data.translation.tatoeba.TatoebaDataModule" and "file" in config:
        config = dict(config)
        file, folder = Path(str(config.pop("file"))), config.pop("path", None)
        config["path"] = str(file if file.is_absolute() or not folder else Path(folder) / file)
    if target == "rnnkit.data.sentiment.imdb.IMDBDataModule" and "max_tokens" in config:
        config = dict(config)
        config.update(max_length=config.pop("max_tokens"), truncation="head")
    return config


def stored_data_target(checkpoint: dict[str, Any]) -> Any:
    """The ``_target_`` of the checkpoint's data config (in the current ``data/`` layout), or
    None when it holds none (restoring the datamodule then says so)."""
    hyper_parameters = checkpoint.get("hyper_parameters")
    data = hyper_parameters.get("data") if isinstance(hyper_parameters, dict) else None
    return current_data_target(data.get("_target_")) if isinstance(data, dict) else None


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """The checkpoint at ``path``, read as data (``torch.load(weights_only=True)``) and checked
    for the entries rnnkit needs; see :func:`rnnkit.tasks.checkpoint_file.read_checkpoint`."""
    return read_checkpoint(path)


def check_task(checkpoint: dict[str, Any], expected: str | None, path: str) -> None:
    """Refuse a checkpoint of another task than ``expected``."""
    found = checkpoint[CHECKPOINT_KEY].get("task")
    if expected and found != expected:
        raise ValueError(
            f"ckpt_path: {path} is a '{found}' checkpoint, but this run is a '{expected}' task"
        )


def restore_task(checkpoint: dict[str, Any], source: str | Path = "checkpoint") -> RecurrentTask:
    """Rebuild the task of a loaded checkpoint (named ``source`` in errors) with its weights,
    in evaluation mode; only allow-listed classes are imported (``rnnkit.tasks.building``)."""
    return RecurrentTask.from_checkpoint(checkpoint, source).eval()


def restore_datamodule(
    checkpoint: dict[str, Any],
    overrides: dict[str, Any] | None = None,
    source: str | Path | None = None,
) -> RnnkitDataModule:
    """Rebuild the checkpoint's datamodule with its fitted vocabularies, labels and scalers.

    With ``source`` (the checkpoint's file), a bad stored data config is a
    :class:`CheckpointError` naming that file; without, a ValueError naming the key.
    """
    try:
        config = dict(checkpoint["hyper_parameters"].get("data") or {})
        if not config:
            raise ValueError("data: the checkpoint holds no data config to rebuild the data from")
        config = current_data_arguments(current_data_target(config.get("_target_")), config)
        config.update(overrides or {})
        arguments = {k: v for k, v in config.items() if not k.startswith("_")}
        data_class = locate(current_data_target(config.get("_target_")), RnnkitDataModule, "data")
    except ValueError as error:
        if source is None or "_target_" in (overrides or {}):
            raise
        raise CheckpointError(f"checkpoint {source}: {error}") from None
    datamodule = data_class.from_config(**arguments)
    datamodule.restore(checkpoint[CHECKPOINT_KEY].get("artifacts", {}))
    return datamodule
