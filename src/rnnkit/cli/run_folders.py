"""Run folders: a new one per run, never shared, and the one ``ckpt_path=last`` continues.

``src/rnnkit/configs/hydra/default.yaml`` names a run's folder with the ``rnnkit_run_dir`` resolver:
``<log_dir>/<experiment_name>/runs/<timestamp>``, created exclusively here (``mkdir`` fails if
it exists), so two runs started in the same second get ``<timestamp>`` and ``<timestamp>_2``
instead of sharing one (which let the second overwrite the first's ``metrics.json``). With
``ckpt_path=last`` it is instead the experiment's run whose ``checkpoints/last.ckpt`` is
newest: the run goes on in its own folder.
"""

from __future__ import annotations

import itertools
from datetime import datetime
from pathlib import Path

from omegaconf import OmegaConf

RESOLVER = "rnnkit_run_dir"
LAST_CHECKPOINT = Path("checkpoints") / "last.ckpt"


def new_run_dir(parent: str | Path) -> Path:
    """A folder under ``parent`` named by the current second, that no other run has."""
    parent = Path(parent)
    parent.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    for attempt in itertools.count(1):
        candidate = parent / (stamp if attempt == 1 else f"{stamp}_{attempt}")
        try:
            candidate.mkdir()
        except FileExistsError:
            continue
        return candidate
    raise AssertionError("unreachable")


def latest_run_dir(
    parent: str | Path, checkpoint: Path = LAST_CHECKPOINT, wanted_by: str = "ckpt_path=last"
) -> Path:
    """The run folder under ``parent`` whose ``checkpoint`` (default ``checkpoints/last.ckpt``)
    was written last; ``wanted_by`` names the setting that asked, in the error."""
    candidates = [path.parents[1] for path in Path(parent).glob(f"*/{checkpoint}")]
    if not candidates:
        raise FileNotFoundError(f"{wanted_by}: no run under {parent} has a {checkpoint}")
    return max(candidates, key=lambda run: (run / checkpoint).stat().st_mtime_ns)


def run_dir(parent: str, ckpt_path: str | None = None) -> str:
    """The run's folder: ``parent``'s latest run for ``ckpt_path=last``, else a new one."""
    if ckpt_path == "last":
        return str(latest_run_dir(parent))
    return str(new_run_dir(parent))


def register_run_dir_resolver() -> None:
    """Make ``${rnnkit_run_dir:<parent>,<ckpt_path>}`` available to the configs (cached per
    config, so the run's config names one folder however often it is read)."""
    if not OmegaConf.has_resolver(RESOLVER):
        OmegaConf.register_new_resolver(RESOLVER, run_dir, use_cache=True)
