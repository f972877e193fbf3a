"""The layout a newcomer reads: the config groups in one place, inside the package (no root
link that a checkout without symbolic links or a web view shows as a dangling one), which the
README names; and data/ organised by task rather than as a flat heap of modules."""

from __future__ import annotations

from pathlib import Path

import rnnkit

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = Path(rnnkit.__file__).resolve().parent
GROUPS = {"callbacks", "cell", "data", "debug", "experiment", "hparams_search", "hydra"}
GROUPS |= {"logger", "model", "paths", "task", "trainer"}


def test_the_configs_are_in_the_package_and_the_readme_says_so():
    configs = PACKAGE / "configs"
    groups = {path.name for path in configs.iterdir() if path.is_dir()}
    assert groups >= GROUPS, f"src/rnnkit/configs/ lacks {sorted(GROUPS - groups)}"
    assert {"train.yaml", "eval.yaml", "predict.yaml"} <= {p.name for p in configs.iterdir()}
    root = ROOT / "configs"
    assert not root.exists() and not root.is_symlink(), "a second configs/ at the root"
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "The configs live in `src/rnnkit/configs/`" in readme


def test_data_is_organised_by_task():
    data = PACKAGE / "data"
    files = sorted(path.name for path in data.iterdir() if path.suffix == ".py")
    assert len(files) <= 6, f"data/ has {len(files)} top-level files: {files}"
    packages = {path.name for path in data.iterdir() if (path / "__init__.py").exists()}
    tasks = {path.stem for path in (PACKAGE / "tasks").glob("*.py")}
    for task in ("sentiment", "tagging", "translation", "captioning", "forecasting"):
        assert task in packages and task in tasks
    assert {"io", "language_modeling"} <= packages
