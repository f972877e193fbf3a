"""``rnnkit-train resume=<run dir>`` and ``ckpt_path=last``: go on with a run in its folder.

``resume=<run dir>`` stands for the run's own command-line overrides (its
``.hydra/overrides.yaml``), then the ones given now (``trainer.max_epochs=20`` trains longer),
``ckpt_path=<run dir>/checkpoints/last.ckpt`` and ``hydra.run.dir=<run dir>``: the same config,
continued in the same folder. ``ckpt_path=last`` with the run's overrides does the same for the
experiment's latest run (its folder is chosen by :mod:`rnnkit.cli.run_folders`).

What Lightning restores from ``last.ckpt``: weights, optimizer and scheduler states, epoch and
global step, callbacks' states (best checkpoint so far, early stopping), and the training
loader's position (:class:`~rnnkit.data.io.sharded_batches.ShardedBatchLoader`); the random
states come from :class:`~rnnkit.callbacks.RandomStateCheckpoint`. TensorBoard events,
``metrics.json`` and checkpoints go on in the run folder.
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from rnnkit.cli.run_folders import LAST_CHECKPOINT

# Overrides of the recorded run that resuming sets itself.
RESUME_KEYS = ("resume", "ckpt_path", "hydra.run.dir")


def override_key(argument: str) -> str:
    """``+trainer.max_epochs=3`` -> ``trainer.max_epochs``."""
    return argument.split("=", 1)[0].lstrip("+~")


def recorded_overrides(run_dir: Path) -> list[str]:
    """The command-line overrides ``run_dir``'s run was started with."""
    if not run_dir.is_dir():
        raise FileNotFoundError(f"resume={run_dir}: no such run folder")
    overrides = run_dir / ".hydra" / "overrides.yaml"
    if not overrides.is_file():
        raise FileNotFoundError(
            f"resume={run_dir}: not a run folder of rnnkit-train (no .hydra/overrides.yaml)"
        )
    if not (run_dir / LAST_CHECKPOINT).is_file():
        raise FileNotFoundError(
            f"resume={run_dir}: no {LAST_CHECKPOINT} to resume from (the run stopped before "
            f"its first epoch ended)"
        )
    recorded = OmegaConf.load(overrides)
    if not OmegaConf.is_list(recorded) or not all(isinstance(o, str) for o in recorded):
        raise ValueError(f"resume={run_dir}: {overrides} is not a list of overrides")
    return [str(override) for override in recorded]


def resume_arguments(arguments: list[str]) -> list[str]:
    """Command-line ``arguments`` with ``resume=<run dir>`` expanded (module docstring)."""
    resumes = [i for i, argument in enumerate(arguments) if override_key(argument) == "resume"]
    if not resumes:
        return arguments
    if len(resumes) > 1:
        raise ValueError("resume: given more than once")
    position = resumes[0]
    run_dir = Path(arguments[position].split("=", 1)[1])
    given = [argument for argument in arguments if argument.startswith("-") or "=" in argument]
    given_keys = {override_key(argument) for argument in given}
    if given_keys & {"ckpt_path", "hydra.run.dir"}:
        raise ValueError("resume: continues the run's last.ckpt in its folder; drop ckpt_path")
    kept = [
        override
        for override in recorded_overrides(run_dir)
        if override_key(override) not in given_keys and override_key(override) not in RESUME_KEYS
    ]
    expanded = [
        *kept,
        f"ckpt_path={(run_dir / LAST_CHECKPOINT).as_posix()}",
        f"hydra.run.dir={run_dir.as_posix()}",
    ]
    return [*arguments[:position], *expanded, *arguments[position + 1 :]]


def checkpoint_to_resume(cfg: DictConfig) -> str | None:
    """``cfg.ckpt_path``, with ``last`` read as this run folder's ``checkpoints/last.ckpt``."""
    ckpt_path = cfg.get("ckpt_path")
    if ckpt_path == "last":
        return str(Path(cfg.paths.output_dir) / LAST_CHECKPOINT)
    return ckpt_path
