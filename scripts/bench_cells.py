"""Forward+backward throughput of rnnkit's RNN/LSTM/GRU against torch.nn, on this machine.

For each cell kind (RNN with tanh, LSTM, GRU), 1 and 2 layers, uni- and bidirectional, it
times one training step (forward, ``output.sum()``, backward, gradients w.r.t. the input and
all parameters) of three twins with the same weights:

* ``loop``: ``rnnkit.<Kind>(..., backend="loop")``, the Python time loop;
* ``auto``: ``rnnkit.<Kind>(...)``, torch's fused kernel on rnnkit's parameters;
* ``torch.nn``: ``torch.nn.<Kind>``.

All are timed in the same process, interleaved: every repeat is one round over all the
configurations, timing each twin once, in an order that rotates from one repeat to the
next, so a slow spell of a shared machine hits all twins alike and only some repeats of each
configuration. Warm-up calls come first. The table gives median tokens/s
(``batch * length`` per step) and each rnnkit backend's ratio to torch.nn.

    python scripts/bench_cells.py                 # the full table (about a minute, 2 cores)
    python scripts/bench_cells.py --quick         # a rough table, a few times faster
    python scripts/bench_cells.py --with-generic  # also the loop backend's generic loop
    python scripts/bench_cells.py --threads 1     # torch.set_num_threads(1) first
    python scripts/bench_cells.py --compile       # torch.compile on the cell's step instead

``torch.set_num_threads`` is left at torch's default unless ``--threads`` is given; the value
is printed with the table, and so is the load average, since a shared machine's other work
shows up in every number.
This is a measurement script, not a test: nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

import rnnkit
from rnnkit.cells import GRUCell, LSTMCell, RNNCell

KINDS = ("RNN", "LSTM", "GRU")
VARIANTS = ("loop", "auto", "torch.nn")


@dataclass(frozen=True)
class Config:
    kind: str
    num_layers: int
    bidirectional: bool

    @property
    def label(self) -> str:
        direction = "bi" if self.bidirectional else "uni"
        return f"{self.kind} {self.num_layers}L {direction}"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=15, help="timed repeats per variant")
    parser.add_argument("--warmup", type=int, default=3, help="untimed calls per variant first")
    parser.add_argument(
        "--quick", action="store_true", help="1 warm-up and 3 repeats: a rough table, fast"
    )
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--length", type=int, default=100)
    parser.add_argument("--input-size", type=int, default=128)
    parser.add_argument("--hidden-size", type=int, default=256)
    parser.add_argument("--kinds", nargs="+", default=list(KINDS), choices=KINDS)
    parser.add_argument(
        "--with-generic",
        action="store_true",
        help="add a fourth twin: the loop backend's generic loop over cell.step (what "
        "backend='loop' ran before the one-node loop of the standard cells)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="call torch.set_num_threads(THREADS) first (default: leave torch's default)",
    )
    parser.add_argument(
        "--compile",
        action="store_true",
        help="instead of the main table: the generic loop with torch.compile on the cell's "
        "step, 1 layer, unidirectional (compiling takes minutes)",
    )
    args = parser.parse_args()
    if args.quick:
        args.repeats, args.warmup = 3, 1
    if args.repeats < 1 or args.warmup < 0:
        parser.error(f"--repeats must be >= 1 and --warmup >= 0, got {args.repeats}, {args.warmup}")
    if args.threads is not None and args.threads < 1:
        parser.error(f"--threads must be >= 1, got {args.threads}")
    return args


def machine_info() -> list[str]:
    model = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return [
        f"CPU: {model}, {os.cpu_count()} logical cores",
        f"torch {torch.__version__}, torch.get_num_threads() = {torch.get_num_threads()}, "
        f"Python {platform.python_version()}",
        f"date: {datetime.datetime.now().isoformat(timespec='minutes')}",
    ]


def load_average() -> str:
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "unknown"
    return f"{one:.1f} / {five:.1f} / {fifteen:.1f} (1 / 5 / 15 min)"


_STANDARD_CELLS = {"RNN": RNNCell, "LSTM": LSTMCell, "GRU": GRUCell}


def generic_loop_cell(kind: str) -> type:
    """A trivial subclass of the standard cell: the loop backend then runs its generic loop
    over ``cell.step`` (ordinary autograd) instead of the one-node loop of the exact cell."""
    return type(f"Generic{kind}Cell", (_STANDARD_CELLS[kind],), {})


def build(config: Config, args: argparse.Namespace) -> dict[str, nn.Module]:
    """The twins, all with torch.nn's weights, in the order of the table's columns."""
    sizes = (args.input_size, args.hidden_size, config.num_layers)
    options = {"bidirectional": config.bidirectional}
    reference = getattr(nn, config.kind)(*sizes, **options)
    models = {"torch.nn": reference}
    for backend in ("loop", "auto"):
        models[backend] = getattr(rnnkit, config.kind)(*sizes, backend=backend, **options)
    if args.with_generic:
        cell = generic_loop_cell(config.kind)
        models["generic"] = rnnkit.Recurrent(cell, *sizes, backend="loop", **options)
    for model in models.values():
        model.load_state_dict(reference.state_dict())
    variants = VARIANTS + (("generic",) if args.with_generic else ())
    return {variant: models[variant] for variant in variants}


def training_step(model: nn.Module, inputs: torch.Tensor) -> Callable[[], float]:
    """A function that runs forward+backward once and returns the seconds it took."""

    def run() -> float:
        model.zero_grad(set_to_none=True)
        inputs.grad = None
        start = time.perf_counter()
        output, _ = model(inputs)
        output.sum().backward()
        return time.perf_counter() - start

    return run


def time_interleaved(
    runs: dict[str, Callable[[], float]], repeats: int, warmup: int
) -> dict[str, float]:
    """Median seconds of each run, timed in rotating order within every repeat."""
    return time_rounds({"": runs}, repeats, warmup)[""]


def time_rounds(
    groups: dict[str, dict[str, Callable[[], float]]], repeats: int, warmup: int
) -> dict[str, dict[str, float]]:
    """Median seconds of every run of every group.

    Each repeat is one round over all groups (configurations); within a group the runs go
    in an order that rotates from one repeat to the next. A slow spell of a shared machine
    thus lands on a few repeats of every configuration, where the median discards it,
    rather than on all the repeats of one configuration.
    """
    for _ in range(warmup):
        for runs in groups.values():
            for run in runs.values():
                run()
    seconds = {group: {name: [] for name in runs} for group, runs in groups.items()}
    for repeat in range(repeats):
        for group, runs in groups.items():
            names = list(runs)
            shift = repeat % len(names)
            for name in names[shift:] + names[:shift]:
                seconds[group][name].append(runs[name]())
        print(f"  repeat {repeat + 1}/{repeats} done, load average {load_average()}", flush=True)
    return {
        group: {name: statistics.median(values) for name, values in times.items()}
        for group, times in seconds.items()
    }


def bench_configs(args: argparse.Namespace) -> list[tuple[Config, dict[str, float]]]:
    torch.manual_seed(0)
    inputs = torch.randn(args.length, args.batch, args.input_size, requires_grad=True)
    configs = [
        Config(kind, num_layers, bidirectional)
        for kind in args.kinds
        for num_layers in (1, 2)
        for bidirectional in (False, True)
    ]
    groups = {}
    for config in configs:
        models = build(config, args)
        groups[config.label] = {
            name: training_step(model, inputs) for name, model in models.items()
        }
    medians = time_rounds(groups, args.repeats, args.warmup)
    return [(config, medians[config.label]) for config in configs]


def markdown_table(results: list[tuple[Config, dict[str, float]]], tokens: int) -> str:
    names = list(results[0][1])
    ours = [name for name in names if name != "torch.nn"]
    lines = [
        "| cell | layers | directions | "
        + " | ".join(f"{name} (tok/s)" for name in names)
        + " | "
        + " | ".join(f"{name} / torch.nn" for name in ours)
        + " |",
        "|---|---:|---|" + "---:|" * (len(names) + len(ours)),
    ]
    for config, medians in results:
        rate = {name: tokens / seconds for name, seconds in medians.items()}
        direction = "bi" if config.bidirectional else "uni"
        lines.append(
            f"| {config.kind} | {config.num_layers} | {direction} | "
            + " | ".join(f"{rate[name]:,.0f}" for name in names)
            + " | "
            + " | ".join(f"{rate[name] / rate['torch.nn']:.2f}" for name in ours)
            + " |"
        )
    return "\n".join(lines)


# ---- optional: torch.compile on the step -------------------------------------------------


def compiled_step_cell(kind: str) -> type:
    """A cell class whose ``step`` runs through ``torch.compile`` (subclass: generic loop)."""
    plain = _STANDARD_CELLS[kind]

    class CompiledStepCell(plain):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._compiled_step = torch.compile(plain.step)

        def step(self, projected_input, state):
            return self._compiled_step(self, projected_input, state)

    return CompiledStepCell


def bench_compile(args: argparse.Namespace) -> list[str]:
    """1 layer, unidirectional: the generic loop over the cell's step, plain and through
    torch.compile, against the one-node loop (``backend="loop"``) and torch.nn."""
    torch.manual_seed(0)
    inputs = torch.randn(args.length, args.batch, args.input_size, requires_grad=True)
    other_batch = torch.randn(args.length, args.batch // 2 + 1, args.input_size)
    tokens = args.batch * args.length
    names = ("generic", "compiled", "loop", "torch.nn")
    lines = [
        "| cell | " + " | ".join(f"{name} (tok/s)" for name in names) + " | "
        + " | ".join(f"{name} / torch.nn" for name in names[:3])
        + " | first call (compiling) | first call at a new batch size |",
        "|---|" + "---:|" * 9,
    ]  # fmt: skip
    for kind in args.kinds:
        reference = getattr(nn, kind)(args.input_size, args.hidden_size)
        models = {"torch.nn": reference}
        for name, cell in (
            ("generic", generic_loop_cell(kind)),
            ("compiled", compiled_step_cell(kind)),
            ("loop", _STANDARD_CELLS[kind]),
        ):
            model = rnnkit.Recurrent(cell, args.input_size, args.hidden_size, backend="loop")
            model.load_state_dict(reference.state_dict())
            models[name] = model
        runs = {name: training_step(models[name], inputs) for name in names}
        first_call = runs["compiled"]()
        new_shape = training_step(models["compiled"], other_batch.requires_grad_())()
        medians = time_interleaved(runs, args.repeats, args.warmup)
        rate = {name: tokens / seconds for name, seconds in medians.items()}
        lines.append(
            f"| {kind} | " + " | ".join(f"{rate[name]:,.0f}" for name in names) + " | "
            + " | ".join(f"{rate[name] / rate['torch.nn']:.2f}" for name in names[:3])
            + f" | {first_call:.0f} s | {new_shape:.0f} s |"
        )  # fmt: skip
        print(f"  compile {kind}: {lines[-1]}", flush=True)
    return lines


def main() -> None:
    args = parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    shape = (
        f"batch {args.batch}, length {args.length}, input {args.input_size}, "
        f"hidden {args.hidden_size}"
    )
    print("\n".join(machine_info()))
    print(f"{shape}; {args.warmup} warm-up + {args.repeats} interleaved repeats, medians")
    print(f"load average at start: {load_average()}", flush=True)
    started = time.perf_counter()
    results = [] if args.compile else bench_configs(args)
    compile_lines = bench_compile(args) if args.compile else []
    print(f"\nload average at end: {load_average()}; took {time.perf_counter() - started:.0f} s")
    if results:
        print(f"\nForward+backward throughput, {shape}, float32:\n")
        print(markdown_table(results, args.batch * args.length))
    if compile_lines:
        print("\ntorch.compile on the step, 1 layer, unidirectional (generic: the runner's loop")
        print("over cell.step; compiled: the same with torch.compile(step); loop: the one-node")
        print('loop of backend="loop"):\n')
        print("\n".join(compile_lines))


if __name__ == "__main__":
    main()
