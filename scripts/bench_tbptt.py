"""Peak memory and time per token of truncated vs full BPTT over long sequences.

A character-level LSTM language model (rnnkit.patterns.LanguageModel: 96 symbols, embedding
32, rnnkit.LSTM hidden 128, batch 8) trains on one batch of random symbols of length L:

* ``tbptt``: chunks of k = 100 steps, the state carried detached (rnnkit.tasks.tbptt's
  ``chunk_slices`` and ``detach_state``), backward + clip + Adam step per chunk, as
  ``LanguageModelingTask`` does with ``model.tbptt_steps=100`` (without Lightning's overhead);
* ``full``: one forward over all L steps, one backward, clip, step.

Each configuration runs in a fresh subprocess (one torch thread); its peak memory is the
process's RSS high-water mark (``resource.getrusage(RUSAGE_SELF).ru_maxrss``, which sees
torch's allocations, unlike tracemalloc), reported beside the RSS before training (imports,
model, data) so the growth is visible. Time per token: the mean of ``--passes`` timed passes
over the sequence after one untimed pass. Writes docs/_tbptt_table.md.

    .venv/bin/python scripts/bench_tbptt.py     # L = 1k, 10k, 100k for both, k = 100

Full BPTT at a length is skipped when the growth predicted from the shorter full-BPTT rows
exceeds ``--memory-fraction`` of the machine's available memory (the table says so).
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATE = "2026-11-22"
VOCAB, EMBEDDING, HIDDEN, BATCH = 96, 32, 128, 8


def rss_peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def worker(mode: str, length: int, steps: int, passes: int) -> dict:
    import torch
    import torch.nn.functional as F

    import rnnkit
    from rnnkit.patterns.language_model import LanguageModel, detach_state
    from rnnkit.tasks.tbptt import chunk_slices

    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = LanguageModel(rnnkit.LSTM(EMBEDDING, HIDDEN, batch_first=True), VOCAB, EMBEDDING)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    stream = torch.randint(0, VOCAB, (BATCH, length + 1))
    tokens, targets = stream[:, :-1], stream[:, 1:]
    pieces = chunk_slices(length, steps) if mode == "tbptt" else [slice(0, length)]
    before = rss_peak_mib()

    def one_pass() -> float:
        state, total = None, 0.0
        for piece in pieces:
            logits, state = model(tokens[:, piece], state)
            loss = F.cross_entropy(logits.transpose(1, 2), targets[:, piece])
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            optimizer.zero_grad()
            state = detach_state(state)
            total += float(loss)
        return total / len(pieces)

    one_pass()  # warm-up: allocator, kernels
    started = time.perf_counter()
    for _ in range(passes):
        one_pass()
    seconds = (time.perf_counter() - started) / passes
    return {
        "mode": mode,
        "length": length,
        "steps": steps if mode == "tbptt" else length,
        "rss_before_mib": before,
        "rss_peak_mib": rss_peak_mib(),
        "us_per_token": seconds / (length * BATCH) * 1e6,
        "seconds_per_pass": seconds,
        "passes": passes,
        "backend": "fused kernel" if model.rnn.uses_fused_kernel else "loop",
        "torch": torch.__version__,
    }


def run_fresh(mode: str, length: int, steps: int, passes: int) -> dict:
    command = [sys.executable, __file__, "--worker", mode, str(length), str(steps), str(passes)]
    done = subprocess.run(command, capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(done.stdout.strip().splitlines()[-1])


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def markdown(rows: list[dict], notes: list[str], command: str) -> str:
    lines = [
        "### Truncated BPTT: memory and time per token vs sequence length",
        "",
        f"Character-level LSTM LM (vocabulary {VOCAB}, embedding {EMBEDDING}, rnnkit.LSTM "
        f"hidden {HIDDEN}, backend {rows[0]['backend']}), batch {BATCH}, one training pass "
        "(forward, backward, clip, Adam step) over a batch of L random symbols. TBPTT: chunks "
        "of k = 100 steps, state carried detached, one step per chunk; full BPTT: one step "
        "over all L. Peak memory: the process's RSS high-water mark (`ru_maxrss`), each "
        "configuration in a fresh process; 'before' is the RSS after imports, model and data.",
        "",
        "| mode | L | k | RSS before (MiB) | peak RSS (MiB) | growth (MiB) | µs / token "
        "| s / pass |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        lines.append(
            f"| {'TBPTT' if r['mode'] == 'tbptt' else 'full BPTT'} | {r['length']:,} | "
            f"{r['steps']:,} | {r['rss_before_mib']:.0f} | {r['rss_peak_mib']:.0f} | "
            f"{r['rss_peak_mib'] - r['rss_before_mib']:.0f} | {r['us_per_token']:.2f} | "
            f"{r['seconds_per_pass']:.2f} |"
        )
    growths = {
        mode: ", ".join(f"{growth_mib(r):,.0f}" for r in rows if r["mode"] == mode)
        for mode in ("tbptt", "full")
    }
    lengths = ", ".join(f"{r['length']:,}" for r in rows if r["mode"] == "tbptt")
    summary = (
        f"Memory growth for L = {lengths}: TBPTT {growths['tbptt']} MiB (flat: one chunk's "
        f"graph), full BPTT {growths['full']} MiB (linear in L)."
    )
    lines += ["", f"- {summary}"] + [f"- {line}" for line in notes]
    lines += [
        "",
        f"Measured {DATE} on {cpu_name()} ({platform.machine()}), a shared 2-core machine, "
        f"one torch thread, torch {rows[0]['torch']}, Python {platform.python_version()}. "
        "Time per token is wall time on a machine other engineers were using: compare rows, "
        "not machines. Command:",
        "",
        "```",
        command,
        "```",
        "",
    ]
    return "\n".join(lines)


def growth_mib(row: dict) -> float:
    return row["rss_peak_mib"] - row["rss_before_mib"]


def full_bptt_estimate(rows: list[dict], length: int) -> tuple[float, float] | None:
    """KiB per token and the RSS growth (MiB) full BPTT would need at ``length``: a linear fit
    of the two longest full-BPTT rows measured so far (None before two)."""
    full = sorted((r["length"], r) for r in rows if r["mode"] == "full" and r["length"] < length)
    if len(full) < 2:
        return None
    (a, first), (b, second) = full[-2:]
    per_token_mib = (growth_mib(second) - growth_mib(first)) / ((b - a) * BATCH)
    return per_token_mib * 1024, growth_mib(second) + per_token_mib * (length - b) * BATCH


def available_mib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 1024
    return float("inf")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        mode, length, steps, passes = sys.argv[2], *map(int, sys.argv[3:6])
        print(json.dumps(worker(mode, length, steps, passes)))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--steps", type=int, default=100, help="k, the TBPTT chunk length")
    parser.add_argument(
        "--full-max-length",
        type=int,
        default=100_000,
        help="longest L run with full BPTT (memory grows linearly with L)",
    )
    parser.add_argument(
        "--memory-fraction",
        type=float,
        default=0.5,
        help="skip a full-BPTT row whose predicted growth exceeds this share of MemAvailable",
    )
    parser.add_argument("--min-tokens", type=int, default=400_000, help="timed tokens per row")
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "_tbptt_table.md")
    parser.add_argument(
        "--rows-from",
        type=Path,
        help="rewrite the table from the JSON lines a previous run printed, without measuring",
    )
    args = parser.parse_args()
    rows, notes = [], []
    if args.rows_from:
        lines = args.rows_from.read_text().splitlines()
        for row in (json.loads(line) for line in lines if line.startswith("{")):
            estimate = full_bptt_estimate(rows, row["length"]) if row["mode"] == "full" else None
            if estimate is not None:
                notes.append(
                    f"Full BPTT at L = {row['length']:,}: the growth between the two shorter "
                    f"rows ({estimate[0]:.1f} KiB per token) predicts about "
                    f"{estimate[1] / 1024:.2f} GiB; measured {growth_mib(row) / 1024:.2f} GiB."
                )
            rows.append(row)
    for mode in () if args.rows_from else ("tbptt", "full"):
        for length in args.lengths:
            estimate = full_bptt_estimate(rows, length) if mode == "full" else None
            if estimate is not None:
                per_token_kib, growth = estimate
                note = (
                    f"Full BPTT at L = {length:,}: the growth between the two shorter rows "
                    f"({per_token_kib:.1f} KiB per token) predicts about {growth / 1024:.2f} GiB"
                )
                if length > args.full_max_length or growth > args.memory_fraction * (
                    available_mib()
                ):
                    notes.append(
                        f"{note}; not run (more than {args.memory_fraction:.0%} of the "
                        f"{available_mib() / 1024:.0f} GiB available, or --full-max-length)."
                    )
                    continue
            elif mode == "full" and length > args.full_max_length:
                notes.append(f"Full BPTT at L = {length:,}: not run (--full-max-length).")
                continue
            passes = max(1, args.min_tokens // (length * BATCH))
            row = run_fresh(mode, length, args.steps, passes)
            rows.append(row)
            print(json.dumps(row), flush=True)
            if estimate is not None:
                notes.append(f"{note}; measured {growth_mib(row) / 1024:.2f} GiB.")
    command = (
        ".venv/bin/python scripts/bench_tbptt.py "
        f"--lengths {' '.join(map(str, args.lengths))} --steps {args.steps} "
        f"--full-max-length {args.full_max_length} --memory-fraction {args.memory_fraction}"
    )
    args.output.write_text(markdown(rows, notes, command))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
