"""Every experiment config runs end to end under fast_dev_run (lightning-hydra-template's
``experiment=glob(*)`` smoke test). Experiments on real data are ``slow`` (make test-full) and
skip cleanly without it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from omegaconf import OmegaConf

from hydra_helpers import CONFIG_DIR, EXPERIMENTS
from rnnkit.cli.train import train
from shared_data import SHARED_DATA


def uses_real_data(name: str) -> bool:
    """Whether the experiment reads files under ``paths.data_root``: its own YAML names it, its
    data config does, or the experiment it extends does."""
    text = (CONFIG_DIR / "experiment" / f"{name}.yaml").read_text()
    if "data_root" in text:
        return True
    for entry in yaml.safe_load(text).get("defaults", []):
        if isinstance(entry, dict) and "override /data" in entry:
            data = CONFIG_DIR / "data" / f"{entry['override /data']}.yaml"
            if "data_root" in data.read_text():
                return True
        elif (
            isinstance(entry, str)
            and (CONFIG_DIR / "experiment" / f"{entry}.yaml").is_file()
            and uses_real_data(entry)
        ):
            return True
    return False


# Experiments whose built-in data takes minutes to prepare in full: a few files of each split.
QUICK_DATA = {"jsb_chorales": ["data.limit_files=2"]}


# On real data (../shared/data) the smoke run is a slow test, as every test on that data is:
# preparing a reference dataset takes seconds (make test-full runs them).
@pytest.mark.parametrize(
    "experiment",
    [pytest.param(e, marks=pytest.mark.slow) if uses_real_data(e) else e for e in EXPERIMENTS],
)
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
