"""Random number generator states in every checkpoint, restored when a run resumes.

Lightning's checkpoints hold the model, optimizer, schedulers, loops and callbacks, but not the
random states: a resumed run would draw other dropout masks than the uninterrupted run from
the next batch on. :class:`RandomStateCheckpoint` saves torch's (CPU and CUDA), NumPy's and
Python's global states with every checkpoint, as tensors and plain numbers (a checkpoint
stays loadable with ``torch.load(weights_only=True)``), and sets them back just before the
first training batch after a resume, where the interrupted run would have gone on.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch


def random_states() -> dict[str, Any]:
    """The global random states of torch (CPU, every CUDA device), NumPy and Python."""
    kind, keys, position, has_gauss, cached_gaussian = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "torch_cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {
            "kind": str(kind),
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            "position": int(position),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached_gaussian),
        },
        "python": random.getstate(),
    }


def set_random_states(states: dict[str, Any]) -> None:
    """Set the global random states from :func:`random_states`."""
    torch.set_rng_state(states["torch"])
    cuda = states.get("torch_cuda") or []
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)
    numpy = states["numpy"]
    np.random.set_state(
        (
            numpy["kind"],
            numpy["keys"].numpy().astype(np.uint32),
            numpy["position"],
            numpy["has_gauss"],
            numpy["cached_gaussian"],
        )
    )
    version, internal, gauss_next = states["python"]
    random.setstate((version, tuple(internal), gauss_next))


class RandomStateCheckpoint(pl.Callback):
    """Save the random states with every checkpoint; restore them on resume (module doc)."""

    def __init__(self) -> None:
        self.states_to_restore: dict[str, Any] | None = None

    def state_dict(self) -> dict[str, Any]:
        return random_states()

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        # Not now: the sanity check and the data setup of the resumed run come first.
        self.states_to_restore = state_dict

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, *args: Any, **kwargs: Any
    ) -> None:
        if self.states_to_restore is not None:
            set_random_states(self.states_to_restore)
            self.states_to_restore = None
