"""Derive the :class:`ArchitectureSpec` to draw from a composed training config.

The experiment's task decides the pattern (its ``task._target_`` is matched by name, so the
task modules are never imported), the ``cell`` group the rows (``_target_`` or the nested
``cell._target_`` of a custom cell, ``num_layers``, ``bidirectional``), the ``model`` group the
details (``attention``, ``pooling``, the forecaster's ``strategy``)::

    sentiment / classification   many_to_one (pooling from model.pooling)
    tagging                      many_to_many
    translation / seq2seq        encoder_decoder (bidirectional encoder allowed, attention)
    captioning                   one_to_many (attention over the image regions)
    forecasting                  model.strategy "autoregressive": encoder_decoder whose decoder
                                 reads its own predictions (solid feedback); "direct":
                                 many_to_one with ``horizon`` outputs from the final state
    language_model               many_to_many, outputs fed back (dashed) when generating
    speech                       many_to_many: one CTC label distribution per (stacked) frame
    music                        many_to_many, each step's keys fed back (dashed) when composing
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from omegaconf import DictConfig, OmegaConf

from rnnkit.diagrams.unrolled import ArchitectureSpec, describe

# Substrings of a lower-cased ``task._target_`` -> task kind; the first match wins.
TASK_KINDS: tuple[tuple[str, str], ...] = (
    ("language_model", "language_model"),
    ("languagemodel", "language_model"),
    ("caption", "captioning"),
    ("translat", "translation"),
    ("seq2seq", "translation"),
    ("forecast", "forecasting"),
    ("tagg", "tagging"),
    ("sentiment", "sentiment"),
    ("classif", "sentiment"),
    ("speech", "speech"),
    ("music", "music"),
)
FORECAST_STRATEGIES = ("direct", "autoregressive")
# ArchitectureSpec argument -> the config key it comes from (to name it in errors).
CONFIG_KEYS = {
    "cell": "cell._target_",
    "num_layers": "cell.num_layers",
    "bidirectional": "cell.bidirectional",
    "attention": "model.attention",
    "pooling": "model.pooling",
    "steps_in": "steps",
    "steps_out": "steps",
    "decoder_layers": "model.decoder.num_layers",
}


def task_kind(target: object) -> str:
    """The task kind (see :data:`TASK_KINDS`) that a ``task._target_`` names."""
    if not isinstance(target, str) or not target:
        raise ValueError(f"task._target_: expected a task class path, got {target!r}")
    lowered = target.lower()
    for fragment, kind in TASK_KINDS:
        if fragment in lowered:
            return kind
    known = sorted({kind for _, kind in TASK_KINDS})
    raise ValueError(
        f"task._target_: cannot tell which I/O pattern {target!r} uses; expected a task whose "
        f"name contains one of {known}"
    )


def cell_name(cell: Mapping[str, Any]) -> str:
    """``rnnkit.LSTM`` -> ``"lstm"``; ``rnnkit.Recurrent`` + ``rnnkit.cells.PeepholeLSTMCell``
    -> ``"peephole_lstm"`` (the nested cell's class, ``Cell`` dropped, in snake case)."""
    target = cell.get("_target_")
    nested = cell.get("cell")
    key = "cell._target_"
    if isinstance(nested, Mapping) and nested.get("_target_"):
        target, key = nested["_target_"], "cell.cell._target_"
    if not isinstance(target, str) or not target.strip():
        raise ValueError(f"{key}: expected a class path such as 'rnnkit.LSTM', got {target!r}")
    leaf = target.rsplit(".", 1)[-1]
    if leaf == "Recurrent":
        raise ValueError(
            "cell.cell._target_: rnnkit.Recurrent needs a nested cell (e.g. "
            f"rnnkit.cells.LSTMCell), got cell={dict(cell)!r}"
        )
    if leaf.endswith("Cell") and len(leaf) > len("Cell"):
        leaf = leaf[: -len("Cell")]
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", leaf).lower()


def attention_name(value: object) -> str | None:
    """``model.attention`` as a name, or None for ``null`` / ``"none"`` / ``false``."""
    if (
        value is None
        or value is False
        or (isinstance(value, str) and value.lower() in ("", "none", "null"))
    ):
        return None
    if not isinstance(value, str):
        raise ValueError(f"model.attention: expected a name or null, got {value!r}")
    return value


def spec_from_config(
    config: DictConfig | Mapping[str, Any], *, steps: int | None = None, title: str | None = None
) -> ArchitectureSpec:
    """The architecture a composed ``rnnkit-train`` config builds, ready to draw.

    Args:
        config: the composed config (``task``, ``cell``, ``model`` and optionally ``data``,
            ``experiment_name``, ``steps``), as a DictConfig or plain nested dicts.
        steps: time steps drawn for each sequence (default: ``config.steps`` or 4); capped
            horizons and target lengths derive from it.
        title: the figure title (default: ``"<experiment_name>: <description>"``).
    """
    if not isinstance(config, DictConfig):
        config = OmegaConf.create(dict(config))
    steps = int(steps if steps is not None else config.get("steps", 4) or 4)
    cell = _section(config, "cell")
    model = _section(config, "model")
    kind = task_kind(OmegaConf.select(config, "task._target_", default=None))
    arguments: dict[str, Any] = {
        "cell": cell_name(cell),
        "num_layers": cell.get("num_layers", 1),
        "bidirectional": cell.get("bidirectional", False),
    }
    arguments.update(_pattern_arguments(kind, model, config, steps))
    if arguments["pattern"] == "encoder_decoder":
        arguments["decoder_layers"] = _decoder_layers(model, arguments["num_layers"])
    name = config.get("experiment_name")
    try:
        spec = ArchitectureSpec(**arguments)
    except ValueError as error:
        raise _with_config_key(error) from None
    if title is None:
        title = f"{name}: {describe(spec)}" if name else describe(spec)
        if kind == "forecasting" and _horizon(model, config) > spec.steps_out:
            title += f" (horizon {_horizon(model, config)}, first {spec.steps_out} drawn)"
    return ArchitectureSpec(**{**arguments, "title": title})


def _section(config: DictConfig, key: str) -> dict[str, Any]:
    section = config.get(key)
    if section is None:
        return {}
    if not isinstance(section, DictConfig):
        raise ValueError(f"{key}: expected a config group (a mapping), got {section!r}")
    return OmegaConf.to_container(section, resolve=True)


def _pattern_arguments(
    kind: str, model: dict[str, Any], config: DictConfig, steps: int
) -> dict[str, Any]:
    attention = attention_name(model.get("attention"))
    if kind == "sentiment":
        return {
            "pattern": "many_to_one",
            "steps_in": steps,
            "pooling": model.get("pooling") or "last",
        }
    if kind in ("tagging", "speech"):  # speech: one CTC distribution per (stacked) frame
        return {"pattern": "many_to_many", "steps_in": steps}
    if kind in ("language_model", "music"):  # music: the next step's keys from the steps before
        return {"pattern": "many_to_many", "steps_in": steps, "feedback": "dashed"}
    if kind == "captioning":
        return {
            "pattern": "one_to_many",
            "steps_out": steps,
            "attention": attention,
            "feedback": "dashed",
        }
    if kind == "translation":
        return {
            "pattern": "encoder_decoder",
            "steps_in": steps,
            "steps_out": max(1, steps - 1),
            "attention": attention,
            "feedback": "dashed",
        }
    strategy = model.get("strategy", "direct")
    if strategy not in FORECAST_STRATEGIES:
        raise ValueError(f"model.strategy: expected one of {FORECAST_STRATEGIES}, got {strategy!r}")
    horizon = _horizon(model, config)
    shown = min(horizon, steps)
    if strategy == "autoregressive":
        return {
            "pattern": "encoder_decoder",
            "steps_in": steps,
            "steps_out": shown,
            "attention": attention,
            "feedback": "solid",
        }
    return {
        "pattern": "many_to_one",
        "steps_in": steps,
        "steps_out": shown,
        "pooling": model.get("pooling") or "last",
    }


def _decoder_layers(model: dict[str, Any], num_layers: object) -> object:
    """The decoder is the cell config with the keys of ``model.decoder`` (if any) on top."""
    decoder = model.get("decoder") or {}
    if not isinstance(decoder, dict):
        return num_layers
    if decoder.get("bidirectional"):
        raise ValueError(
            "model.decoder.bidirectional: a decoder generates left to right and cannot be "
            f"bidirectional, got {decoder['bidirectional']!r}"
        )
    layers = decoder.get("num_layers")  # null: the cell's
    return num_layers if layers is None else layers


def _horizon(model: dict[str, Any], config: DictConfig) -> int:
    for key, value in (
        ("model.horizon", model.get("horizon")),
        ("data.horizon", OmegaConf.select(config, "data.horizon", default=None)),
    ):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{key}: expected a positive integer, got {value!r}")
        return value
    return 3


def _with_config_key(error: ValueError) -> ValueError:
    """``bidirectional: ...`` -> ``cell.bidirectional: ...`` (the key the user can change)."""
    message = str(error)
    argument, _, rest = message.partition(":")
    if argument in CONFIG_KEYS and rest:
        return ValueError(f"{CONFIG_KEYS[argument]}:{rest}")
    return error
