"""``pip install rnnkit`` (no extras) is enough for the library: ``import rnnkit``, the layers,
cells and patterns, and the library examples of README.md, docs/patterns.md and
docs/custom_cells.md run in a Python that sees torch, torch's own dependencies and rnnkit only
(``python -S`` with a folder of links to exactly those packages: what a library-only install
holds), and a meta-path finder refuses every package of the ``train`` extra besides."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

import rnnkit

ROOT = Path(__file__).parents[1]
LIBRARY_DOCS = ("README.md", "docs/patterns.md", "docs/custom_cells.md")
# Every import of the `train`, `stream`, `mlflow` and `wandb` extras, and numpy (torch does not
# need it; rnnkit's model code must not either).
REFUSED = (
    "lightning",
    "lightning_fabric",
    "pytorch_lightning",
    "hydra",
    "omegaconf",
    "torchmetrics",
    "tensorboard",
    "matplotlib",
    "pandas",
    "sklearn",
    "statsmodels",
    "PIL",
    "sentencepiece",
    "num2words",
    "optuna",
    "yaml",
    "datasets",
    "pyarrow",
    "mlflow",
    "wandb",
    "numpy",
)

PROGRAM = """
import importlib.abc, json, sys

REFUSED = set(json.loads(sys.argv[1]))


class RefuseTrainExtras(importlib.abc.MetaPathFinder):
    # Absent anyway in this Python; a refused import names itself (torch's own probes use
    # importlib.util.find_spec, which sees None for a missing package: so does this finder).
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in REFUSED and name in self.imported:
            raise ModuleNotFoundError(f"No module named {name!r} (refused)", name=name)
        return None

    imported = set()


sys.meta_path.insert(0, RefuseTrainExtras())

import torch
import rnnkit
from rnnkit import patterns

lstm = rnnkit.LSTM(8, 16, num_layers=2, bidirectional=True, batch_first=True)
reference = torch.nn.LSTM(8, 16, 2, batch_first=True, bidirectional=True)
lstm.load_state_dict(reference.state_dict())
x = torch.randn(4, 10, 8)
assert torch.allclose(lstm(x)[0], reference(x)[0], atol=1e-5)

for path, blocks in json.loads(sys.argv[2]).items():
    namespace = {"__name__": "__doc_example__"}
    for block in blocks:
        exec(compile(block, path, "exec"), namespace)
    print(path, len(blocks), "blocks ran")
loaded = sorted({m.split(".")[0] for m in sys.modules} & REFUSED)
print("refused modules loaded:", loaded)
"""


def torch_dependencies() -> set[str]:
    """The distributions ``pip install torch`` installs here (torch's requirements for this
    platform, recursively)."""
    seen: set[str] = set()
    pending = ["torch"]
    while pending:
        name = pending.pop()
        if name.lower().replace("_", "-") in seen:
            continue
        seen.add(name.lower().replace("_", "-"))
        for requirement in map(Requirement, metadata.distribution(name).requires or []):
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                pending.append(requirement.name)
    return seen


def library_site(folder: Path) -> Path:
    """A folder of links to the top-level modules of torch and its dependencies only."""
    folder.mkdir()
    for name in torch_dependencies():
        distribution = metadata.distribution(name)
        for top in {f.parts[0] for f in distribution.files or []}:
            source = Path(distribution.locate_file(top))
            if top.endswith((".dist-info", ".pth")) or top in ("..", "__pycache__"):
                continue
            if source.exists() and not (folder / top).exists():
                (folder / top).symlink_to(source)
    return folder


def run_library_python(site: Path, program: str, *arguments: str):
    """``python -S`` (no site-packages) seeing ``site`` and rnnkit's source only."""
    return subprocess.run(
        [sys.executable, "-S", "-c", program, json.dumps(REFUSED), *arguments],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": f"{site}:{Path(rnnkit.__file__).parents[1]}", "PATH": "/usr/bin:/bin"},
        timeout=600,
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    return library_site(tmp_path_factory.mktemp("library") / "site")


def python_blocks(path: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", (ROOT / path).read_text(), flags=re.DOTALL)


def test_library_runs_with_torch_alone(site):
    assert not (site / "numpy").exists() and not (site / "pytorch_lightning").exists()
    examples = {path: python_blocks(path) for path in LIBRARY_DOCS}
    assert all(examples.values())
    result = run_library_python(site, PROGRAM, json.dumps(examples))
    assert result.returncode == 0, result.stderr[-3000:]
    for path, blocks in examples.items():
        assert f"{path} {len(blocks)} blocks ran" in result.stdout
    assert "refused modules loaded: []" in result.stdout


def test_that_python_has_no_train_extras(site):
    """The same Python fails where a train package is needed: the test can fail."""
    result = run_library_python(site, PROGRAM + "\nimport rnnkit.tasks.base\n", "{}")
    assert result.returncode != 0
    assert "No module named 'pytorch_lightning'" in result.stderr


@pytest.mark.parametrize("argument", ["--version", "-V"])
def test_version_without_the_train_extras(site, argument):
    program = PROGRAM.split("import torch\n")[0] + (
        "import runpy\nsys.argv = ['rnnkit', sys.argv[3]]\n"
        "runpy.run_module('rnnkit', run_name='__main__')\n"
    )
    result = run_library_python(site, program, "{}", argument)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"rnnkit {rnnkit.__version__}"
