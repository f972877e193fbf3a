"""Hydra helpers for tests: compose_run (rnnkit.cli.compose), the experiments, one thread.

Importable from every test module (``pythonpath = ["tests"]`` in pyproject.toml).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from hydra.core.global_hydra import GlobalHydra

from rnnkit.cli.compose import CONFIG_DIR, compose_run

__all__ = ["BUILTIN_TASKS", "CONFIG_DIR", "EXPERIMENTS", "TINY_RUN", "compose_run", "one_thread"]

EXPERIMENTS = sorted(path.stem for path in (CONFIG_DIR / "experiment").glob("*.yaml"))
TINY_RUN = [
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=2",
    "trainer.limit_val_batches=1",
    "trainer.limit_test_batches=1",
    "trainer.enable_progress_bar=false",
]
"""Overrides for a run of one epoch of two training batches: every hook, in seconds."""
BUILTIN_TASKS = (
    "sentiment",
    "tagging",
    "translation",
    "captioning",
    "forecasting",
    "language_model",
)
"""The experiments of the six built-in (offline) tasks."""


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Run torch on one thread (small models on a shared CPU are slower with more)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
        GlobalHydra.instance().clear()
