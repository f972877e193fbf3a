"""The layout a newcomer reads: the root configs/ shows the real config groups, and data/ is
organised by task rather than as a flat heap of modules."""

from __future__ import annotations

from pathlib import Path

import rnnkit

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = Path(rnnkit.__file__).resolve().parent
GROUPS = {"callbacks", "cell", "data", "debug", "experiment", "hparams_search", "hydra"}
GROUPS |= {"logger", "model", "paths", "task", "trainer"}


def test_root_configs_is_the_package_configs():
    root_configs = ROOT / "configs"
    assert root_configs.resolve() == (PACKAGE / "configs").resolve()
    groups = {path.name for path in root_configs.iterdir() if path.is_dir()}
    assert groups >= GROUPS, f"configs/ lacks {sorted(GROUPS - groups)}"
    assert {"train.yaml", "eval.yaml", "predict.yaml"} <= {p.name for p in root_configs.iterdir()}


def test_data_is_organised_by_task():
    data = PACKAGE / "data"
    files = sorted(path.name for path in data.iterdir() if path.suffix == ".py")
    assert len(files) <= 6, f"data/ has {len(files)} top-level files: {files}"
    packages = {path.name for path in data.iterdir() if (path / "__init__.py").exists()}
    tasks = {path.stem for path in (PACKAGE / "tasks").glob("*.py")}
    for task in ("sentiment", "tagging", "translation", "captioning", "forecasting"):
        assert task in packages and task in tasks
    assert {"io", "language_modeling"} <= packages
