"""Regenerate docs/vanishing_gradients.md: vanishing and exploding gradients, measured.

    python scripts/run_long_range.py              # the whole study, then the doc and figures
    python scripts/run_long_range.py --quick      # a smoke run: tiny budget, doc under /tmp

1. The grid: ``rnnkit-train experiment=long_range cell=<cell> data.lag=<T>`` for every cell
   in {rnn (tanh), lstm, gru} and lag T in {10, 50, 100, 200}: same data sizes, hidden size,
   epochs and seed for every run, the GradientFlowCallback on. Each run is exactly what that
   command trains (rnnkit.cli.compose.compose_run, then rnnkit.cli.recorded_run); only the
   TensorBoard logger is replaced by a CSV logger, to save time. Test accuracy is that of
   the best validation checkpoint, as rnnkit-train reports it.
2. One extra row, ``lstm, chrono init``: the same LSTM, same budget, with the gate biases
   initialised as in Tallec & Ollivier 2018 ("Can recurrent neural networks warp time?"):
   forget bias ``log(u)``, input bias ``-log(u)``, ``u ~ U(1, 199)`` per unit (199: the
   longest lag's horizon, the same for every lag), so that the forget gate starts open.
   It shows that the LSTM's memory path carries gradient only while its forget gate does.
3. Exploding gradients: a ReLU RNN whose recurrent weight is rescaled to spectral radius 3,
   trained with SGD (momentum 0.9) at lag 10 with gradient clipping off and on
   (``trainer.gradient_clip_val``), with the GradientNormCallback logging every step.
4. Overheads: a training step with and without gradient-flow measurement, per cell, at T=100.

Figures are drawn from the callbacks' recorded data into docs/images/ (small PNGs). Runs
write their checkpoints under --log-dir (default /tmp/rnnkit_long_range), and the measured
data to <log-dir>/results.json (``--reuse-results`` redraws the doc from it). torch runs with
one thread (the experiment's ``num_threads: 1``): on a shared 2-core machine that is faster.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from omegaconf import DictConfig, OmegaConf

from rnnkit.callbacks import (
    GradientFlowCallback,
    GradientFlowRecorder,
    GradientFlowSnapshot,
)
from rnnkit.cli.compose import compose_run
from rnnkit.cli.recorded_run import train_recorded_run
from rnnkit.cli.train import build_datamodule, build_task
from rnnkit.figures.gradient_study import (
    exploding_gradients_figure,
    flow_heatmaps_figure,
    relative_flow_figure,
)
from rnnkit.figures.offscreen import plt
from rnnkit.layers.initialization import chrono_init, rescale_spectral_radius

ROOT = Path(__file__).resolve().parents[1]
CELLS = ("rnn", "lstm", "gru")
LAGS = (10, 50, 100, 200)
CHRONO_ROW = "lstm, chrono init"
CHRONO_MAX = 200
FIGURE_LAG = 100
EXPLODING = {"lag": 10, "spectral_radius": 3.0, "lr": 0.01, "momentum": 0.9, "clip": 1.0}
DPI = 80


# ---- running one configuration -------------------------------------------------------------


def train_run(cfg: DictConfig, initialise=None) -> dict[str, Any]:
    """One run of the study, as results.json keeps it."""
    run = train_recorded_run(cfg, initialise)
    return {
        "test_acc": run.metrics["test/acc"],
        "val_acc": run.metrics.get("val/acc", math.nan),
        "seconds": run.seconds,
        "steps": run.steps,
        "flow": run.grad_flow,
        "norms": run.grad_norms,
        "losses": run.losses,
    }


def plain_config(cfg: DictConfig) -> dict[str, Any]:
    keys = ("data", "model", "cell", "task", "trainer", "seed")
    return {key: OmegaConf.to_container(cfg, resolve=True)[key] for key in keys}


def quiet_overrides() -> list[str]:
    return ["trainer.enable_progress_bar=false"]


# ---- the studies -------------------------------------------------------------------------


def run_grid(args: argparse.Namespace) -> dict[tuple[str, int], dict[str, Any]]:
    rows = [(cell, cell, None) for cell in args.cells]
    if "lstm" in args.cells:
        rows.append((CHRONO_ROW, "lstm", lambda task: chrono_init(task.model.rnn, CHRONO_MAX)))
    results = {}
    for row, cell, initialise in rows:
        for lag in args.lags:
            overrides = [
                "experiment=long_range",
                f"cell={cell}",
                f"data.lag={lag}",
                f"paths.log_dir={args.log_dir}",
                "callbacks.gradient_flow.log_figures=false",
                "callbacks.gradient_flow.max_steps_logged=100000",
                *quiet_overrides(),
                *args.overrides,
            ]
            output_dir = Path(args.log_dir) / "grid" / f"{cell}_{lag}_{len(results)}"
            cfg = compose_run(overrides, output_dir)
            result = train_run(cfg, initialise)
            result["config"] = plain_config(cfg)
            results[row, lag] = result
            first = result["flow"][0].first_to_last_ratio() if result["flow"] else {}
            print(
                f"[grid] {row:>20s} T={lag:<4d} test acc {result['test_acc']:.3f}  "
                f"steps {result['steps']}  {result['seconds']:.0f}s  "
                f"ratio@0 {next(iter(first.values()), math.nan):.2e}",
                flush=True,
            )
    return results


def rescale_recurrent_weight(task) -> None:
    rescale_spectral_radius(task.model.rnn, EXPLODING["spectral_radius"])


def run_exploding(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    results = {}
    for label, clip in (("no clipping", "null"), ("clipping at 1.0", str(EXPLODING["clip"]))):
        overrides = [
            "experiment=long_range",
            "cell=rnn",
            "cell.nonlinearity=relu",
            f"data.lag={EXPLODING['lag']}",
            "task.optimizer._target_=torch.optim.SGD",
            f"task.optimizer.lr={EXPLODING['lr']}",
            f"+task.optimizer.momentum={EXPLODING['momentum']}",
            f"trainer.gradient_clip_val={clip}",
            f"trainer.max_epochs={args.exploding_epochs}",
            "callbacks.gradient_norms.every_n_steps=1",
            "callbacks.gradient_flow.every_n_steps=1000000",
            f"paths.log_dir={args.log_dir}",
            *quiet_overrides(),
        ]
        cfg = compose_run(overrides, Path(args.log_dir) / "exploding" / label.split()[0])
        result = train_run(cfg, rescale_recurrent_weight)
        result["overrides"] = overrides[:9]
        results[label] = result
        print(f"[exploding] {label}: test acc {result['test_acc']:.3f}", flush=True)
    return results


def timed_step(task, batch: dict[str, torch.Tensor], measured: bool) -> float:
    """Milliseconds of forward, cross entropy and backward (measured by a recorder or not)."""
    started = time.perf_counter()
    recorder = GradientFlowRecorder(task) if measured else None
    if recorder:
        recorder.start()
    logits = task(batch["tokens"], batch["lengths"])
    F.cross_entropy(logits, batch["labels"]).backward()
    if recorder:
        recorder.stop()
        recorder.snapshot()
    task.zero_grad()
    return (time.perf_counter() - started) * 1000


def measure_overheads(args: argparse.Namespace, lag: int = FIGURE_LAG, repeats: int = 15):
    """Median ms of a training step (forward, loss, backward): as trained (fused kernel where
    the cell has one), on the step loop without measuring, and measured (what the callback
    does on a measuring step). The three are interleaved so machine load hits them alike."""
    results = {}
    for cell in args.cells:
        cfg = compose_run(
            ["experiment=long_range", f"cell={cell}", f"data.lag={lag}", *quiet_overrides()],
            Path(args.log_dir) / "overhead",
        )
        pl.seed_everything(0)
        datamodule = build_datamodule(cfg.data)
        datamodule.setup("fit")
        task = build_task(cfg, datamodule)
        layer = task.model.rnn
        batch = next(iter(datamodule.train_dataloader()))

        def step(mode: str, task=task, batch=batch, backend=cfg.cell.backend) -> float:
            task.model.rnn.backend = "loop" if mode == "loop" else backend
            return timed_step(task, batch, measured=mode == "measured")

        modes = ("normal", "loop", "measured")
        times: dict[str, list[float]] = {mode: [] for mode in modes}
        for mode in modes * 2:  # warm-up
            step(mode)
        for repeat in range(repeats):
            for mode in modes[repeat % 3 :] + modes[: repeat % 3]:
                times[mode].append(step(mode))
        layer.backend = cfg.cell.backend
        results[cell] = {mode: statistics.median(values) for mode, values in times.items()}
        results[cell]["fused"] = layer.uses_fused_kernel

    callback = GradientFlowCallback(every_n_steps=50)
    fake_trainer = type("Trainer", (), {"global_step": 1})()
    calls = 100_000
    started = time.perf_counter()
    for _ in range(calls):
        callback.on_train_batch_start(fake_trainer, None, None, 0)
    idle_us = (time.perf_counter() - started) / calls * 1e6
    return {"steps": results, "idle_us": idle_us, "batch": int(batch["tokens"].shape[0])}


# ---- figures -------------------------------------------------------------------------------


def save(figure, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=DPI, metadata={"Software": None})
    plt.close(figure)


def first_layer_norms(snapshot: GradientFlowSnapshot) -> list[float]:
    return next(iter(snapshot.grad_norms.values()))


def draw_figures(grid, exploding, rows: list[str], lag: int, images: Path) -> None:
    """The doc's three figures, from the runs' recorded data, into ``images``."""
    flows = {row: grid[row, lag]["flow"] for row in rows if grid.get((row, lag), {}).get("flow")}
    figure = relative_flow_figure(
        {row: first_layer_norms(flow[0]) for row, flow in flows.items()},
        title=f"gradient reaching each step, training step 0, lag T={lag}",
        xlabel="time step t (the symbol is at t=1, the query at t=T+2)",
    )
    save(figure, images / f"vanishing_grad_flow_T{FIGURE_LAG}.png")
    figure = flow_heatmaps_figure(
        {row: [(s.step, first_layer_norms(s)) for s in flow] for row, flow in flows.items()}
    )
    save(figure, images / f"vanishing_heatmap_T{FIGURE_LAG}.png")
    figure = exploding_gradients_figure(
        {
            label: [(entry["step"], entry["pre"]["global"]) for entry in result["norms"]]
            for label, result in exploding.items()
        },
        {label: result["losses"] for label, result in exploding.items()},
        title=f"ReLU RNN, recurrent spectral radius {EXPLODING['spectral_radius']}, "
        f"SGD lr {EXPLODING['lr']}",
    )
    save(figure, images / "exploding_grad_norm.png")


# ---- the document ------------------------------------------------------------------------


def fmt(value: float, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, float) and math.isinf(value):
        return "inf"
    return f"{value:.{digits}e}"


def first_ratio(result: dict[str, Any], index: int) -> float:
    if not result["flow"]:
        return math.nan
    return next(iter(result["flow"][index].first_to_last_ratio().values()))


def exploding_summary(result: dict[str, Any]) -> dict[str, Any]:
    losses = result["losses"]
    bad = next((i for i, v in enumerate(losses) if not math.isfinite(v)), None)
    pre = [entry["pre"]["global"] for entry in result["norms"]]
    post = [entry["post"].get("global", math.nan) for entry in result["norms"]]
    finite_pre = [v for v in pre if math.isfinite(v)]
    return {
        "first_nonfinite_step": bad,
        "initial_loss": losses[0],
        "final_loss": losses[-1],
        "initial_norm": pre[0],
        "max_norm": max(finite_pre) if finite_pre else math.nan,
        "max_post": max((v for v in post if math.isfinite(v)), default=math.nan),
        "nonfinite_norms": sum(1 for v in pre if not math.isfinite(v)),
        "test_acc": result["test_acc"],
        "steps": len(losses),
    }


def machine_line() -> str:
    """The command, date and machine, as the doc states them (taken when the runs end)."""
    arguments = [a for a in sys.argv[1:] if a != "--reuse-results"]
    command = " ".join(["python scripts/run_long_range.py", *arguments])
    return (
        f"`{command}` on {datetime.date.today().isoformat()}, {platform.node() or 'a machine'} "
        f"({platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, load "
        f"average {', '.join(f'{x:.1f}' for x in os.getloadavg())} at the end, torch "
        f"{torch.__version__} with {torch.get_num_threads()} thread)"
    )


def write_doc(args, grid, exploding, overheads, elapsed: float, machine: str) -> None:
    rows = list(dict.fromkeys(row for row, _ in grid))
    lags = list(args.lags)
    any_result = next(iter(grid.values()))
    cfg = OmegaConf.create(any_result["config"])
    lines = [
        "# Vanishing and exploding gradients, measured",
        "",
        "<!-- Generated by scripts/run_long_range.py; edit the script, not this file. -->",
        "",
        "Backpropagation through time multiplies the gradient by one Jacobian "
        "`dh_t/dh_{t-1}` per step, so the gradient that reaches an early step shrinks or "
        "grows geometrically with the distance. This page shows both with rnnkit's own "
        "instruments: `rnnkit.callbacks.GradientFlowCallback` (`||dL/dh_t||` for every "
        "step, gate saturation, state magnitudes) and `rnnkit.callbacks.GradientNormCallback` "
        "(gradient norms per layer before and after clipping). Turn both on for any "
        "experiment with `callbacks=gradient_flow`; they log to TensorBoard.",
        "",
        f"Generated by {machine}; the whole study took {elapsed / 60:.1f} minutes.",
        "",
        "## The task: remember the first symbol",
        "",
        "`experiment=long_range` (`rnnkit.data.sentiment.long_range.LongRangeDataModule`, the "
        "sentiment task's many-to-one classifier with pooling `last`): a sequence is a symbol "
        f"out of K={cfg.data.num_classes}, then T blank tokens, then a query token; the label is "
        "the first symbol. The model reads the state after the query, so the symbol must be "
        "carried over T+1 recurrent steps, and the gradient that teaches it must come back "
        f"as far. Chance accuracy is 1/K = {1 / cfg.data.num_classes:.3f}.",
        "",
        f"Every run: {cfg.data.train_size} training / {cfg.data.val_size} validation / "
        f"{cfg.data.test_size} test sequences, batch {cfg.data.batch_size}, embedding "
        f"{cfg.model.embedding_dim}, hidden size {cfg.cell.hidden_size}, one layer, "
        f"Adam lr {cfg.task.optimizer.lr}, gradient clipping at "
        f"{cfg.trainer.gradient_clip_val}, {cfg.trainer.max_epochs} epochs "
        f"({any_result['steps']} steps), seed {cfg.seed}. One cell of the grid is "
        "`rnnkit-train experiment=long_range cell=<cell> data.lag=<T>`.",
        "",
        "## Accuracy against lag",
        "",
        "Test accuracy (best validation epoch):",
        "",
        "| cell | " + " | ".join(f"T={lag}" for lag in lags) + " |",
        "| --- | " + " | ".join("---" for _ in lags) + " |",
    ]
    for row in rows:
        cells = [f"{grid[row, lag]['test_acc']:.3f}" for lag in lags]
        lines.append(f"| {row} | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"`{CHRONO_ROW}` is the same LSTM, same budget, with *chrono* gate biases (Tallec & "
        "Ollivier 2018): per unit, forget bias `log(u)` and input bias `-log(u)` with "
        f"`u ~ U(1, {CHRONO_MAX - 1})`, instead of torch's `U(-1/sqrt(H), 1/sqrt(H))` "
        "(so the forget gate starts between 0.5 and 0.995; not a `cell=` option, the script "
        "sets it after building the model).",
        "",
        "## Why: the gradient that reaches the first step",
        "",
        "`first_to_last_ratio = ||dL/dh_1|| / ||dL/dh_T||` as the callback logs it "
        "(`grad_flow/first_to_last_ratio/<layer>`), where `||dL/dh_t||` is the norm over the "
        "batch and the features of the *total* gradient reaching the step's output `h_t` "
        "(through the output path and the recurrence; what `h_t.register_hook` receives), "
        "`t = 1` is the symbol's step and `T` the last one (the query). At training step 0 "
        "(untrained model) and at the last measured step:",
        "",
        "| cell | " + " | ".join(f"T={lag} (step 0 → end)" for lag in lags) + " |",
        "| --- | " + " | ".join("---" for _ in lags) + " |",
    ]
    for row in rows:
        cells = [
            f"{fmt(first_ratio(grid[row, lag], 0))} → {fmt(first_ratio(grid[row, lag], -1))}"
            for lag in lags
        ]
        lines.append(f"| {row} | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"![gradient flow at T={FIGURE_LAG}](images/vanishing_grad_flow_T{FIGURE_LAG}.png)",
        "",
        f"![gradient flow over training at T={FIGURE_LAG}]"
        f"(images/vanishing_heatmap_T{FIGURE_LAG}.png)",
        "",
        "The first figure is `||dL/dh_t||` against `t` at the first training step "
        f"(T={FIGURE_LAG}), each line divided by its value at the last step; the second, "
        "the same quantity (log10, not normalised) over every measured training step, as the "
        "callback's `grad_flow/heatmap` draws it in TensorBoard.",
        "",
        *explanation(grid, rows, lags, 1 / cfg.data.num_classes),
        "",
    ]
    lines += exploding_section(exploding)
    lines += overhead_section(overheads)
    lines += USAGE
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text("\n".join(lines) + "\n")
    print(f"wrote {args.output}")


def explanation(grid, rows: list[str], lags: list[int], chance: float) -> list[str]:
    """The reading of the tables, with the numbers of this run."""

    def describe(row: str) -> str:
        solved, partial, failed = [], [], []
        for lag in lags:
            accuracy = grid[row, lag]["test_acc"]
            if accuracy >= 0.9:
                solved.append(f"T={lag}")
            elif accuracy <= 1.6 * chance:
                failed.append(f"T={lag}")
            else:
                partial.append(f"T={lag} ({accuracy:.2f})")
        parts = [
            f"solves {', '.join(solved)}" if solved else "",
            f"learns part of {', '.join(partial)}" if partial else "",
            f"stays at chance (the label prior) at {', '.join(failed)}" if failed else "",
        ]
        return f"`{row}` " + ", ".join(part for part in parts if part)

    outcome = "; ".join(describe(row) for row in rows)
    per_step = []
    for row in rows:
        reached = [lag for lag in lags if first_ratio(grid[row, lag], 0) > 0]
        if len(reached) >= 2:
            short, long = reached[0], reached[-1]
            ratio_short = first_ratio(grid[row, short], 0)
            ratio_long = first_ratio(grid[row, long], 0)
            factor = (ratio_long / ratio_short) ** (1 / (long - short))
            per_step.append(f"{row} {factor:.2f} (T={short} to {long})")
    grew = [
        first_ratio(grid[row, lag], -1) > first_ratio(grid[row, lag], 0)
        for row in rows
        for lag in lags
        if grid[row, lag]["test_acc"] >= 0.9
    ]
    underflow = [
        f"`{row}` at T={lag}"
        for row in rows
        for lag in lags
        if first_ratio(grid[row, lag], 0) == 0.0
    ]
    lines = [
        f"**What the runs show.** {outcome}.",
        "",
        "**Why.** At step 0 the gradient that reaches `h_1` is a small fraction of the one "
        "at `h_T` in every cell, and the fraction falls geometrically with the lag (straight "
        "lines on the log-scale figure): each step back multiplies the gradient by about the "
        "same factor, the typical size of the Jacobian `dh_t/dh_{t-1}`. Estimated from the "
        "step-0 ratios at two lags, the factor per step is: "
        + (", ".join(per_step) or "n/a")
        + ". For the tanh RNN it is `W_hh` times `tanh'`, below 1 at torch's initialisation. "
        "The LSTM's cell state `c_t = f_t c_{t-1} + i_t g_t` is an additive path, but scaled "
        "by the forget gate `f_t`, about 0.5 at torch's initialisation; the GRU's "
        "`h_t = z_t h_{t-1} + (1 - z_t) n_t` by the update gate `z_t`, also about 0.5. So "
        "at initialisation gating only slows the decay, which buys the LSTM and the GRU the "
        "short lags, not the long ones. Where the step-0 ratio is tiny, the symbol's "
        "gradient drowns in the gradient that fits the label prior, nothing is learned, and "
        "the ratio stays tiny (the `→ end` column); where training does pick the signal up, "
        "the model learns to keep the symbol and the ratio can grow (it did in "
        f"{sum(grew)} of the {len(grew)} runs that reached 0.9 test accuracy).",
    ]
    if underflow:
        lines[-1] += (
            " A ratio of 0.00e+00 is an underflow: the gradient reaching `h_1` is below the "
            "smallest float32 (" + ", ".join(underflow) + ")."
        )
    if CHRONO_ROW in rows:
        lines += [
            "",
            f"`{CHRONO_ROW}` is the same LSTM with its forget gates opened at initialisation "
            "(forget bias up to log(199), so `f` up to 0.995): its step-0 ratio no longer "
            "collapses with the lag, and with the same budget it learns the lags the default "
            "initialisation cannot. The LSTM architecture makes long memory *possible*; the "
            "gate values decide whether the gradient actually gets through.",
        ]
    return lines


USAGE = [
    "## Using the instruments",
    "",
    "On the command line, for any experiment (TensorBoard gets `grad_flow/*` and "
    "`grad_norm/*` scalars and the `grad_flow/norm_vs_time` and `grad_flow/heatmap` figures; "
    "`gradient_flow.json` in the run folder keeps the measured snapshots):",
    "",
    "```bash",
    "rnnkit-train experiment=sentiment callbacks=gradient_flow "
    "callbacks.gradient_flow.every_n_steps=20",
    "```",
    "",
    "In Python, around any forward and backward of a model holding `rnnkit.Recurrent` layers:",
    "",
    "```python",
    "from rnnkit.callbacks import GradientFlowRecorder",
    "",
    "with GradientFlowRecorder(model) as recorder:",
    "    loss_fn(model(inputs), targets).backward()",
    "snapshot = recorder.snapshot()",
    "snapshot.grad_norms          # {'rnn.l0': [||dL/dh_1||, ..., ||dL/dh_T||], ...}",
    "snapshot.first_to_last_ratio()",
    "snapshot.gate_saturation     # {'rnn.l0': {'input': .., 'forget': .., 'output': .., "
    "'all': ..}}",
    "```",
    "",
    "and for the steps themselves, `rnnkit.layers.observe.observe_steps(model, observer)` "
    "calls `observer(step)` with every step's input, states and output (in real time order, "
    "also for reverse directions and packed batches) while the `with` block lasts. "
    "Definitions: `||dL/dh_t||` is the Frobenius norm, over the rows of the sequences alive "
    "at step `t` and the features, of the total gradient of the loss with respect to the "
    "step's output; a sigmoid gate activation counts as saturated below 0.05 or above 0.95; "
    "`mean_abs_h`/`mean_abs_c` average `|h_t|`/`|c_t|` over steps, rows and features. "
    "Gradient norm groups are each recurrent layer and direction (`model.rnn.l0`, "
    "`model.rnn.l0_reverse`), the embedding (`model.input_layer`), the head "
    "(`model.output_layer`), and `global` (all parameters, what clipping bounds).",
    "",
]


def exploding_section(exploding) -> list[str]:
    if not exploding:
        return []
    summaries = {label: exploding_summary(result) for label, result in exploding.items()}
    any_result = next(iter(exploding.values()))
    lines = [
        "## Exploding gradients, and clipping",
        "",
        f"A ReLU RNN whose recurrent weight `W_hh` is rescaled to spectral radius "
        f"{EXPLODING['spectral_radius']} (so the state, and the gradient, grow along the "
        f"leading eigenvector at each step), on the task above at T={EXPLODING['lag']}, "
        f"trained with SGD (lr {EXPLODING['lr']}, momentum {EXPLODING['momentum']}), "
        f"first without clipping, then with `trainer.gradient_clip_val={EXPLODING['clip']}`. "
        "Norms are the GradientNormCallback's `grad_norm/pre_clip/global` and "
        "`grad_norm/post_clip/global` at every step:",
        "",
        "`rnnkit-train " + " ".join(any_result["overrides"]) + "` "
        "(plus the rescaling of `W_hh`, done by the script)",
        "",
        "| | no clipping | clipping at 1.0 |",
        "| --- | --- | --- |",
    ]
    order = list(summaries)
    first = summaries[order[0]]

    def row(name: str, key: str, format_value) -> str:
        return f"| {name} | " + " | ".join(format_value(summaries[k][key]) for k in order) + " |"

    def step_or_never(value):
        return "never" if value is None else f"step {value}"

    lines += [
        row("training steps", "steps", str),
        row("loss at step 0", "initial_loss", lambda v: f"{v:.3g}"),
        row("first non-finite loss (inf/NaN)", "first_nonfinite_step", step_or_never),
        row("loss at the last step", "final_loss", lambda v: f"{v:.3g}"),
        row("global gradient norm at step 0 (before clipping)", "initial_norm", fmt),
        row("largest finite gradient norm before clipping", "max_norm", fmt),
        row("steps with a non-finite gradient norm", "nonfinite_norms", str),
        row("largest gradient norm after clipping", "max_post", fmt),
        row("test accuracy", "test_acc", lambda v: f"{v:.3f}"),
        "",
        "![exploding gradients](images/exploding_grad_norm.png)",
        "",
        f"Without clipping the first SGD update has norm lr × {first['initial_norm']:.3g} = "
        f"{EXPLODING['lr'] * first['initial_norm']:.3g}: the weights jump far away, the next "
        "gradient is larger still, and the loss overflows within a few steps, after which "
        "every gradient is NaN and nothing more is learned. With clipping every update has "
        f"norm at most lr × {EXPLODING['clip']} (momentum aside) and the same network, from the "
        "same initialisation, trains. rnnkit's default trainer config clips at 1.0 for this "
        "reason.",
        "",
    ]
    return lines


def overhead_section(overheads) -> list[str]:
    if not overheads:
        return []
    lines = [
        "## What measuring costs",
        "",
        f"One training step (forward, cross entropy, backward) of the model above at "
        f"T={FIGURE_LAG}, batch {overheads['batch']}, median of 15 interleaved repeats: as "
        "trained (torch's fused kernel for these standard cells), on rnnkit's step loop "
        "(`backend='loop'`, no measuring), and measured by a GradientFlowRecorder, which is "
        "what the callback does on a measuring step (step loop through the observation "
        "proxies, a gradient hook on every step output, gates recomputed, norms summed):",
        "",
        "| cell | normal step | step loop | measuring step | measuring / normal |",
        "| --- | --- | --- | --- | --- |",
    ]
    for cell, t in overheads["steps"].items():
        lines.append(
            f"| {cell} | {t['normal']:.1f} ms | {t['loop']:.1f} ms | {t['measured']:.1f} ms | "
            f"{t['measured'] / t['normal']:.2f}x |"
        )
    lines += [
        "",
        "The difference between the last two columns is the measurement itself; the one "
        "between the first two is leaving the fused kernel (on CPU, torch's fused GRU and RNN "
        "kernels are not always faster than the step loop, hence ratios near or below 1). On "
        "every other step the callback's only work is `global_step % every_n_steps` in "
        f"`on_train_batch_start`: {overheads['idle_us']:.2f} µs per step here; the layers run "
        "their fused kernels untouched. With `every_n_steps=50` a run slows by about "
        "(ratio - 1) / 50.",
        "",
    ]
    return lines


# ---- main --------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cells", nargs="+", default=list(CELLS), choices=CELLS)
    parser.add_argument("--lags", nargs="+", type=int, default=list(LAGS))
    parser.add_argument("--exploding-epochs", type=int, default=3)
    parser.add_argument("--log-dir", default="/tmp/rnnkit_long_range")
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "vanishing_gradients.md")
    parser.add_argument("--images", type=Path, default=None, help="default: <output dir>/images")
    parser.add_argument(
        "--reuse-results",
        action="store_true",
        help="redraw figures and the doc from <log-dir>/results.json of an earlier run",
    )
    parser.add_argument(
        "--quick", action="store_true", help="tiny budget (1 epoch, lags 10 and 100), doc in /tmp"
    )
    parser.add_argument(
        "overrides", nargs="*", help="extra Hydra overrides for the grid, e.g. trainer.max_epochs=5"
    )
    args = parser.parse_args()
    if args.quick:
        args.lags = [10, FIGURE_LAG]
        args.exploding_epochs = 1
        args.overrides = ["trainer.max_epochs=1", "data.train_size=256", *args.overrides]
        if args.output == ROOT / "docs" / "vanishing_gradients.md":
            args.output = Path(args.log_dir) / "quick" / "vanishing_gradients.md"
    args.images = args.images or args.output.parent / "images"
    return args


def save_results(path: Path, grid, exploding, overheads, elapsed: float) -> None:
    def encode(result):
        return {**result, "flow": [s.to_json() for s in result["flow"]]}

    data = {
        "grid": [[row, lag, encode(result)] for (row, lag), result in grid.items()],
        "exploding": {label: encode(result) for label, result in exploding.items()},
        "overheads": overheads,
        "elapsed": elapsed,
        "machine": machine_line(),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


def load_results(path: Path):
    data = json.loads(path.read_text())

    def decode(result):
        return {**result, "flow": [GradientFlowSnapshot.from_json(s) for s in result["flow"]]}

    grid = {(row, lag): decode(result) for row, lag, result in data["grid"]}
    exploding = {label: decode(result) for label, result in data["exploding"].items()}
    return grid, exploding, data["overheads"], data["elapsed"], data["machine"]


def main() -> None:
    args = parse_args()
    torch.set_num_threads(1)
    cache = Path(args.log_dir) / "results.json"
    if args.reuse_results:
        grid, exploding, overheads, elapsed, machine = load_results(cache)
        args.lags = sorted({lag for _, lag in grid})
    else:
        started = time.perf_counter()
        grid = run_grid(args)
        exploding = run_exploding(args)
        overheads = measure_overheads(args)
        elapsed = time.perf_counter() - started
        save_results(cache, grid, exploding, overheads, elapsed)
        machine = machine_line()
    rows = list(dict.fromkeys(row for row, _ in grid))
    figure_lag = FIGURE_LAG if FIGURE_LAG in args.lags else args.lags[-1]
    draw_figures(grid, exploding, rows, figure_lag, args.images)
    write_doc(args, grid, exploding, overheads, elapsed, machine)


if __name__ == "__main__":
    main()
