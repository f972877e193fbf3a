"""Refuse a top-level key that no config defines: ``rnnkit-train +num_thread=2`` or
``+trainr.max_epochs=3`` would otherwise add a key nothing reads, silently.

Hydra refuses ``foo=1`` for a key the config lacks, but ``+foo=1`` adds it. Which top-level
keys a command has is the config's own schema: the keys of the same composition *without* the
user's ``+``/``++`` value overrides (the primary config, its defaults groups and the selected
experiment, debug or sweep config, which may add keys such as ``optimized_metric``). The user's
overrides are Hydra's record of the command line (``hydra.overrides.task``); nothing is kept
by hand.
"""

from __future__ import annotations

import difflib
from typing import Any

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig

from rnnkit.cli.compose import CONFIG_DIR
from rnnkit.cli.errors import ConfigError


def check_top_level_keys(cfg: DictConfig) -> None:
    """Raise :class:`ConfigError` for a top-level key of ``cfg`` that only a user's ``+``
    override added and that the command's config does not define, naming the nearest key.

    Nothing is checked for a config that Hydra did not compose (no ``hydra`` settings)."""
    hydra_config = cfg.get("hydra") if "hydra" in cfg else _running_hydra_config()
    if hydra_config is None:
        return
    overrides = [str(o) for o in hydra_config.overrides.task]
    parsed = OverridesParser.create().parse_overrides(overrides)
    added = [
        (text, override.key_or_group)
        for text, override in zip(overrides, parsed)
        if (override.is_add() or override.is_force_add()) and _adds_a_value(override.key_or_group)
    ]
    present = [key.split(".")[0] for _, key in added if key.split(".")[0] in cfg]
    if not present:
        return
    # Deletions go too: one may remove what a dropped addition made (``+callbacks.x=...
    # ~callbacks.x``), and none adds a key.
    dropped = {t for t, _ in added} | {
        text for text, override in zip(overrides, parsed) if override.is_delete()
    }
    kept = [text for text in overrides if text not in dropped]
    known = known_top_level_keys(str(hydra_config.job.config_name), kept)
    for _, key in added:
        top = key.split(".")[0]
        if top in cfg and top not in known:
            raise ConfigError(unknown_top_level_key(key, known))


def known_top_level_keys(config_name: str, overrides: list[str]) -> set[str]:
    """The top-level keys (without ``hydra``) of ``config_name`` composed with ``overrides``."""
    if GlobalHydra.instance().is_initialized():  # inside @hydra.main: its own config search
        cfg = compose(config_name, overrides=overrides)
    else:
        with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
            cfg = compose(config_name, overrides=overrides)
    return {str(key) for key in cfg if key != "hydra"}


def unknown_top_level_key(key: str, known: set[str]) -> str:
    """``<key>: unknown key; did you mean <nearest>?`` (the rest of a dotted key kept)."""
    top, dot, rest = key.partition(".")
    close = difflib.get_close_matches(top, sorted(known), n=1, cutoff=0.6)
    if close:
        return f"{key}: unknown key; did you mean {close[0]}{dot}{rest}?"
    return f"{key}: unknown key; expected one of: {', '.join(sorted(known))}"


def _running_hydra_config() -> Any:
    return HydraConfig.get() if HydraConfig.initialized() else None


def _adds_a_value(key: str) -> bool:
    """Whether ``+key=...`` adds a value (not Hydra's own setting, not a group's option)."""
    if key.split(".")[0] == "hydra" or "/" in key:
        return False
    return "." in key or not (CONFIG_DIR / key).is_dir()
