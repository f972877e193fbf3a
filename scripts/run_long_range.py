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
The doc's prose and tables are written by scripts/vanishing_gradients_doc.py.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
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
from vanishing_gradients_doc import (
    CHRONO_MAX,
    CHRONO_ROW,
    EXPLODING,
    FIGURE_LAG,
    machine_line,
    write_doc,
)

ROOT = Path(__file__).resolve().parents[1]
CELLS = ("rnn", "lstm", "gru")
LAGS = (10, 50, 100, 200)
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
