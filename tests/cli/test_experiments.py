"""Every experiment config runs end to end under fast_dev_run (lightning-hydra-template's
``experiment=glob(*)`` smoke test). Experiments on real data skip cleanly without it."""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from hydra_helpers import CONFIG_DIR, EXPERIMENTS
from rnnkit.cli.train import train
from shared_data import SHARED_DATA


def uses_real_data(name: str) -> bool:
    return "data_root" in (CONFIG_DIR / "experiment" / f"{name}.yaml").read_text() or (
        "paths.data_root"
        in OmegaConf.to_yaml(OmegaConf.load(CONFIG_DIR / "experiment" / f"{name}.yaml"))
    )


# Experiments whose built-in data takes minutes to prepare in full: a few files of each split.
QUICK_DATA = {"jsb_chorales": ["data.limit_files=2"]}


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_experiment_runs_under_fast_dev_run(make_config, experiment):
    # fast_dev_run takes one batch per split: keep batches small.
    overrides = [
        f"experiment={experiment}",
        "debug=fast_dev_run",
        "num_threads=1",
        "data.batch_size=8",
        *QUICK_DATA.get(experiment, []),
    ]
    cfg = make_config(overrides + [f"paths.data_root={SHARED_DATA}"])
    data_config = OmegaConf.to_container(cfg.data, resolve=True)
    if "path" in data_config and not Path(str(data_config["path"])).exists():
        pytest.skip(f"{experiment} needs {data_config['path']} (shared benchmark data)")
    train(cfg)
