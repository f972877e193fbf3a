"""Benchmark the data path: start-up time, peak memory and throughput at growing input sizes.

For five tasks, each at input scales 1x, 10x, 100x (1000x is allowed for the char LM and
forecasting), one ``rnnkit-train`` run in a fresh process measures:

* prep to first step: seconds from just before the process is started to the start of its
  first training step (interpreter and imports, reading and preparing the data, building the
  model and the Trainer);
* peak RSS: the run's resident-memory high-water mark (``ru_maxrss`` of the child, from
  ``os.wait4``), in MB (MiB);
* train batches/s: training throughput over batches 2..50 (``--batches``).

| task | experiment | files (under the data root) |
| --- | --- | --- |
| sentiment | ``sst2_bilstm`` | ``sst2/{train,dev,test_labeled}.tsv`` |
| char_lm | ``shakespeare_char_lstm`` | ``tinyshakespeare/input.txt`` (cut 90/10) |
| forecasting | ``etth1_lstm_h24`` | ``ett/ETTh1.csv`` |
| tagging | ``conll2003_bilstm_crf`` | ``conll2003/eng.{train,testa,testb}`` |
| translation | ``multi30k_gru_attention`` | ``multi30k/{train,val,test_2016_flickr}.{de,en}`` |

The inputs at scale N are the shared datasets (``--source``, default ``$RNNKIT_DATA_ROOT`` or
``../shared/data``) in their own formats, each file's content repeated N times, written once
per scale under ``<work-dir>/data/x<N>/`` and reused: CSV/TSV headers are kept once; CoNLL
copies stay separated by a blank line (documents and sentences stay valid); the parallel
``.de``/``.en`` files repeat alike, so they stay aligned; ETTh1's dates continue hour by hour
after each copy, so they stay increasing and unique. ETT's standard split is fixed rows
(12/4/4 months: ``[0, 8640)`` / ``[8640, 11520)`` / ``[11520, 14400)``), so at scale N the
run uses ``data.split=rows`` with those borders times N: the train part grows with the file.

Each run is ``python -m rnnkit.cli.train experiment=<X> paths.data_root=<scaled root>
trainer.max_epochs=1 trainer.limit_train_batches=50 trainer.limit_val_batches=0 test=false
num_threads=1`` with no logger, no checkpointing, no model summary and no progress bar, its
Hydra folder under the work dir, ``OMP_NUM_THREADS=1``, and the callback
``bench_data_timer.FirstStepTimer`` (next to this script) writing the times. The import time,
from process start to the end of ``python -c "import rnnkit.cli.train, pytorch_lightning,
hydra"`` (median of 3), is measured once and printed with the table: prep to first step less
the import time is roughly what the data, the model and the Trainer cost.

``--repeat 2`` (or ``--second-run``) runs each configuration twice in a row: the first run
is cold (``$RNNKIT_PREPARED_DIR``, a folder under the work dir for a prepared-data cache, is
deleted before it), the second may reuse what the first left there.

    PYTHONPATH=src .venv/bin/python scripts/bench_data.py --scales 1 10 --second-run
    PYTHONPATH=src .venv/bin/python scripts/bench_data.py --tasks char_lm forecasting \\
        --scales 1 10 100 1000 --work-dir /tmp/bench-data --out /tmp/bench-data.json

``--out`` also keeps, per run, the times of the callback (data prepared and model built,
fit start, first step, first and last batch end), the RSS and the CPU seconds at the first
step, and the run's total CPU seconds and wall time. A run that fails (non-zero exit, or no
first step) is reported as failed with the end of its stderr. Runs go one after another; on a
busy machine the wall-clock times grow (the CPU seconds to the first step much less), so
compare numbers from one sitting and look at the load averages printed with the table.
Mind the memory: before the data path is streamed, 100x can need several GB per run.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import importlib.metadata
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

SCRIPTS = Path(__file__).resolve().parent
ROOT = SCRIPTS.parent
MIB = 2**20
IMPORT_CHECK = "import rnnkit.cli.train, pytorch_lightning, hydra"
ETTH1_STANDARD_ROWS = ((0, 8640), (8640, 11520), (11520, 14400))
"""The standard ETTh1 split (``rnnkit.data.forecasting.ett.standard_rows("ETTh1")``), kept
here so the parent process need not import torch."""


# ---- synthetic inputs -------------------------------------------------------------------


def split_header(text: bytes, header_lines: int) -> tuple[bytes, bytes]:
    """``(header, body)``: the first ``header_lines`` lines of ``text``, and the rest."""
    header_end = 0
    for _ in range(header_lines):
        header_end = text.index(b"\n", header_end) + 1
    return text[:header_end], text[header_end:]


def write_repeated(
    source: Path, target: Path, copies: int, header_lines: int = 0, separator: bytes = b"\n"
) -> None:
    """Write ``source``'s header lines once, then its body ``copies`` times.

    Each copy of the body ends in ``separator`` (a newline; a blank line for CoNLL, so the
    last sentence of one copy and the first document of the next stay apart). A body that
    already ends so is copied byte for byte, so at one copy the file is the original.
    """
    header, body = split_header(source.read_bytes(), header_lines)
    if not body.endswith(separator):
        body = body.rstrip(b"\n") + separator
    with target.open("wb") as out:
        out.write(header)
        for _ in range(copies):
            out.write(body)


def write_ett_repeated(source: Path, target: Path, copies: int) -> None:
    """Write an ETT CSV ``copies`` times over, its header once, the dates of copy ``k``
    shifted by ``k`` times the file's span (plus one step), so they stay strictly increasing
    and unique and the series reads as one longer recording at the same rate."""
    header, body = split_header(source.read_bytes(), 1)
    rows = body.decode().splitlines()
    date_text, rest = zip(*(row.split(",", 1) for row in rows))
    dates = np.array(date_text, dtype="datetime64[s]")
    steps = np.diff(dates)
    if len(dates) < 2 or (steps <= np.timedelta64(0, "s")).any():
        raise ValueError(f"{source}: expected at least two rows with increasing dates")
    span = dates[-1] - dates[0] + steps[-1]
    with target.open("wb") as out:
        out.write(header)
        for copy in range(copies):
            shifted = np.datetime_as_string(dates + copy * span, unit="s")
            text = "\n".join(
                f"{date[:10]} {date[11:]},{values}" for date, values in zip(shifted, rest)
            )
            out.write(text.encode() + b"\n")


def no_overrides(scale: int) -> list[str]:
    """No task-specific overrides, at any scale."""
    return []


@dataclass(frozen=True)
class Task:
    """One benchmarked task: its experiment, its dataset folder and how to scale its files."""

    name: str
    experiment: str
    dataset: str
    # file name -> writer(source, target, copies)
    files: dict[str, Callable[[Path, Path, int], None]]
    max_scale: int = 100
    # scale -> extra overrides of the run
    overrides: Callable[[int], list[str]] = no_overrides


def repeated(header_lines: int = 0, separator: bytes = b"\n") -> Callable[[Path, Path, int], None]:
    """A file writer repeating the body, see :func:`write_repeated`."""

    def write(source: Path, target: Path, copies: int) -> None:
        write_repeated(source, target, copies, header_lines, separator)

    return write


def ett_split_overrides(scale: int) -> list[str]:
    """The standard ETTh1 split's row borders times ``scale`` (train grows with the file)."""
    borders = ",".join(f"[{start * scale},{end * scale}]" for start, end in ETTH1_STANDARD_ROWS)
    return ["data.split=rows", f"data.split_rows=[{borders}]"]


TASKS = {
    task.name: task
    for task in (
        Task(
            "sentiment",
            "sst2_bilstm",
            "sst2",
            {
                name: repeated(header_lines=1)
                for name in ("train.tsv", "dev.tsv", "test_labeled.tsv")
            },
        ),
        Task(
            "char_lm",
            "shakespeare_char_lstm",
            "tinyshakespeare",
            {"input.txt": repeated()},
            max_scale=1000,
        ),
        Task(
            "forecasting",
            "etth1_lstm_h24",
            "ett",
            {"ETTh1.csv": write_ett_repeated},
            max_scale=1000,
            overrides=ett_split_overrides,
        ),
        Task(
            "tagging",
            "conll2003_bilstm_crf",
            "conll2003",
            {name: repeated(separator=b"\n\n") for name in ("eng.train", "eng.testa", "eng.testb")},
        ),
        Task(
            "translation",
            "multi30k_gru_attention",
            "multi30k",
            {
                f"{prefix}.{language}": repeated()
                for prefix in ("train", "val", "test_2016_flickr")
                for language in ("de", "en")
            },
        ),
    )
}


def scaled_dataset(task: Task, source_root: Path, data_root: Path, scale: int) -> float:
    """Write ``task``'s files at ``scale`` under ``data_root/<dataset>`` unless an earlier
    call did (a marker records the scale and the source sizes); return their size in MB."""
    source = source_root / task.dataset
    target = data_root / task.dataset
    marker = target / ".bench_data.json"
    expected = {
        "scale": scale,
        "sources": {name: (source / name).stat().st_size for name in task.files},
    }
    if marker.is_file() and json.loads(marker.read_text()) == expected:
        return sum((target / name).stat().st_size for name in task.files) / MIB
    needed = scale * sum(expected["sources"].values())
    data_root.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(data_root).free
    if needed > 0.9 * free:
        raise SystemExit(
            f"{task.dataset} at {scale}x needs {needed / MIB:,.0f} MB, but only "
            f"{free / MIB:,.0f} MB are free under {data_root}"
        )
    building = data_root / f".{task.dataset}.building"
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir()
    started = time.perf_counter()
    for name, write in task.files.items():
        write(source / name, building / name, scale)
    (building / marker.name).write_text(json.dumps(expected))
    shutil.rmtree(target, ignore_errors=True)
    building.rename(target)
    size = sum((target / name).stat().st_size for name in task.files) / MIB
    progress(
        f"wrote {task.dataset} x{scale}: {size:,.1f} MB in {time.perf_counter() - started:.1f}s"
    )
    return size


# ---- measured runs ----------------------------------------------------------------------


def progress(message: str) -> None:
    print(f"[bench_data] {message}", file=sys.stderr, flush=True)


def child_env(data_root: Path, work_dir: Path) -> dict[str, str]:
    """The runs' environment: one thread, the scaled data root, the prepared-data cache and
    the logs under the work dir, and this checkout's ``src/`` and ``scripts/`` importable."""
    paths = [str(ROOT / "src"), str(SCRIPTS)]
    if os.environ.get("PYTHONPATH"):
        paths.append(os.environ["PYTHONPATH"])
    return dict(
        os.environ,
        OMP_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
        RNNKIT_DATA_ROOT=str(data_root),
        RNNKIT_PREPARED_DIR=str(work_dir / "prepared"),
        RNNKIT_LOG_DIR=str(work_dir / "logs"),
        PYTHONPATH=os.pathsep.join(paths),
    )


def train_command(task: Task, scale: int, data_root: Path, run_dir: Path, batches: int) -> list:
    """The ``rnnkit-train`` command line of one measured run."""
    timer = run_dir / "timer.json"
    return [
        sys.executable,
        "-m",
        "rnnkit.cli.train",
        f"experiment={task.experiment}",
        f"paths.data_root={data_root}",
        "trainer.max_epochs=1",
        f"trainer.limit_train_batches={batches}",
        "trainer.limit_val_batches=0",
        "test=false",
        "num_threads=1",
        # Nothing unrelated to the data path: no logger, checkpoints, summary or progress bar.
        "~logger",
        "callbacks=none",
        "+trainer.enable_checkpointing=false",
        "+trainer.enable_model_summary=false",
        "trainer.enable_progress_bar=false",
        f"hydra.run.dir={run_dir / 'hydra'}",
        "+callbacks.bench_timer._target_=bench_data_timer.FirstStepTimer",
        f"+callbacks.bench_timer.path={timer}",
        f"+callbacks.bench_timer.last_batch={batches}",
        *task.overrides(scale),
    ]


def tail(path: Path, lines: int = 15) -> str:
    """The last ``lines`` lines of a text file."""
    text = path.read_text(errors="replace") if path.is_file() else ""
    return "\n".join(text.splitlines()[-lines:])


def measure_run(
    task: Task, scale: int, data_root: Path, work_dir: Path, run: int, args: argparse.Namespace
) -> dict[str, Any]:
    """One training run in a fresh process: its times (seconds from the process start),
    peak RSS and throughput, or ``ok: False`` with the end of its stderr."""
    run_dir = work_dir / "runs" / f"{task.name}_x{scale}_run{run}"
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    command = train_command(task, scale, data_root, run_dir, args.batches)
    (run_dir / "command.txt").write_text(shlex.join(command) + "\n")
    stdout_path, stderr_path = run_dir / "stdout.txt", run_dir / "stderr.txt"
    with stdout_path.open("wb") as stdout, stderr_path.open("wb") as stderr:
        started = time.time()
        process = subprocess.Popen(
            command, env=child_env(data_root, work_dir), cwd=work_dir, stdout=stdout, stderr=stderr
        )
        killer = threading.Timer(args.timeout, process.kill)
        killer.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)
        finally:
            killer.cancel()
        ended = time.time()
    process.returncode = os.waitstatus_to_exitcode(status)
    result: dict[str, Any] = {
        "run": run,
        "returncode": process.returncode,
        "wall_s": ended - started,
        "peak_rss_mb": usage.ru_maxrss * 1024 / MIB,  # Linux: KiB
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "dir": str(run_dir),
    }
    timer_path = run_dir / "timer.json"
    times = json.loads(timer_path.read_text()) if timer_path.is_file() else {}
    for key in ("constructed", "fit_start", "first_step", "first_step_end", "last_batch_end"):
        if key in times:
            result[f"{key}_s"] = times[key] - started
    if "maxrss_kib_at_first_step" in times:
        result["rss_at_first_step_mb"] = times["maxrss_kib_at_first_step"] * 1024 / MIB
        result["cpu_s_to_first_step"] = times["cpu_s_at_first_step"]
    result["batches"] = times.get("batches", 0)
    if "first_step_s" in result:
        result["prep_to_first_step_s"] = result["first_step_s"]
    if result["batches"] > 1 and "last_batch_end" in times:
        window = times["last_batch_end"] - times["first_step_end"]
        result["train_batches_per_s"] = (result["batches"] - 1) / window
    problem = None
    if process.returncode != 0:
        killed = process.returncode < 0 and ended - started >= args.timeout
        problem = (
            f"timed out after {args.timeout}s" if killed else f"exit code {process.returncode}"
        )
    elif "first_step" not in times:
        problem = "no training step reached (no timer output)"
    result["ok"] = problem is None
    if problem:
        result["error"] = problem
        result["stderr_tail"] = tail(stderr_path)
    return result


def measure_imports(env: dict[str, str], cwd: Path, samples: int = 3) -> list[float]:
    """Seconds from starting ``python -c "<IMPORT_CHECK>"`` to the end of its imports, in
    ``samples`` fresh processes (the child prints ``time.time()`` after importing, so its exit
    is not counted, as a training run's first step counts from the same start)."""
    times = []
    for _ in range(samples):
        started = time.time()
        done = subprocess.run(
            [sys.executable, "-c", f"{IMPORT_CHECK}; import time; print(time.time())"],
            env=env,
            cwd=cwd,
            check=True,
            capture_output=True,
            text=True,
        )
        times.append(float(done.stdout.split()[-1]) - started)
    return times


# ---- report -----------------------------------------------------------------------------


def cell(run: dict[str, Any] | None, key: str, digits: int) -> str:
    """A table cell: the run's ``key``, "failed" or "—" without a run."""
    if run is None:
        return "—"
    if not run["ok"]:
        return f"failed ({run['error']})"
    value = run.get(key)
    return "—" if value is None else f"{value:,.{digits}f}"


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """The results as a markdown table, one line per task and scale."""
    lines = [
        "| task | scale | input MB | first run: prep to first step s | first run peak RSS MB "
        "| second run: prep to first step s | second run peak RSS MB | train batches/s |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        runs = row["runs"]
        first = runs[0] if runs else None
        second = runs[1] if len(runs) > 1 else None
        lines.append(
            f"| {row['task']} | {row['scale']}x | {row['input_mb']:,.1f} "
            f"| {cell(first, 'prep_to_first_step_s', 1)} | {cell(first, 'peak_rss_mb', 0)} "
            f"| {cell(second, 'prep_to_first_step_s', 1)} | {cell(second, 'peak_rss_mb', 0)} "
            f"| {cell(first, 'train_batches_per_s', 1)} |"
        )
    return "\n".join(lines)


def machine() -> str:
    """The machine and versions, in one line."""
    versions = []
    for package in ("torch", "pytorch-lightning", "hydra-core"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions.append(f"{package} {importlib.metadata.version(package)}")
    return (
        f"{platform.platform()}, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, " + ", ".join(versions)
    )


def report(state: dict[str, Any]) -> str:
    """The markdown report: the table, then imports, machine, date, command and failures."""
    imports = state["import_s"]
    lines = [
        markdown_table(state["results"]),
        "",
        f'Import time (process start to the end of `python -c "{IMPORT_CHECK}"`, '
        f"median of {len(imports)}): {statistics.median(imports):.2f} s",
        f"Machine: {state['machine']}; load average before {state['load_before']}, "
        f"after {state.get('load_after', '—')}",
        f"Date: {state['date']}",
        f"Command: `{state['command']}`",
        f"Runs: {state['batches']} training batches, one thread; MB = 2^20 bytes; "
        "batches/s of the first run over batches 2..last.",
    ]
    for row in state["results"]:
        for run in row["runs"]:
            if not run["ok"]:
                lines += [
                    "",
                    f"{row['task']} {row['scale']}x run {run['run']} failed: {run['error']} "
                    f"(logs: {run['dir']})",
                    "```",
                    run["stderr_tail"],
                    "```",
                ]
    return "\n".join(lines)


# ---- main -------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--tasks", nargs="+", choices=list(TASKS), default=list(TASKS), help="default: all five"
    )
    parser.add_argument(
        "--scales",
        nargs="+",
        type=int,
        default=[1, 10, 100],
        help="input scales (default 1 10 100; 1000 only runs the char LM and forecasting)",
    )
    parser.add_argument(
        "--work-dir",
        type=Path,
        default=None,
        help="scaled data, runs and the prepared-data cache; kept and reused (default: a "
        "temporary folder, deleted at the end)",
    )
    parser.add_argument(
        "--source",
        type=Path,
        default=Path(os.environ.get("RNNKIT_DATA_ROOT") or ROOT.parent / "shared" / "data"),
        help="the real datasets (default: $RNNKIT_DATA_ROOT or ../shared/data)",
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs per configuration, the first cold (default 1)"
    )
    parser.add_argument(
        "--second-run", action="store_true", help="run each configuration twice (--repeat 2)"
    )
    parser.add_argument("--batches", type=int, default=50, help="training batches per run")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per run")
    parser.add_argument("--out", type=Path, default=None, help="also write the results as JSON")
    args = parser.parse_args(argv)
    if args.second_run:
        args.repeat = max(args.repeat, 2)
    if args.repeat < 1 or args.batches < 2 or min(args.scales) < 1:
        parser.error("--repeat and --scales must be >= 1, --batches >= 2")
    return args


def check_work_dir(work_dir: Path, source: Path) -> None:
    """Refuse a work dir inside the repository or the source data (both stay untouched)."""
    for protected in (ROOT, source.resolve()):
        if work_dir == protected or protected in work_dir.parents:
            raise SystemExit(f"--work-dir: {work_dir} is inside {protected}; choose another")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    temporary = args.work_dir is None
    work_dir = Path(tempfile.mkdtemp(prefix="rnnkit-bench-data-")) if temporary else args.work_dir
    work_dir = work_dir.resolve()
    check_work_dir(work_dir, args.source)
    work_dir.mkdir(parents=True, exist_ok=True)
    state: dict[str, Any] = {
        "command": shlex.join(["python", *(sys.argv if argv is None else [__file__, *argv])]),
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": machine(),
        "load_before": " ".join(f"{load:.2f}" for load in os.getloadavg()),
        "batches": args.batches,
        "work_dir": str(work_dir),
        "results": [],
    }
    try:
        progress(f"work dir {work_dir}; measuring the import time")
        state["import_s"] = measure_imports(child_env(work_dir / "data", work_dir), work_dir)
        for scale in sorted(set(args.scales)):
            data_root = work_dir / "data" / f"x{scale}"
            for name in args.tasks:
                task = TASKS[name]
                if scale > task.max_scale:
                    progress(f"skipping {name} at {scale}x (at most {task.max_scale}x)")
                    continue
                row = {
                    "task": name,
                    "experiment": task.experiment,
                    "scale": scale,
                    "input_mb": scaled_dataset(task, args.source, data_root, scale),
                    "runs": [],
                }
                state["results"].append(row)
                shutil.rmtree(work_dir / "prepared", ignore_errors=True)  # the first run is cold
                for run in range(1, args.repeat + 1):
                    progress(f"{name} {scale}x run {run} ...")
                    result = measure_run(task, scale, data_root, work_dir, run, args)
                    row["runs"].append(result)
                    progress(
                        f"{name} {scale}x run {run}: "
                        + (
                            f"first step at {result['prep_to_first_step_s']:.1f}s "
                            f"({result['cpu_s_to_first_step']:.1f} CPU s), peak RSS "
                            f"{result['peak_rss_mb']:,.0f} MB, "
                            f"{result.get('train_batches_per_s', 0):.1f} batches/s"
                            if result["ok"]
                            else f"FAILED ({result['error']}):\n{result['stderr_tail']}"
                        )
                    )
                    if args.out:
                        args.out.write_text(json.dumps(state, indent=2))
        state["load_after"] = " ".join(f"{load:.2f}" for load in os.getloadavg())
        if args.out:
            args.out.write_text(json.dumps(state, indent=2))
        print(report(state))
    finally:
        if temporary:
            shutil.rmtree(work_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
