"""Shared pytest fixtures and settings."""

import pytest
import torch

# The suite runs tiny models: on a 2-core machine, torch's intra-op threads cost more in
# contention than they gain (a tiny training step: ~25 ms with 1 thread, ~300 ms with 2 under
# load). Tests that need another setting change it locally.
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _deterministic_seed():
    torch.manual_seed(0)
