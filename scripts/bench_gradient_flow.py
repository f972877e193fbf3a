"""Epoch time with and without the gradient-flow diagnostics (``callbacks=gradient_flow``).

Trains the reference experiment (default ``experiment=sentiment``, one CPU thread, TensorBoard
logger, so the figures are drawn and written as in a real run) with the default callbacks and
with ``callbacks=gradient_flow`` (``GradientFlowCallback`` at its default interval plus
``GradientNormCallback``), alternating the two ``--repeats`` times (off, on, off, on, ...) so
a busy machine slows both alike. An epoch's time is from ``on_train_epoch_start`` to
``on_train_epoch_end`` (training and validation); each run's time per epoch is the median of
its epochs, and the overhead is the median over repeats of on/off - 1; the same for the whole
fit (``fit_overhead``: it includes the figures drawn once when training ends).

    .venv/bin/python scripts/bench_gradient_flow.py --repeats 4 trainer.max_epochs=2
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pytorch_lightning as pl
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from rnnkit.cli.compose import compose_run  # noqa: E402
from rnnkit.cli.train import build_group, build_trainer, prepare  # noqa: E402


class EpochTimer(pl.Callback):
    """Wall time of every training epoch (its validation included)."""

    def __init__(self) -> None:
        self.seconds: list[float] = []

    def on_train_epoch_start(self, trainer, pl_module) -> None:  # noqa: ANN001
        self._started = time.perf_counter()

    def on_train_epoch_end(self, trainer, pl_module) -> None:  # noqa: ANN001
        self.seconds.append(time.perf_counter() - self._started)


def seconds_per_epoch(overrides: list[str]) -> tuple[float, float]:
    """``(median seconds per epoch, seconds of the whole fit)`` of one run."""
    with tempfile.TemporaryDirectory() as folder:
        cfg = compose_run(
            [*overrides, "test=false", "trainer.enable_progress_bar=false", "num_threads=1"],
            folder,
        )
        torch.set_num_threads(1)
        datamodule, task = prepare(cfg)
        timer = EpochTimer()
        callbacks = [*build_group(cfg.get("callbacks"), "callbacks"), timer]
        trainer = build_trainer(cfg, callbacks, build_group(cfg.get("logger"), "logger"))
        started = time.perf_counter()
        trainer.fit(task, datamodule=datamodule)
        return statistics.median(timer.seconds), time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--experiment", default="sentiment")
    parser.add_argument("overrides", nargs="*", help="extra overrides for both variants")
    args = parser.parse_args()
    base = [f"experiment={args.experiment}", *args.overrides]
    runs: dict[str, list[float]] = {"off": [], "on": []}
    fits: dict[str, list[float]] = {"off": [], "on": []}
    for repeat in range(args.repeats):
        for name, extra in (("off", []), ("on", ["callbacks=gradient_flow"])):
            epoch, fit = seconds_per_epoch([*base, *extra])
            runs[name].append(epoch)
            fits[name].append(fit)
            print(f"repeat {repeat + 1}: {name} {epoch:.2f} s/epoch, fit {fit:.1f} s", flush=True)
    ratios = [on / off for on, off in zip(runs["on"], runs["off"])]
    fit_ratios = [on / off for on, off in zip(fits["on"], fits["off"])]
    result = {
        "overrides": base,
        "off_s_per_epoch": statistics.median(runs["off"]),
        "on_s_per_epoch": statistics.median(runs["on"]),
        "epoch_overhead": statistics.median(ratios) - 1,
        "fit_overhead": statistics.median(fit_ratios) - 1,
        "runs": runs,
        "fits": fits,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
