"""Build components from plain config dicts, trusting only known code.

Checkpoints store the configs that built their model. Rebuilding from a checkpoint someone
else wrote must never run their code, so a ``_target_`` is only imported when its module is
``rnnkit`` or ``torch`` (or a prefix listed in ``RNNKIT_TRUSTED_MODULES``, comma-separated)
and only instantiated when it is a subclass of the expected base class.
"""

from __future__ import annotations

import functools
import importlib
import os
from typing import Any

from torch import nn

from rnnkit.cells.base import RecurrentCell
from rnnkit.layers.recurrent import Recurrent

TRUSTED_PREFIXES = ("rnnkit.", "torch.")


def trusted_prefixes() -> tuple[str, ...]:
    extra = os.environ.get("RNNKIT_TRUSTED_MODULES", "")
    return TRUSTED_PREFIXES + tuple(p.strip() + "." for p in extra.split(",") if p.strip())


def locate(target: str, base: type, key: str) -> type:
    """Import the class ``target`` if it is trusted and a subclass of ``base``."""
    if not isinstance(target, str) or "." not in target:
        raise ValueError(f"{key}._target_: expected a dotted class path, got {target!r}")
    if not target.startswith(trusted_prefixes()):
        raise ValueError(
            f"{key}._target_: {target!r} is outside the trusted modules {trusted_prefixes()}; "
            "add its package to RNNKIT_TRUSTED_MODULES to allow it"
        )
    module_name, _, attribute = target.rpartition(".")
    try:
        found = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as error:
        raise ValueError(f"{key}._target_: cannot import {target!r} ({error})") from None
    if not (isinstance(found, type) and issubclass(found, base)):
        raise ValueError(f"{key}._target_: expected a subclass of {base.__name__}, got {target!r}")
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
