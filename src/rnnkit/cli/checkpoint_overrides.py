"""``rnnkit-eval`` and ``rnnkit-predict`` take ``data.<key>=<value>`` for any key of the
checkpoint's data config, without Hydra's ``+``.

Their ``data`` is a mapping of overrides for the datamodule stored in the checkpoint, whose keys
are known only once the checkpoint is read (and are then checked against that datamodule's
arguments: :func:`rnnkit.cli.validation.check_data_overrides`). So the YAML cannot list them,
and a plain ``data.batch_size=64`` is turned into Hydra's add-or-override ``++data.batch_size=64``
before Hydra composes the config.
"""

from __future__ import annotations

OPEN_MAPPINGS = ("data",)
"""Top-level keys of the eval and predict configs whose keys come from the checkpoint."""


def open_mapping_overrides(arguments: list[str]) -> list[str]:
    """``arguments`` with every plain ``data.<key>=<value>`` made ``++data.<key>=<value>``."""
    return [f"++{argument}" if _sets_open_key(argument) else argument for argument in arguments]


def _sets_open_key(argument: str) -> bool:
    key, equals, _ = argument.partition("=")
    mapping, dot, _ = key.partition(".")
    return bool(equals and dot) and mapping in OPEN_MAPPINGS
