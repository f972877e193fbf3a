"""``rnnkit-predict experiment=<name>``: predict with that experiment's latest trained model.

On ``rnnkit-predict``'s command line ``experiment=<name>`` stands for ``from_experiment=<name>``
(``experiment`` is a config group of ``rnnkit-train``, which Hydra would look for in
``predict.yaml``'s defaults): without a ``ckpt_path``, the checkpoint is then ``best.ckpt`` of
the experiment's run under ``paths.log_dir`` whose ``best.ckpt`` was written last.
"""

from __future__ import annotations

from pathlib import Path

from rnnkit.cli.resume import override_key

BEST_CHECKPOINT = Path("checkpoints") / "best.ckpt"


def experiment_arguments(arguments: list[str]) -> list[str]:
    """Command-line ``arguments`` with ``experiment=<name>`` written ``from_experiment=<name>``."""
    return [
        f"from_experiment={argument.split('=', 1)[1]}"
        if "=" in argument
        and not argument.startswith(("+", "~"))
        and override_key(argument) == "experiment"
        else argument
        for argument in arguments
    ]


def experiment_checkpoint(log_dir: str | Path, experiment: str) -> str:
    """``best.ckpt`` of ``experiment``'s newest run under ``log_dir`` (FileNotFoundError with
    one line when it has none)."""
    runs = Path(log_dir) / experiment / "runs"
    found = list(runs.glob(f"*/{BEST_CHECKPOINT}"))
    if not found:
        raise FileNotFoundError(
            f"experiment={experiment}: no run under {runs} has a {BEST_CHECKPOINT.as_posix()}; "
            f"train one first (rnnkit-train experiment={experiment}) or give ckpt_path=<file>"
        )
    return str(max(found, key=lambda path: path.stat().st_mtime_ns))
