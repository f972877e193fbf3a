"""Compose a run's config in-process, exactly as ``rnnkit-<command> <overrides>`` would.

For scripts and tests that build runs from Python: the same config groups, defaults and
overrides as the command line, with the run folder at a chosen place instead of Hydra's
timestamped one.
"""

from __future__ import annotations

import os
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

from rnnkit.cli.checkpoint_overrides import open_mapping_overrides

CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"
"""rnnkit's Hydra config groups, shipped inside the package (``src/rnnkit/configs/``)."""


def compose_run(
    overrides: list[str], output_dir: Path | str, config_name: str = "train"
) -> DictConfig:
    """The config ``rnnkit-train <overrides>`` would run (``config_name``: ``train``,
    ``eval``, ``predict``, ``draw``, ``prepare``), with its run folder at ``output_dir``.

    Hydra's global state is reset, and the composed config becomes the current
    :class:`~hydra.core.hydra_config.HydraConfig`, as inside ``@hydra.main``: so
    ``paths.output_dir`` (``${hydra:runtime.output_dir}``) resolves to ``output_dir``.
    """
    if config_name in ("eval", "predict"):
        overrides = open_mapping_overrides(list(overrides))
    GlobalHydra.instance().clear()
    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(config_name, overrides=overrides, return_hydra_config=True)
    with open_dict(cfg):
        # The run folder is chosen here: resolving the configured one would create a new,
        # empty folder under paths.log_dir (rnnkit.cli.run_folders) for nothing.
        cfg.hydra.run.dir = str(output_dir)
        cfg.hydra.runtime.output_dir = str(output_dir)
        cfg.hydra.runtime.cwd = os.getcwd()
        cfg.hydra.job.num = 0
    HydraConfig().set_config(cfg)
    return cfg
