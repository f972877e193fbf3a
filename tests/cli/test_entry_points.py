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
    assert scripts == {
        "rnnkit": "rnnkit.__main__:main",
        **{f"rnnkit-{command}": f"rnnkit.cli.{command}:main" for command in COMMANDS},
    }


@pytest.mark.parametrize("command", COMMANDS)
def test_python_dash_m_starts_the_command(command, monkeypatch, capsys):
    # runpy is what ``python -m`` calls; in-process it spares each case a Lightning import.
    monkeypatch.setattr(sys, "argv", [f"rnnkit/cli/{command}.py", "--help"])
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_module(f"rnnkit.cli.{command}", run_name="__main__", alter_sys=True)
    assert exit_info.value.code == 0
    assert "Powered by Hydra" in capsys.readouterr().out


@pytest.mark.parametrize("command", COMMANDS)
def test_rnnkit_command_runs_rnnkit_dash_command(command, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["rnnkit", command, "--help"])
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_module("rnnkit", run_name="__main__", alter_sys=True)
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{command} is powered by Hydra")


@pytest.mark.parametrize(
    ("arguments", "code", "expected"),
    [
        (["--version"], 0, "rnnkit 0.1.0\n"),
        ([], 0, "usage: rnnkit [--version] <command> [overrides ...]"),
        (["trian"], 2, "rnnkit: error: unknown command 'trian'"),
    ],
)
def test_version_usage_and_unknown_commands(arguments, code, expected, capsys):
    from rnnkit.__main__ import main

    if code:
        with pytest.raises(SystemExit) as exit_info:
            main(arguments)
        assert exit_info.value.code == code
    else:
        main(arguments)
    out, err = capsys.readouterr()
    assert (err if code else out).startswith(expected)


def test_packaging_by_role():
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    assert project["dependencies"] == ["torch>=2.1"]  # the library: torch only
    extras = project["optional-dependencies"]
    train = {r.split(">")[0].split("<")[0]: r for r in extras["train"]}
    assert train["pytorch-lightning"].endswith(",<3") and train["hydra-core"].endswith(",<2")
    assert {"torchmetrics", "tensorboard", "matplotlib", "omegaconf"} <= set(train)
    assert extras["dev"][0] == "rnnkit[" + ",".join(e for e in extras if e != "dev") + "]"
    assert (PYPROJECT.parent / "src" / "rnnkit" / "py.typed").is_file()
    package_data = tomllib.loads(PYPROJECT.read_text())["tool"]["setuptools"]["package-data"]
    assert "py.typed" in package_data["rnnkit"]
