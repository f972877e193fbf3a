"""Train every built-in task and its order-blind baseline; print a markdown table.

    python scripts/bench_builtin_tasks.py [--only sentiment,tagging] [--log-dir /tmp/rnnkit_bench]

Each row runs ``rnnkit-train experiment=<task> [baseline overrides]`` in a fresh process, as a
user would, and reads the run's ``metrics.json``; the wall time is the whole command (start-up,
data generation, training, testing). Runs one after another, so timings are comparable only
on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

# task -> (metric shown, baseline description, baseline overrides)
TASKS = {
    "sentiment": (
        "test/acc",
        "bag of words: no recurrence, mean pooling",
        ["cell=feedforward", "model.pooling=mean"],
    ),
    "tagging": ("test/entity_f1", "word identity: no recurrence", ["cell=feedforward"]),
    "translation": (
        "test/exact_match",
        "order-blind encoder: no recurrence",
        ["cell=feedforward", "cell.bidirectional=false", "+model.decoder._target_=rnnkit.GRU"],
    ),
    "captioning": ("test/bleu4", "best constant caption (logged by the task)", None),
    "forecasting": ("test/mae_original", "window mean (logged by the task)", None),
    "language_model": ("test/bpc", "unigram (logged by the task)", None),
}
# Baselines the task logs itself, next to the model's metric, in the same run.
LOGGED_BASELINES = {
    "captioning": "test/baseline_bleu4",
    "forecasting": "test/baseline_mae_original",
    "language_model": "test/unigram_bpc",
}


def run(experiment: str, overrides: list[str], log_dir: Path) -> tuple[dict, float]:
    env = dict(os.environ, RNNKIT_LOG_DIR=str(log_dir))
    command = [
        sys.executable,
        "-m",
        "rnnkit.cli.train",
        f"experiment={experiment}",
        "trainer.enable_progress_bar=false",
        *overrides,
    ]
    started = time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stderr[-3000:]}")
    runs = sorted((log_dir / experiment / "runs").iterdir(), key=lambda p: p.stat().st_mtime)
    return json.loads((runs[-1] / "metrics.json").read_text()), elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="comma-separated task names")
    parser.add_argument("--log-dir", default="/tmp/rnnkit_bench", type=Path)
    args = parser.parse_args()
    tasks = [t for t in TASKS if not args.only or t in args.only.split(",")]
    rows = []
    for task in tasks:
        metric, baseline_name, baseline_overrides = TASKS[task]
        metrics, seconds = run(task, [], args.log_dir)
        if baseline_overrides is None:
            baseline = metrics.get(LOGGED_BASELINES[task], float("nan"))
        else:
            baseline = run(task, baseline_overrides, args.log_dir)[0].get(metric, float("nan"))
        rows.append(
            f"| `{task}` | {seconds:.0f} s | {metric} = {metrics.get(metric, float('nan')):.4f}"
            f" | {baseline_name}: {baseline:.4f} |"
        )
        print(rows[-1], flush=True)
    print(
        f"\nMachine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
        f"date {datetime.date.today()}; command: python scripts/bench_builtin_tasks.py\n"
    )
    print("| experiment | wall time | final metric (test) | order-blind baseline (test) |")
    print("| --- | --- | --- | --- |")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
