"""What a command prints last: where its checkpoints are and what they scored.

``rnnkit-train`` ends with the best value of the monitored metric, the test metrics of the best
checkpoint, the last validation metrics, and the best and last checkpoint paths;
``rnnkit-eval`` with the checkpoint it read and its test metrics. Values are printed to four
significant digits (:func:`rnnkit.metrics.display.format_metric`): a large MAPE is not a wall
of digits and a small loss is not ``0.0000``.
"""

from __future__ import annotations

from typing import Any

from rnnkit.metrics.display import format_metric

__all__ = ["eval_summary", "final_metrics", "train_summary"]


def final_metrics(metrics: dict[str, float]) -> dict[str, float]:
    """The ``val/`` and ``test/`` entries of ``metrics``, by name."""
    return {k: v for k, v in sorted(metrics.items()) if k.startswith(("test/", "val/"))}


def _metric_lines(
    metrics: dict[str, float], split: str, heading: str, width: int = 100
) -> list[str]:
    """``heading`` then the ``split/`` metrics as ``name value`` pairs, packed into lines of at
    most ``width`` characters."""
    pairs = [
        f"{name.split('/', 1)[1]} {format_metric(value)}"
        for name, value in metrics.items()
        if name.startswith(f"{split}/")
    ]
    if not pairs:
        return []
    lines = [f"{heading} ({split}/):"]
    for pair in pairs:
        if len(lines) > 1 and len(lines[-1]) + 3 + len(pair) <= width:
            lines[-1] += "   " + pair
        else:
            lines.append("  " + pair)
    return lines


def train_summary(metrics: dict[str, float], elapsed: float, trainer: Any) -> str:
    """The end of ``rnnkit-train``, from its final ``metrics`` and the fitted ``trainer``."""
    lines = [
        f"finished in {elapsed:.1f} s ({trainer.current_epoch} epochs, {trainer.global_step} steps)"
    ]
    checkpoint = trainer.checkpoint_callback
    best = getattr(checkpoint, "best_model_path", "") if checkpoint else ""
    score = getattr(checkpoint, "best_model_score", None) if checkpoint else None
    if score is not None and checkpoint.monitor:
        lines.append(f"best {checkpoint.monitor} = {format_metric(float(score))}")
    tested = "test metrics of the best checkpoint" if best else "test metrics"
    lines += _metric_lines(metrics, "test", tested)
    lines += _metric_lines(metrics, "val", "validation metrics of the last epoch")
    lines.append(f"best checkpoint: {best or 'none (no validation metric to choose by)'}")
    last = [
        path for c in trainer.checkpoint_callbacks if (path := getattr(c, "last_model_path", ""))
    ]
    lines.append(f"last checkpoint: {last[-1] if last else 'none'}")
    return "\n".join(lines)


def eval_summary(checkpoint: str, metrics: dict[str, float]) -> str:
    """The end of ``rnnkit-eval``: the checkpoint it read and its metrics."""
    lines = [f"checkpoint: {checkpoint}"]
    lines += _metric_lines(metrics, "test", "test metrics") or ["no test metrics logged"]
    return "\n".join(lines)
