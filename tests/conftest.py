"""Shared pytest fixtures and settings."""

import os

import pytest
import torch
from hydra.core.global_hydra import GlobalHydra

from hydra_helpers import compose_run

# The suite runs tiny models: on a 2-core machine, torch's intra-op threads cost more in
# contention than they gain (a tiny training step: ~25 ms with 1 thread, ~300 ms with 2 under
# load). Tests that need another setting change it locally.
torch.set_num_threads(1)


@pytest.fixture(autouse=True, scope="session")
def _cache_outside_home(tmp_path_factory):
    """Downloads and image caches (``paths.cache_dir``, ``RNNKIT_CACHE_DIR``) go to a temporary
    folder: the suite never writes to the user's ``~/.cache/rnnkit``."""
    previous = os.environ.get("RNNKIT_CACHE_DIR")
    os.environ["RNNKIT_CACHE_DIR"] = str(tmp_path_factory.mktemp("rnnkit-cache"))
    yield
    if previous is None:
        del os.environ["RNNKIT_CACHE_DIR"]
    else:
        os.environ["RNNKIT_CACHE_DIR"] = previous


@pytest.fixture(autouse=True)
def _deterministic_seed():
    torch.manual_seed(0)


@pytest.fixture
def make_config(tmp_path):
    """``make_config(overrides, config_name="train")``: a composed config running in tmp_path."""

    def make(overrides: list[str], config_name: str = "train"):
        return compose_run(overrides, tmp_path, config_name)

    yield make
    GlobalHydra.instance().clear()
