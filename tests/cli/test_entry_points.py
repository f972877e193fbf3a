"""Each command starts as its console script names it and as ``python -m rnnkit.cli.<cmd>``."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

COMMANDS = ("train", "eval", "predict", "draw", "prepare")
PYPROJECT = Path(__file__).parents[2] / "pyproject.toml"


def test_console_scripts_point_at_the_cli_modules():
    scripts = tomllib.loads(PYPROJECT.read_text())["project"]["scripts"]
    assert scripts == {f"rnnkit-{command}": f"rnnkit.cli.{command}:main" for command in COMMANDS}


@pytest.mark.parametrize("command", COMMANDS)
def test_python_dash_m_starts_the_command(command, monkeypatch, capsys):
    # runpy is what ``python -m`` calls; in-process it spares each case a Lightning import.
    monkeypatch.setattr(sys, "argv", [f"rnnkit/cli/{command}.py", "--help"])
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_module(f"rnnkit.cli.{command}", run_name="__main__", alter_sys=True)
    assert exit_info.value.code == 0
    assert "Powered by Hydra" in capsys.readouterr().out
