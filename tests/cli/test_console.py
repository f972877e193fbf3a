"""A quiet console by default: rnnkit's lines and the epoch summaries, not Lightning's chatter
or third-party deprecation warnings; ``verbose=true`` brings them back."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import rnnkit
from hydra_helpers import TINY_RUN, compose_run
from rnnkit.cli.console import quiet_console

TINY = ["experiment=tagging", *TINY_RUN, "trainer.max_epochs=2"]
NOISE = ("GPU available", "LeafSpec", "Test metric", "`Trainer.fit` stopped", "Tip:", "| Name")


def run_train(tmp_path: Path, *overrides: str) -> str:
    env = dict(os.environ, RNNKIT_LOG_DIR=str(tmp_path / "logs"))
    env["PYTHONPATH"] = str(Path(rnnkit.__file__).parents[1])  # this checkout's rnnkit
    result = subprocess.run(
        [sys.executable, "-m", "rnnkit.cli.train", *TINY, *overrides],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout + result.stderr


def test_training_prints_epoch_lines_and_the_summary_and_no_noise(tmp_path):
    out = run_train(tmp_path)
    assert [word for word in NOISE if word in out] == []
    lines = [line for line in out.splitlines() if "] - epoch " in line]
    assert [line.split("] - ")[1].split("  ")[0] for line in lines] == ["epoch 1/2", "epoch 2/2"]
    assert all("train/loss " in line and "val/acc " in line for line in lines)
    assert "best checkpoint: " in out and "Traceback" not in out


def test_verbose_brings_lightning_back(tmp_path):
    out = run_train(tmp_path, "verbose=true")
    assert "GPU available" in out and "Test metric" in out


def test_a_bad_verbose_value_is_named(tmp_path):
    from rnnkit.cli.train import train

    with pytest.raises(ValueError, match="verbose: expected true or false, got 'loud'"):
        train(compose_run(["experiment=tagging", "verbose=loud"], tmp_path))


def third_party_warning(category: type[Warning]) -> None:
    exec(  # noqa: S102 - a warning raised from a module that is not rnnkit's
        "import warnings\nwarnings.warn('old API', category)",
        {"__name__": "some_library.module", "category": category, "warnings": warnings},
    )


@pytest.mark.parametrize("category", [DeprecationWarning, FutureWarning])
def test_quiet_drops_third_party_deprecations_not_rnnkits(category):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with quiet_console():
            third_party_warning(category)
            exec(
                "import warnings\nwarnings.warn('rnnkit API', category)",
                {"__name__": "rnnkit.layers.x", "category": category},
            )
            warnings.warn("a real problem", UserWarning, stacklevel=1)
        with quiet_console(verbose=True):
            third_party_warning(category)
    assert [str(w.message) for w in caught] == ["rnnkit API", "a real problem", "old API"]


def test_quiet_drops_lightning_info_but_not_its_warnings_and_restores_levels(caplog):
    lightning = logging.getLogger("pytorch_lightning.utilities.rank_zero")
    before = logging.getLogger("pytorch_lightning").level
    with caplog.at_level(logging.INFO), quiet_console():
        lightning.info("GPU available: False")
        lightning.warning("something is wrong")
        logging.getLogger("rnnkit").info("epoch 1/2")
    assert [r.getMessage() for r in caplog.records] == ["something is wrong", "epoch 1/2"]
    assert logging.getLogger("pytorch_lightning").level == before
