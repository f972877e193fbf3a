"""Build components from plain config dicts, trusting only known code.

Checkpoints store the configs that built their model, optimizer and scheduler. Rebuilding
from a checkpoint someone else wrote must never run their code, so a ``_target_`` is only
imported when its module is ``rnnkit`` or ``torch`` (or a prefix listed in
``RNNKIT_TRUSTED_MODULES``, comma-separated) and only instantiated when it is a subclass of
the expected base class: a recurrent layer or cell, a datamodule, a task, a
``torch.optim.Optimizer`` or a ``torch.optim.lr_scheduler.LRScheduler``. Nothing here calls
Hydra's ``instantiate``, which would import and call any ``_target_``, nested ones included.
"""

from __future__ import annotations

import functools
import importlib
import os
from typing import Any

from torch import nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

from rnnkit.cells.base import RecurrentCell
from rnnkit.layers.recurrent import Recurrent

TRUSTED_PREFIXES = ("rnnkit.", "torch.")


def trusted_prefixes() -> tuple[str, ...]:
    extra = os.environ.get("RNNKIT_TRUSTED_MODULES", "")
    return TRUSTED_PREFIXES + tuple(p.strip() + "." for p in extra.split(",") if p.strip())


def locate(target: str, base: type, key: str, field: str = "_target_") -> type:
    """Import the class ``target`` if it is trusted and a subclass of ``base``.

    Errors name the config entry ``key.field`` (``field=""``: ``key`` alone).
    """
    entry = f"{key}.{field}" if field else key
    if not isinstance(target, str) or "." not in target:
        raise ValueError(f"{entry}: expected a dotted class path, got {target!r}")
    if not target.startswith(trusted_prefixes()):
        raise ValueError(
            f"{entry}: {target!r} is outside the trusted modules {trusted_prefixes()}; "
            "add its package to RNNKIT_TRUSTED_MODULES to allow it"
        )
    module_name, _, attribute = target.rpartition(".")
    try:
        found = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as error:
        raise ValueError(f"{entry}: cannot import {target!r} ({error})") from None
    if not (isinstance(found, type) and issubclass(found, base)):
        raise ValueError(f"{entry}: expected a subclass of {base.__name__}, got {target!r}")
    return found


def build_recurrent(
    config: dict[str, Any], input_size: int, key: str = "cell", **overrides: Any
) -> Recurrent:
    """A recurrent layer from a ``cell`` config, batch-first, reading ``input_size`` features.

    ``config`` is e.g. ``{"_target_": "rnnkit.LSTM", "hidden_size": 128, ...}``, or for a
    custom cell ``{"_target_": "rnnkit.Recurrent", "cell": {"_target_":
    "rnnkit.cells.PeepholeLSTMCell", "_partial_": True}, "hidden_size": 128}``.
    """
    arguments = {k: v for k, v in config.items() if not k.startswith("_")}
    arguments.update(overrides)
    arguments["input_size"] = input_size
    arguments["batch_first"] = True
    layer_class = locate(config.get("_target_"), Recurrent, key)
    if "cell" in arguments:
        cell_config = dict(arguments.pop("cell"))
        cell_class = locate(cell_config.pop("_target_", None), RecurrentCell, f"{key}.cell")
        cell_config.pop("_partial_", None)
        arguments["cell"] = functools.partial(cell_class, **cell_config)
    try:
        return layer_class(**arguments)
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"{key}.{error}" if str(error)[:1].islower() else f"{key}: {error}"
        ) from None


def build_module(config: dict[str, Any] | None, base: type = nn.Module, key: str = "") -> Any:
    """Instantiate a trusted ``_target_`` config (no nesting)."""
    if config is None:
        return None
    arguments = {k: v for k, v in config.items() if not k.startswith("_")}
    return locate(config.get("_target_"), base, key)(**arguments)


LIGHTNING_SCHEDULER_KEYS = ("monitor", "interval", "frequency")
"""Keys of a ``scheduler`` config that are Lightning's, not the scheduler's arguments."""


def check_optimization(optimizer: Any, scheduler: Any) -> None:
    """Refuse ``optimizer`` and ``scheduler`` configs whose ``_target_`` is not a trusted
    optimizer or LR scheduler class (nothing is instantiated). An empty ``optimizer`` is a
    task for inference only: training it fails in :func:`build_optimizer`."""
    if not isinstance(optimizer, dict):
        raise ValueError(f"optimizer: expected a config with a _target_, got {optimizer!r}")
    if optimizer:
        locate(optimizer.get("_target_"), Optimizer, "optimizer")
    if scheduler:
        if not isinstance(scheduler, dict):
            raise ValueError(f"scheduler: expected a config with a _target_, got {scheduler!r}")
        locate(scheduler.get("_target_"), LRScheduler, "scheduler")


def build_optimizer(config: dict[str, Any], parameters: Any) -> Optimizer:
    """The optimizer of a ``_partial_`` ``optimizer`` config over ``parameters``."""
    arguments = {k: v for k, v in config.items() if not k.startswith("_")}
    return locate(config.get("_target_"), Optimizer, "optimizer")(parameters, **arguments)


def build_scheduler(config: dict[str, Any], optimizer: Optimizer) -> tuple[Any, dict[str, Any]]:
    """``(scheduler, lightning_keys)`` from a ``_partial_`` ``scheduler`` config: the LR
    scheduler over ``optimizer`` and the :data:`LIGHTNING_SCHEDULER_KEYS` it holds."""
    arguments = {k: v for k, v in config.items() if not k.startswith("_")}
    lightning_keys = {k: arguments.pop(k) for k in LIGHTNING_SCHEDULER_KEYS if k in arguments}
    scheduler_class = locate(config.get("_target_"), LRScheduler, "scheduler")
    return scheduler_class(optimizer, **arguments), lightning_keys
