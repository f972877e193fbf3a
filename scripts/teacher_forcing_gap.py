"""How the teacher-forcing schedule changes the exposure-bias gap of the translation task.

Trains the built-in translation experiment (English -> German number words) once per schedule,
seed and budget (the same epochs for every schedule; ``--limit-train-batches`` caps the batches
per epoch, 0 = whole epochs), then tabulates the final epoch's validation losses:
teacher-forced (``val/loss``: the decoder reads the gold previous token) and free-running
(``val/loss_free_running``: it reads its own greedy token), their gap and greedy BLEU, beside
the logged ``train/teacher_forcing_ratio``. Writes docs/teacher_forcing.md.

    .venv/bin/python scripts/teacher_forcing_gap.py --epochs 4 --limit-train-batches 8 0 \
        --seeds 42 43 44 --log-dir /tmp/tf_gap

Each run is a separate ``rnnkit-train`` process (``num_threads=1``, ``test=false``).
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
# The schedules compared: the ratio is a function of the epoch (interval: epoch), so the same
# schedule means the same thing whatever the number of batches per epoch.
SCHEDULES = {
    "constant": "{kind: constant, start: 1.0, interval: epoch}",
    "linear": "{kind: linear, start: 1.0, end: 0.0, decay_steps: 3, interval: epoch}",
    "exponential": "{kind: exponential, start: 1.0, k: 0.5, interval: epoch}",
    "inverse_sigmoid": "{kind: inverse_sigmoid, k: 1.5, interval: epoch}",
}
DATE = "2026-11-22"
# What follows this line in the output is written by hand and kept when the tables are rewritten.
MARKER = "<!-- observations: written by hand, kept by scripts/teacher_forcing_gap.py -->"


def train_command(
    name: str, schedule: str, epochs: int, limit: int, seed: int, run_dir: Path
) -> list[str]:
    return [
        str(Path(sys.executable).parent / "rnnkit-train"),
        "experiment=translation",
        f"experiment_name=teacher_forcing_{name}",
        "~model.teacher_forcing",
        f"+model.teacher_forcing={schedule}",
        f"trainer.max_epochs={epochs}",
        *([f"+trainer.limit_train_batches={limit}"] if limit else []),
        f"seed={seed}",
        "trainer.enable_progress_bar=false",
        "num_threads=1",
        "test=false",
        "logger=csv",
        f"hydra.run.dir={run_dir}",
    ]


def ratios_per_epoch(run_dir: Path) -> list[float]:
    """``train/teacher_forcing_ratio`` as logged at each epoch end (CSV logger)."""
    with (run_dir / "csv" / "metrics.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [
        float(row["train/teacher_forcing_ratio"])
        for row in rows
        if row.get("train/teacher_forcing_ratio")
    ]


def run_schedule(
    name: str, schedule: str, epochs: int, limit: int, seed: int, log_dir: Path
) -> dict[str, float]:
    run_dir = log_dir / f"{name}_limit{limit}_seed{seed}"
    started = time.perf_counter()
    with (log_dir / f"{run_dir.name}.out").open("w") as output:
        subprocess.run(
            train_command(name, schedule, epochs, limit, seed, run_dir),
            cwd=ROOT,
            check=True,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    metrics = json.loads((run_dir / "metrics.json").read_text())
    teacher, free = metrics["val/loss"], metrics["val/loss_free_running"]
    return {
        "ratios": ratios_per_epoch(run_dir),
        "val_loss": teacher,
        "val_loss_free_running": free,
        "gap": free - teacher,
        "bleu": metrics["val/bleu"],
        "exact_match": metrics.get("val/exact_match", float("nan")),
        "seconds": time.perf_counter() - started,
    }


def summary(runs: list[dict], key: str, spec: str) -> str:
    """Mean over seeds (format ``spec``), with the standard deviation when there are several."""
    values = [run[key] for run in runs]
    mean = format(statistics.fmean(values), spec)
    return mean if len(values) == 1 else f"{mean} ± {statistics.stdev(values):.2g}"


def cpu_name() -> str:
    for line in (
        Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []
    ):
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def markdown(results: dict, epochs: int, seeds: list[int], command: str) -> str:
    lines = [
        "# Teacher-forcing schedules and the exposure-bias gap",
        "",
        "A decoder trained only on gold previous tokens (teacher forcing) never sees its own",
        "mistakes; at inference it reads its own predictions (exposure bias, Bengio et al. 2015).",
        "The translation task logs both validation losses each epoch: `val/loss` (teacher-forced)",
        "and `val/loss_free_running` (the decoder fed its own greedy token); their difference is",
        "the gap. Scheduled sampling lowers the teacher-forcing ratio during training",
        "(`model.teacher_forcing`, `rnnkit.patterns.teacher_forcing.TeacherForcingSchedule`;",
        "the translation task logs it as `train/teacher_forcing_ratio` once per epoch).",
        "",
        "Built-in translation experiment (English -> German number words, GRU 64, bidirectional",
        f"encoder, additive attention), {epochs} epochs per run, seeds {seeds}, one CPU thread;",
        "the final epoch's validation (1,000 sentences); mean ± standard deviation over seeds.",
        "The schedules count epochs (`interval: epoch`), so every run of a schedule sees the same",
        "ratios whatever the batches per epoch.",
        "",
        "| schedule | config |",
        "| --- | --- |",
        *(f"| {name} | `{config}` |" for name, config in SCHEDULES.items()),
    ]
    for limit, by_schedule in results.items():
        batches = "125 batches of 64 (whole epochs)" if not limit else f"{limit} batches of 64"
        steps = 125 * epochs if not limit else limit * epochs
        lines += [
            "",
            f"## {epochs} epochs of {batches}: {steps} optimizer steps",
            "",
            "| schedule | ratio per epoch | final ratio | val loss (teacher-forced) "
            "| val loss (free-running) | gap | BLEU | exact match | s per run |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for name, runs in by_schedule.items():
            ratios = ", ".join(f"{v:.2f}" for v in runs[0]["ratios"])
            lines.append(
                f"| {name} | {ratios} | {runs[0]['ratios'][-1]:.2f} | "
                f"{summary(runs, 'val_loss', '.4g')} | "
                f"{summary(runs, 'val_loss_free_running', '.4g')} | "
                f"{summary(runs, 'gap', '.3g')} | "
                f"{summary(runs, 'bleu', '.1f')} | {summary(runs, 'exact_match', '.3f')} | "
                f"{summary(runs, 'seconds', '.0f')} |"
            )
    lines += [
        "",
        f"Measured {DATE} on {cpu_name()} ({platform.machine()}), "
        f"torch {torch.__version__}, a shared 2-core machine (times are indicative). Command:",
        "",
        "```",
        command,
        "```",
        "",
        "Each run: `rnnkit-train experiment=translation ~model.teacher_forcing "
        "+model.teacher_forcing=<config> trainer.max_epochs=<epochs> "
        "+trainer.limit_train_batches=<n> seed=<seed> num_threads=1 test=false logger=csv`.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument(
        "--limit-train-batches", type=int, nargs="+", default=[8, 0], help="0: whole epochs"
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 43, 44])
    parser.add_argument("--log-dir", type=Path, default=Path("/tmp/teacher_forcing_gap"))
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "teacher_forcing.md")
    parser.add_argument("--schedules", nargs="*", default=list(SCHEDULES), choices=SCHEDULES)
    parser.add_argument(
        "--from-results",
        action="store_true",
        help="rewrite the document from <log-dir>/results.json without training",
    )
    args = parser.parse_args()
    args.log_dir.mkdir(parents=True, exist_ok=True)
    results: dict[int, dict[str, list[dict]]] = {}
    if args.from_results:
        saved = json.loads((args.log_dir / "results.json").read_text())
        results = {int(limit): runs for limit, runs in saved.items()}
    for limit in [] if args.from_results else args.limit_train_batches:
        results[limit] = {}
        for name in args.schedules:
            results[limit][name] = []
            for seed in args.seeds:
                run = run_schedule(name, SCHEDULES[name], args.epochs, limit, seed, args.log_dir)
                results[limit][name].append(run)
                print(limit, name, seed, json.dumps(run), flush=True)
    command = (
        f".venv/bin/python scripts/teacher_forcing_gap.py --epochs {args.epochs} "
        f"--limit-train-batches {' '.join(map(str, args.limit_train_batches))} "
        f"--seeds {' '.join(map(str, args.seeds))} --log-dir {args.log_dir}"
    )
    document = markdown(results, args.epochs, args.seeds, command)
    if args.output.exists() and MARKER in args.output.read_text():  # keep the hand-written part
        document += "\n" + MARKER + args.output.read_text().split(MARKER, 1)[1]
    args.output.write_text(document)
    if not args.from_results:
        (args.log_dir / "results.json").write_text(json.dumps(results, indent=2))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
