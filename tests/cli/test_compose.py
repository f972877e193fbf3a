"""compose_run gives the config the command line would run, with the run folder where asked."""

from __future__ import annotations

import runpy
import sys

import yaml
from hydra.core.hydra_config import HydraConfig
from omegaconf import OmegaConf

from rnnkit.cli.compose import CONFIG_DIR, compose_run

OVERRIDES = ["experiment=long_range", "cell=gru", "data.lag=7", "trainer.max_epochs=2"]


def test_compose_run_is_the_job_config_that_rnnkit_train_prints(tmp_path, monkeypatch, capsys):
    # runpy is what ``python -m`` calls; --cfg job prints the composed config and stops.
    argv = ["rnnkit/cli/train.py", *OVERRIDES, "--cfg", "job"]
    monkeypatch.setattr(sys, "argv", argv)
    runpy.run_module("rnnkit.cli.train", run_name="__main__", alter_sys=True)
    printed = yaml.safe_load(capsys.readouterr().out)
    cfg = compose_run(OVERRIDES, tmp_path / "run")
    composed = OmegaConf.to_container(cfg, resolve=False)
    composed.pop("hydra")
    assert composed == printed
    assert cfg.data.lag == 7 and cfg.trainer.max_epochs == 2


def test_the_run_folder_is_output_dir(tmp_path):
    cfg = compose_run(["experiment=sentiment"], tmp_path / "run")
    assert cfg.paths.output_dir == str(tmp_path / "run")
    assert HydraConfig.get().runtime.output_dir == str(tmp_path / "run")
    assert cfg.trainer.default_root_dir == str(tmp_path / "run")


def test_other_commands_compose_their_own_config(tmp_path):
    cfg = compose_run(["ckpt_path=model.ckpt"], tmp_path, config_name="eval")
    assert cfg.ckpt_path == "model.ckpt"
    assert (CONFIG_DIR / "eval.yaml").is_file()
