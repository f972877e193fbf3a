"""Reading a checkpoint file as data: tensors and plain values, checked before any use.

Every way rnnkit opens a checkpoint (``RecurrentTask.load_from_checkpoint``, ``rnnkit-eval``,
``rnnkit-predict``, ``rnnkit-train ckpt_path=...``) reads it with :func:`read_checkpoint`:
``torch.load(weights_only=True)``, so no pickled code runs, then a check that the entries
rnnkit needs are there. A file that cannot be used raises :class:`CheckpointError`, whose one
line names the file and what is wrong, instead of an ``IndexError`` or ``KeyError`` from deep
inside torch or Lightning.
"""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path
from typing import Any

import torch

CHECKPOINT_KEY = "rnnkit"
"""The checkpoint entry rnnkit adds: task name, task class, fitted data artifacts, version."""

TASK_HYPER_PARAMETERS = ("cell", "model", "data_spec", "optimizer")
"""The ``hyper_parameters`` entries every :class:`~rnnkit.tasks.base.RecurrentTask` needs."""

TRAINING_STATE = ("epoch", "global_step", "optimizer_states", "loops")
"""The entries Lightning needs to resume training (a weights-only checkpoint lacks them)."""

LISTED = 3
"""How many missing or unexpected weight names a message lists before "(+N more)"."""


class CheckpointError(OSError):
    """A checkpoint file that cannot be used: empty, truncated, not rnnkit's, missing entries,
    naming code outside the allow-list, or holding weights that do not fit the model.

    An OSError: a bad file, which the command-line tools report as one line with exit code 1.
    """


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The checkpoint at ``path``, loaded with ``weights_only=True`` and checked.

    Raises:
        FileNotFoundError: no file at ``path``.
        CheckpointError: an empty, truncated or corrupt file, a pickle that names code, or
            one lacking the ``rnnkit``, ``state_dict`` or ``hyper_parameters`` entries.
    """
    path = Path(str(path))
    if not path.is_file():
        raise FileNotFoundError(2, "checkpoint not found", str(path))
    if path.stat().st_size == 0:
        raise CheckpointError(f"checkpoint {path}: the file is empty (0 bytes)")
    try:
        with warnings.catch_warnings():  # e.g. "Detected pickle protocol 4": the error says it
            warnings.simplefilter("ignore")
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - any unpickling failure is a bad file
        raise CheckpointError(f"checkpoint {path}: {unreadable(error)}") from None
    check_entries(checkpoint, path)
    return checkpoint


def unreadable(error: Exception) -> str:
    """What to say about a file ``torch.load(weights_only=True)`` failed on with ``error``."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    if isinstance(error, pickle.UnpicklingError) and "WeightsUnpickler error:" in str(error):
        # torch's message suggests weights_only=False; the useful part is the line after.
        detail = lines[next(i for i, t in enumerate(lines) if "WeightsUnpickler" in t) + 1 :]
        return (
            "not a loadable rnnkit checkpoint: truncated, corrupt, or holding pickled objects "
            "other than tensors and plain data (refused unread: "
            f"{(detail or ['?'])[0][:200]})"
        )
    return (
        "not a loadable rnnkit checkpoint: truncated or corrupt "
        f"({type(error).__name__}: {(lines or [''])[0][:200]})"
    )


def check_entries(checkpoint: Any, source: str | Path) -> None:
    """Refuse a loaded checkpoint that lacks an entry rnnkit needs to rebuild its task."""
    if not isinstance(checkpoint, dict):
        raise CheckpointError(
            f"checkpoint {source}: expected a dict of entries, got {type(checkpoint).__name__}"
        )
    if not isinstance(checkpoint.get(CHECKPOINT_KEY), dict):
        raise CheckpointError(
            f"checkpoint {source}: was not written by rnnkit-train (no '{CHECKPOINT_KEY}' entry)"
        )
    state_dict = checkpoint.get("state_dict")
    if not isinstance(state_dict, dict) or not all(
        isinstance(value, torch.Tensor) for value in state_dict.values()
    ):
        raise CheckpointError(
            f"checkpoint {source}: missing entry 'state_dict' (a dict of weight tensors)"
        )
    hyper_parameters = checkpoint.get("hyper_parameters")
    if not isinstance(hyper_parameters, dict):
        raise CheckpointError(f"checkpoint {source}: missing entry 'hyper_parameters'")
    missing = [key for key in TASK_HYPER_PARAMETERS if key not in hyper_parameters]
    if missing:
        raise CheckpointError(
            f"checkpoint {source}: missing entry 'hyper_parameters.{missing[0]}' "
            f"(a task needs {', '.join(TASK_HYPER_PARAMETERS)})"
        )


def check_resumable(checkpoint: dict[str, Any], source: str | Path) -> None:
    """Refuse to resume training from a checkpoint without Lightning's training state."""
    missing = [key for key in TRAINING_STATE if key not in checkpoint]
    if missing:
        raise CheckpointError(
            f"checkpoint {source}: cannot resume training, missing entry '{missing[0]}' "
            "(a weights-only checkpoint can be evaluated, not resumed)"
        )


def check_state_dict(
    stored: dict[str, torch.Tensor], expected: dict[str, torch.Tensor], source: str | Path
) -> None:
    """Refuse weights whose names or shapes differ from the model's (``expected``).

    Run before ``load_state_dict`` so the user reads one line naming the first differing
    weight, not torch's multi-line ``RuntimeError``.
    """
    for name, tensor in expected.items():
        if name in stored and tuple(stored[name].shape) != tuple(tensor.shape):
            raise CheckpointError(
                f"checkpoint {source}: weight '{name}' has shape {tuple(stored[name].shape)} "
                f"in the checkpoint but {tuple(tensor.shape)} in this model; was it trained "
                "with another cell, model or data setting (e.g. cell.hidden_size)?"
            )
    missing = [name for name in expected if name not in stored]
    unexpected = [name for name in stored if name not in expected]
    for names, what in ((missing, "lacks weights"), (unexpected, "has weights this model lacks")):
        if names:
            listed = ", ".join(repr(name) for name in names[:LISTED])
            more = f" (+{len(names) - LISTED} more)" if len(names) > LISTED else ""
            raise CheckpointError(
                f"checkpoint {source}: {what} {listed}{more}; was it trained with another "
                "cell, model or data setting?"
            )
