"""Check a composed run config before any work: every key known, every value of the right type
and in range.

What each component accepts is read from the code that will consume it, not from a list kept by
hand:

* ``cell``, ``task.optimizer``, ``task.scheduler``, ``data`` and ``trainer``: the parameters of
  their ``_target_`` class's constructor (``inspect.signature``; ``**kwargs`` followed up the
  base classes), and the parameter's annotation gives the expected type (``bool``, ``int``,
  ``float``, ``str``, ``Literal[...]``, lists, ``None``).
* ``model``: the keys of the task's shipped model config (``src/rnnkit/configs/model/<name>.yaml``,
  the one whose ``src/rnnkit/configs/task/<name>.yaml`` names the same task class), each value of
  the type of the shipped default (``true``/``false`` for a boolean default, an integer for an
  integer).

Top-level keys are those of the command's own composition without the user's ``+`` overrides
(:mod:`rnnkit.cli.top_level_keys`). :func:`validate_run_config` checks ``rnnkit-train``'s
config, :func:`validate_prepare_config` ``rnnkit-prepare``'s and
:func:`validate_checkpoint_command` those of ``rnnkit-eval`` and ``rnnkit-predict``.

On top of types, :data:`RANGES` says which numbers must be positive or within bounds. The first
problem raises :class:`~rnnkit.cli.errors.ConfigError` (exit 2) naming the full key, what it
got and what it expected; an unknown key comes with the nearest known one
(``difflib.get_close_matches``).
"""

from __future__ import annotations

import collections.abc
import difflib
import importlib
import inspect
import math
import types
import typing
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue

from rnnkit.cli.errors import RENAMED_KEYS, ConfigError
from rnnkit.cli.top_level_keys import check_top_level_keys
from rnnkit.data.io.word_vectors import check_vector_size
from rnnkit.tasks.pretrained_embeddings import (
    EMBEDDING_SIZES,
    embedding_config,
    embedding_size_key,
)

CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"

SET_BY_RNNKIT = {
    "cell": {
        "input_size": "set by the task from the model (e.g. model.embedding_dim)",
        "batch_first": "always true inside tasks",
        "device": "the trainer places the model (trainer.accelerator)",
        "dtype": "the trainer sets the precision (trainer.precision)",
    },
    "task.optimizer": {"params": "the task passes the model's parameters"},
    "task.scheduler": {"optimizer": "the task passes its optimizer"},
    "trainer": {
        "callbacks": "set them in the callbacks group",
        "logger": "set it in the logger group",
    },
}
"""Constructor parameters that rnnkit fills in itself: a config that sets them is refused."""

LIGHTNING_SCHEDULER_KEYS = ("monitor", "interval", "frequency")
"""Keys of ``task.scheduler`` that go to Lightning, not to the scheduler's constructor."""

CPU_PRECISIONS = ("32-true", "32", 32, "64-true", "64", 64, "bf16-mixed", "bf16-true", "bf16")
"""``trainer.precision`` values that run on a CPU (float16 kernels need a GPU)."""


@dataclass(frozen=True)
class Range:
    """A number's bounds: ``integer`` or any real; ``low``/``high`` inclusive unless ``open_*``."""

    integer: bool = False
    low: float | None = None
    high: float | None = None
    open_low: bool = False
    open_high: bool = False
    optional: bool = False

    def check(self, key: str, value: Any) -> None:
        if value is None and self.optional:
            return
        kind = "an integer" if self.integer else "a number"
        is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not is_number or (self.integer and not isinstance(value, int)):
            raise ConfigError(f"{key}: expected {self.describe(kind)}, got {value!r}")
        too_low = self.low is not None and (
            value <= self.low if self.open_low else value < self.low
        )
        too_high = self.high is not None and (
            value >= self.high if self.open_high else value > self.high
        )
        if not math.isfinite(value) or too_low or too_high:
            raise ConfigError(f"{key}: expected {self.describe(kind)}, got {value!r}")

    def describe(self, kind: str) -> str:
        if self.integer and self.low == 1 and self.high is None:
            text = "a positive integer"
        elif not self.integer and self.low == 0 and self.open_low and self.high is None:
            text = "a positive number"
        else:
            low = "" if self.low is None else f"{'>' if self.open_low else '>='} {self.low}"
            high = "" if self.high is None else f"{'<' if self.open_high else '<='} {self.high}"
            text = f"{kind} {' and '.join(b for b in (low, high) if b)}".strip()
        return f"{text} or null" if self.optional else text


RANGES: dict[str, Range] = {
    "seed": Range(integer=True, low=0, high=2**32 - 1),
    "num_threads": Range(integer=True, low=1, optional=True),
    "trainer.max_epochs": Range(integer=True, low=-1, optional=True),
    "trainer.min_epochs": Range(integer=True, low=0, optional=True),
    "trainer.max_steps": Range(integer=True, low=-1),
    "trainer.gradient_clip_val": Range(low=0, optional=True),
    "trainer.accumulate_grad_batches": Range(integer=True, low=1),
    "trainer.log_every_n_steps": Range(integer=True, low=1, optional=True),
    "task.optimizer.lr": Range(low=0, open_low=True),
    "task.optimizer.weight_decay": Range(low=0),
    "cell.hidden_size": Range(integer=True, low=1),
    "cell.num_layers": Range(integer=True, low=1),
    "cell.dropout": Range(low=0, high=1, open_high=True),
    "cell.weight_dropout": Range(low=0, high=1, open_high=True),
    "model.embedding_dim": Range(integer=True, low=1),
    "model.source_embedding_dim": Range(integer=True, low=1, optional=True),
    "model.attention_size": Range(integer=True, low=1, optional=True),
    "model.feature_size": Range(integer=True, low=1),
    "model.dropout": Range(low=0, high=1, open_high=True),
    "model.encoder_dropout": Range(low=0, high=1, open_high=True),
    "model.input_dropout": Range(low=0, high=1, open_high=True, optional=True),
    "model.output_dropout": Range(low=0, high=1, open_high=True, optional=True),
    "model.embedding_dropout": Range(low=0, high=1, open_high=True),
    "model.activation_regularization": Range(low=0),
    "model.temporal_activation_regularization": Range(low=0),
    "data.batch_size": Range(integer=True, low=1),
    "data.num_workers": Range(integer=True, low=0),
    "export_shard_examples": Range(integer=True, low=1, optional=True),
    "export_shard_multiple": Range(integer=True, low=1),
    "options.beam_size": Range(integer=True, low=1, optional=True),
    "options.max_length": Range(integer=True, low=1, optional=True),
    "options.max_new_tokens": Range(integer=True, low=1, optional=True),
    "options.temperature": Range(low=0, open_low=True, optional=True),
    "options.top_k": Range(integer=True, low=1, optional=True),
    "options.top_p": Range(low=0, high=1, open_low=True, optional=True),
}
"""Bounds of the numeric keys (checked after the types)."""


# ---- the whole run -----------------------------------------------------------------------


def validate_run_config(cfg: DictConfig) -> None:
    """Check the keys and values of a composed ``rnnkit-train`` config; raise
    :class:`ConfigError` on the first problem."""
    check_top_level_keys(cfg)
    config = resolved(cfg)
    check_ranges({k: config.get(k) for k in ("seed", "num_threads") if k in config})
    check_flags(config, ("verbose", "train", "test"))
    check_compile(config.get("compile"))
    check_trainer(config.get("trainer") or {})
    cell = config.get("cell") or {}
    check_cell(cell, "cell")
    check_ranges(cell, prefix="cell")
    task = config.get("task") or {}
    for part in ("optimizer", "scheduler"):
        if task.get(part):
            ignored = LIGHTNING_SCHEDULER_KEYS if part == "scheduler" else ()
            check_component(task[part], f"task.{part}", ignored=ignored)
            check_ranges(task[part], prefix=f"task.{part}")
    check_model(config.get("model") or {}, task.get("_target_"))
    check_ranges(config.get("model") or {}, prefix="model")
    check_pretrained_embeddings(config.get("model") or {})
    check_data(config.get("data") or {})


def check_flags(config: dict[str, Any], keys: tuple[str, ...]) -> None:
    """Each of ``keys`` present in ``config`` is true or false."""
    for key in keys:
        if key in config and not isinstance(config[key], bool):
            raise ConfigError(f"{key}: expected true or false, got {config[key]!r}")


def validate_prepare_config(cfg: DictConfig) -> None:
    """Check what ``rnnkit-prepare`` uses: its top-level keys, ``data`` and the export
    settings."""
    check_top_level_keys(cfg)
    config = resolved(cfg)
    check_ranges({k: v for k, v in config.items() if k.startswith("export_")})
    check_data(config.get("data") or {})


def validate_checkpoint_command(cfg: DictConfig) -> None:
    """Check what ``rnnkit-eval`` and ``rnnkit-predict`` use before the checkpoint is read:
    their top-level keys, ``ckpt_path``, ``input``, the ``data`` overrides' values (their
    keys need the checkpoint's datamodule: :func:`check_data_overrides`), ``options`` and
    ``trainer``."""
    check_top_level_keys(cfg)
    config = resolved(cfg)
    check_flags(config, ("verbose",))
    path = config.get("ckpt_path")
    if not isinstance(path, str) or not path.strip():
        raise ConfigError(f"ckpt_path: expected the path of a checkpoint file, got {path!r}")
    if "input" in config:
        check_predict_io(config)
    data = config.get("data") or {}
    if not isinstance(data, dict):
        raise ConfigError(f"data: expected a mapping of data overrides, got {data!r}")
    check_ranges(data, prefix="data")
    options = config.get("options") or {}
    if not isinstance(options, dict):
        raise ConfigError(f"options: expected a mapping of options, got {options!r}")
    check_ranges(options, prefix="options")
    if "trainer" in config:  # eval.yaml itself turns the logger off
        check_trainer(config.get("trainer") or {}, ignored=("logger",))


PREDICT_OUTPUT_FORMATS = ("text", "jsonl")
"""The values of ``rnnkit-predict``'s ``output_format``."""


def missing_input(raw: Any) -> str:
    """What ``rnnkit-predict`` says of a missing or empty ``input``."""
    return (
        "input: expected a sentence, a prompt or a file path (or input_file=<file with one "
        f"input a line>, - for standard input), got {raw!r}"
    )


def check_predict_io(config: dict[str, Any]) -> None:
    """``rnnkit-predict``'s ``input`` or ``input_file`` (exactly one), ``output_file`` and
    ``output_format``."""
    raw, name = config.get("input"), config.get("input_file")
    if raw is not None and name is not None:
        raise ConfigError(
            f"input_file: give either input or input_file, got input={raw!r} and "
            f"input_file={name!r}"
        )
    if name is not None:
        if isinstance(name, (dict, list, bool)) or not str(name).strip():
            raise ConfigError(
                f"input_file: expected a file with one input per line, or - for standard "
                f"input, got {name!r}"
            )
    elif raw is not None and (isinstance(raw, (dict, list, bool)) or not str(raw).strip()):
        raise ConfigError(missing_input(raw))  # none at all: a generating task's (music)
    output = config.get("output_file")
    if output is not None and (isinstance(output, (dict, list, bool)) or not str(output).strip()):
        raise ConfigError(f"output_file: expected a file path (or null: print), got {output!r}")
    if config.get("output_format", "text") not in PREDICT_OUTPUT_FORMATS:
        raise ConfigError(
            f"output_format: expected one of {list(PREDICT_OUTPUT_FORMATS)}, got "
            f"{config.get('output_format')!r}"
        )


def check_data_overrides(target: Any, overrides: dict[str, Any]) -> None:
    """The keys and types of ``data`` overrides against the checkpoint's datamodule class
    ``target`` (its ``_target_``; overridden by ``data._target_``)."""
    check_data({"_target_": target, **overrides})


def resolved(cfg: DictConfig) -> dict[str, Any]:
    """``cfg`` (without Hydra's own settings) as plain values, interpolations resolved; one
    that does not resolve is a :class:`ConfigError` naming its key."""
    config: dict[str, Any] = {}
    for name in cfg:
        if name == "hydra":  # Hydra's own settings (present in a compose_run config)
            continue
        try:
            value = cfg[name]
            config[name] = (
                OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value
            )
        except MissingMandatoryValue as error:  # a ??? value the command needs
            key = error.full_key or name
            raise ConfigError(f"{key}: missing; the command needs {key}=<value>") from None
        except Exception as error:  # an interpolation that does not resolve
            raise ConfigError(f"{name}: {' '.join(str(error).split())}") from None
    return config


def check_trainer(trainer: dict[str, Any], ignored: Iterable[str] = ()) -> None:
    check_component(trainer, "trainer", ignored=ignored)
    check_precision(trainer)
    check_ranges(trainer, prefix="trainer")


def check_data(data: dict[str, Any]) -> None:
    check_component(data, "data", ignored=("stream_from", "stream_options"))
    check_ranges(data, prefix="data")


def check_ranges(values: dict[str, Any], prefix: str = "") -> None:
    """Check the values of ``values`` (the config at ``prefix``) that :data:`RANGES` bounds."""
    for name, value in values.items():
        key = f"{prefix}.{name}" if prefix else name
        if key in RANGES:
            RANGES[key].check(key, value)


def check_compile(options: Any) -> None:
    """``compile``: a bool, null, or a mapping of ``torch.compile`` keyword arguments."""
    if options is None or isinstance(options, bool):
        return
    if not isinstance(options, dict):
        raise ConfigError(
            f"compile: expected true, false or a mapping of torch.compile's keyword "
            f"arguments, got {options!r}"
        )
    import torch

    known = [name for name in inspect.signature(torch.compile).parameters if name != "model"]
    for key in options:
        if key not in known:
            raise ConfigError(unknown_key_message(f"compile.{key}", str(key), known, "compile"))


def check_precision(trainer: dict[str, Any]) -> None:
    precision = trainer.get("precision")
    on_cpu = trainer.get("accelerator") == "cpu" or (
        trainer.get("accelerator") in (None, "auto") and not _cuda_available()
    )
    if precision is not None and on_cpu and precision not in CPU_PRECISIONS:
        raise ConfigError(
            f"trainer.precision: {precision!r} needs a GPU (float16 kernels); on a CPU use "
            "32-true (the default), 64-true, bf16-mixed or bf16-true"
        )


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


# ---- components built from a _target_ ---------------------------------------------------


def check_component(config: dict[str, Any], key: str, ignored: Iterable[str] = ()) -> None:
    """Check ``config``'s keys and value types against its ``_target_``'s constructor."""
    target = config.get("_target_")
    component = _import(target, key) if isinstance(target, str) else None
    if component is not None:
        check_keys(config, *constructor_parameters(component), key, ignored=ignored)


def check_cell(config: dict[str, Any], key: str) -> None:
    """A ``cell`` config: the layer's parameters, and for ``rnnkit.Recurrent`` also those of
    its cell (``cell.cell._target_``), to which it forwards the other keys."""
    target = config.get("_target_")
    layer = _import(target, key) if isinstance(target, str) else None
    if layer is None:
        return
    parameters, closed = constructor_parameters(layer, follow_kwargs=False)
    inner = config.get("cell")
    if not closed and isinstance(inner, dict) and isinstance(inner.get("_target_"), str):
        cell_class = _import(inner["_target_"], f"{key}.cell")
        if cell_class is not None:
            cell_parameters, closed = constructor_parameters(cell_class)
            check_keys(inner, cell_parameters, closed, f"{key}.cell")
            parameters = {**cell_parameters, **parameters}
    check_keys(config, parameters, closed, key)


def constructor_parameters(
    component: Any, follow_kwargs: bool = True
) -> tuple[dict[str, inspect.Parameter], bool]:
    """``({name: parameter}, closed)`` of ``component``'s constructor, annotations resolved;
    a ``**kwargs`` is followed into the base classes' constructors (``follow_kwargs``).
    ``closed`` is false when ``**kwargs`` may take more than these names (a ``**unsupported``
    never does)."""
    parameters: dict[str, inspect.Parameter] = {}
    classes = component.__mro__ if isinstance(component, type) else (component,)
    for owner in classes:
        if isinstance(owner, type) and "__init__" not in vars(owner):
            continue
        function = owner.__init__ if isinstance(owner, type) else owner
        try:
            signature = inspect.signature(function)
        except (TypeError, ValueError):
            return parameters, False
        hints = _hints(function)
        more = False
        for name, parameter in signature.parameters.items():
            if name == "self" or parameter.kind is parameter.VAR_POSITIONAL:
                continue
            if parameter.kind is parameter.VAR_KEYWORD:
                # ``**unsupported`` takes only what the class refuses itself (rnnkit.GRU's
                # proj_size, as torch.nn refuses it): no more keys.
                more = more or name != "unsupported"
                continue
            annotation = hints.get(name, inspect.Parameter.empty)
            parameters.setdefault(name, parameter.replace(annotation=annotation))
        if not more:
            return parameters, True
        if not follow_kwargs or owner is object:
            return parameters, False
    return parameters, False


def _hints(function: Callable[..., Any]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(function)
    except Exception:  # an annotation that does not resolve: check the keys only
        return {}


def _import(target: str, key: str) -> Any:
    """The class or function ``target`` names (only in rnnkit, torch or Lightning; else None:
    building it will refuse or report it)."""
    if not target.startswith(("rnnkit.", "torch.", "pytorch_lightning.", "lightning.")):
        return None
    module_name, _, attribute = target.rpartition(".")
    try:
        return getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError):
        raise ConfigError(f"{key}._target_: cannot import {target!r}") from None


def check_keys(
    config: dict[str, Any],
    parameters: dict[str, inspect.Parameter],
    closed: bool,
    key: str,
    ignored: Iterable[str] = (),
) -> None:
    """Every key of ``config`` a parameter (with the nearest one suggested when not; unless
    not ``closed``), and each value of its parameter's annotated type."""
    set_by_rnnkit = SET_BY_RNNKIT.get(key, {})
    known = sorted(n for n in parameters if n not in set_by_rnnkit)
    for name, value in config.items():
        if name.startswith("_") or name in ignored:
            continue
        full = f"{key}.{name}"
        if name in set_by_rnnkit:
            raise ConfigError(f"{full}: not a setting ({set_by_rnnkit[name]}); remove it")
        if name not in parameters:
            if not closed:
                continue
            raise ConfigError(unknown_key_message(full, name, known, key))
        check_type(full, value, parameters[name].annotation)


def unknown_key_message(full: str, name: str, known: Iterable[str], key: str) -> str:
    if full in RENAMED_KEYS:
        return f"{full}: unknown key; use {RENAMED_KEYS[full]}"
    known = list(known)
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    if close:
        return f"{full}: unknown key; did you mean {key}.{close[0]}?"
    return f"{full}: unknown key; expected one of: {', '.join(known)}"


# ---- types -------------------------------------------------------------------------------


def check_type(key: str, value: Any, annotation: Any) -> None:
    if conforms(value, annotation) is False:
        raise ConfigError(f"{key}: expected {describe(annotation)}, got {value!r}")


def conforms(value: Any, annotation: Any) -> bool | None:
    """Whether a config value (None, bool, int, float, str, list or dict) fits
    ``annotation``; None when the annotation is beyond what can be checked."""
    if annotation is inspect.Parameter.empty or annotation is Any:
        return None
    origin = typing.get_origin(annotation)
    arguments = typing.get_args(annotation)
    if origin is typing.Union or origin is types.UnionType:
        answers = [conforms(value, a) for a in arguments]
        if True in answers:
            return True
        return None if None in answers else False
    if origin is typing.Literal:
        return any(value == a and type(value) is type(a) for a in arguments)
    if annotation is type(None):
        return value is None
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation is str:
        return isinstance(value, str)
    sequence_types = (list, tuple, collections.abc.Sequence, collections.abc.Iterable)
    if annotation in sequence_types or origin in sequence_types:
        if not isinstance(value, (list, tuple)):
            return False
        if origin is not None and len(arguments) == 1:
            answers = [conforms(item, arguments[0]) for item in value]
            return False if False in answers else None
        return None
    if annotation is dict or origin in (dict, collections.abc.Mapping):
        return isinstance(value, dict)
    if isinstance(annotation, type):  # another class: only a nested config builds one
        return isinstance(value, dict)
    return None


def describe(annotation: Any) -> str:
    """What ``annotation`` asks of a config value, in words."""
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        arguments = typing.get_args(annotation)
        plain = [a for a in arguments if not _is_other_class(a)]
        parts = [describe(a) for a in plain or arguments]
        return " or ".join(dict.fromkeys(p for p in parts if p))
    if origin is typing.Literal:
        return f"one of {list(typing.get_args(annotation))}"
    names = {
        type(None): "null",
        bool: "true or false",
        int: "an integer",
        float: "a number",
        str: "a string",
        dict: "a mapping",
    }
    if annotation in names:
        return names[annotation]
    if origin in (list, tuple, collections.abc.Sequence, collections.abc.Iterable):
        return "a list"
    if isinstance(annotation, type):
        return f"a {annotation.__name__} config"
    return str(annotation)


def _is_other_class(annotation: Any) -> bool:
    """A class other than the builtin value types (a config can only be a mapping for it)."""
    builtins = (type(None), bool, int, float, str, dict, list, tuple)
    return isinstance(annotation, type) and annotation not in builtins


# ---- model -------------------------------------------------------------------------------


def check_model(model: dict[str, Any], task_target: Any) -> None:
    """``model`` against the shipped model config of the task ``task_target`` (nothing is
    checked for a task rnnkit does not ship)."""
    defaults = shipped_model_defaults(task_target)
    if defaults is None:
        return
    known = sorted(defaults)
    for name, value in model.items():
        key = f"model.{name}"
        if name not in defaults:
            raise ConfigError(unknown_key_message(key, name, known, "model"))
        default = defaults[name]
        expected = _default_type(default)
        if expected is not None and not conforms(value, expected):
            raise ConfigError(f"{key}: expected {describe(expected)}, got {value!r}")


def check_pretrained_embeddings(model: dict[str, Any]) -> None:
    """``model.embedding`` and ``model.source_embedding`` (``{pretrained, freeze}``): their keys,
    and a ``pretrained`` file that exists with vectors of the embedding's size (read from its
    first line), before any data is read."""
    for name in EMBEDDING_SIZES:
        if name not in model:
            continue
        key = f"model.{name}"
        try:
            config = embedding_config(model[name], key)
        except ValueError as error:
            raise ConfigError(str(error)) from None
        if config["pretrained"] is None:
            continue
        if not Path(config["pretrained"]).expanduser().is_file():
            raise FileNotFoundError(
                f"{key}.pretrained: {config['pretrained']}: no such word vectors file"
            )
        size_key = embedding_size_key(model, name)
        size = model.get(size_key.removeprefix("model."))
        try:
            check_vector_size(config["pretrained"], size, size_key, f"{key}.pretrained")
        except ValueError as error:
            if str(error).startswith(f"{key}.pretrained:"):  # a size that differs: the config's
                raise ConfigError(str(error)) from None
            raise  # the file's own problem (empty, binary): exit 1


def _default_type(default: Any) -> Any:
    """The annotation a shipped default stands for (None: not checked)."""
    if isinstance(default, bool):
        return bool
    if isinstance(default, int):
        return int
    if isinstance(default, float):
        return float
    if isinstance(default, str):
        return str
    return None


def shipped_model_defaults(task_target: Any) -> dict[str, Any] | None:
    """The keys and defaults of ``src/rnnkit/configs/model/<name>.yaml`` where
    ``src/rnnkit/configs/task/<name>.yaml`` has ``_target_: task_target``; None when no shipped
    task config names it."""
    for task_file in sorted((CONFIG_DIR / "task").glob("*.yaml")):
        task = yaml.safe_load(task_file.read_text()) or {}
        if task.get("_target_") == task_target:
            model_file = CONFIG_DIR / "model" / task_file.name
            if model_file.is_file():
                return yaml.safe_load(model_file.read_text()) or {}
    return None
