"""Gradient flow through time: the recorded ||dL/dh_t|| against autograd on a hand-run unroll.

The oracle runs each sequence on its own, step by step through the layer's own cells (their
``forward``), keeps every ``h_t`` with ``retain_grad`` and backpropagates the same loss; the
norm at ``t`` is then taken over the sequences alive at ``t``. Everything in float64.
"""

from __future__ import annotations

import itertools
import json
import math

import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.loggers import Logger, TensorBoardLogger
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import rnnkit
from rnnkit.callbacks import GradientFlowCallback, GradientFlowRecorder, GradientFlowSnapshot
from rnnkit.cells import FeedForwardCell
from rnnkit.data.sentiment.long_range import LongRangeDataModule
from rnnkit.tasks.sentiment import SentimentTask

INPUT_SIZE, HIDDEN_SIZE = 3, 4
LENGTHS = {"equal": (5, 5, 5), "variable": (3, 5, 2)}
LAYERS = {"rnn": rnnkit.RNN, "lstm": rnnkit.LSTM, "gru": rnnkit.GRU}


def make_case(kind, num_layers, bidirectional, lengths, weight_scale=1.0):
    torch.manual_seed(1)
    layer = LAYERS[kind](
        INPUT_SIZE, HIDDEN_SIZE, num_layers, bidirectional=bidirectional, batch_first=True
    ).double()
    with torch.no_grad():
        for parameter in layer.parameters():
            parameter.mul_(weight_scale)
    steps = max(lengths)
    x = torch.randn(len(lengths), steps, INPUT_SIZE, dtype=torch.float64)
    directions = 2 if bidirectional else 1
    readout = torch.randn(len(lengths), steps, directions * HIDDEN_SIZE, dtype=torch.float64)
    final_readout = torch.randn(directions * num_layers, len(lengths), HIDDEN_SIZE).double()
    return layer, x, torch.tensor(lengths), readout, final_readout


def layer_loss(layer, x, lengths, readout, final_readout):
    """Output read at every real step, plus every final ``h_n``: all paths get gradient."""
    output, h_n = layer(x, lengths=lengths)
    h_n = h_n[0] if isinstance(h_n, tuple) else h_n
    return (output * readout).sum() + (h_n * final_readout).sum()


def hand_unrolled(layer, x, lengths, readout, final_readout):
    """The oracle: per-layer ``||dL/dh_t||``, mean |h|, mean |c| and the raw gate values."""
    directions = 2 if layer.bidirectional else 1
    names = [
        f"l{k}" + ("_reverse" if d else "")
        for k in range(layer.num_layers)
        for d in range(directions)
    ]
    kept = {name: {} for name in names}  # name -> (n, t) -> (h_t, c_t or None, gates)
    loss = 0.0
    for n, length in enumerate(lengths.tolist()):
        layer_input = [x[n : n + 1, t] for t in range(length)]
        for k in range(layer.num_layers):
            outputs = []
            for d in range(directions):
                name = names[k * directions + d]
                cell = layer.cells[name]
                state = cell.initial_state(1, dtype=torch.float64)
                per_step = [None] * length
                for t in range(length) if d == 0 else reversed(range(length)):
                    gates = sigmoid_gates(cell, layer_input[t], state)
                    out, state = cell.advance(layer_input[t], state)
                    out.retain_grad()
                    per_step[t] = out
                    kept[name][n, t] = (out, state[1] if len(state) > 1 else None, gates)
                loss = loss + (state[0] * final_readout[k * directions + d, n]).sum()
                outputs.append(per_step)
            layer_input = [torch.cat([o[t] for o in outputs], dim=-1) for t in range(length)]
        for t in range(length):
            loss = loss + (layer_input[t] * readout[n, t]).sum()
    loss.backward()
    steps = int(lengths.max())
    norms = {
        name: [
            math.sqrt(sum(float(h.grad.pow(2).sum()) for (_, s), (h, _, _) in v.items() if s == t))
            for t in range(steps)
        ]
        for name, v in kept.items()
    }
    mean_h = {name: _mean_abs([h for h, _, _ in v.values()]) for name, v in kept.items()}
    mean_c = {
        name: _mean_abs([c for _, c, _ in v.values()])
        for name, v in kept.items()
        if next(iter(v.values()))[1] is not None
    }
    gates = {name: [g for _, _, g in v.values()] for name, v in kept.items()}
    return norms, mean_h, mean_c, gates


def _mean_abs(tensors):
    return float(torch.cat([t.detach().flatten() for t in tensors]).abs().mean())


def sigmoid_gates(cell, x_t, state):
    """The cell's sigmoid gate values written out from its equations (LSTM i,f,o; GRU r,z)."""
    with torch.no_grad():
        if isinstance(cell, rnnkit.LSTMCell):
            pre = x_t @ cell.weight_ih.t() + cell.bias_ih + state[0] @ cell.weight_hh.t()
            i, f, _, o = (pre + cell.bias_hh).chunk(4, dim=1)
            return {"input": i.sigmoid(), "forget": f.sigmoid(), "output": o.sigmoid()}
        if isinstance(cell, rnnkit.GRUCell):
            xr, xz, _ = (x_t @ cell.weight_ih.t() + cell.bias_ih).chunk(3, dim=1)
            hr, hz, _ = (state[0] @ cell.weight_hh.t() + cell.bias_hh).chunk(3, dim=1)
            return {"reset": (xr + hr).sigmoid(), "update": (xz + hz).sigmoid()}
    return {}


CASES = list(itertools.product(LAYERS, (1, 2), (False, True), LENGTHS))


@pytest.mark.parametrize(("kind", "num_layers", "bidirectional", "lengths"), CASES)
def test_recorded_norms_equal_autograd_on_the_unrolled_cells(
    kind, num_layers, bidirectional, lengths
):
    case = make_case(kind, num_layers, bidirectional, LENGTHS[lengths], weight_scale=6.0)
    recorder = GradientFlowRecorder(case[0], saturation_threshold=0.05)
    with recorder:
        layer_loss(*case).backward()
    snapshot = recorder.snapshot(step=7)
    for parameter in case[0].parameters():
        parameter.grad = None
    norms, mean_h, mean_c, gates = hand_unrolled(*case)

    assert snapshot.step == 7
    assert set(snapshot.grad_norms) == set(norms)
    for name, expected in norms.items():
        assert snapshot.grad_norms[name] == pytest.approx(expected, rel=1e-9, abs=1e-12)
        assert snapshot.mean_abs_h[name] == pytest.approx(mean_h[name], rel=1e-9)
        ratio = snapshot.first_to_last_ratio()[name]
        assert ratio == pytest.approx(expected[0] / expected[-1], rel=1e-9)
    assert snapshot.mean_abs_c == pytest.approx(mean_c, rel=1e-9)
    for name, per_step in gates.items():
        if not per_step[0]:
            assert name not in snapshot.gate_saturation
            continue
        shares, hits, total = {}, 0, 0
        for gate in per_step[0]:
            values = torch.cat([g[gate].flatten() for g in per_step])
            saturated = int(((values < 0.05) | (values > 0.95)).sum())
            shares[gate] = saturated / values.numel()
            hits, total = hits + saturated, total + values.numel()
        shares["all"] = hits / total
        assert snapshot.gate_saturation[name] == pytest.approx(shares)
        assert 0 < shares["all"] < 1  # the scaled weights make the check meaningful
    assert case[0].uses_fused_kernel  # restored once the recorder stopped


def test_calls_are_laid_end_to_end_and_unreached_steps_are_zero():
    layer = rnnkit.GRU(INPUT_SIZE, HIDDEN_SIZE).double()
    x = torch.randn(6, 2, INPUT_SIZE, dtype=torch.float64)
    with GradientFlowRecorder(layer) as recorder:
        first, _ = layer(x[:2])
        second, _ = layer(x[2:])
        second[-1].sum().backward()  # the first call's outputs get no gradient
    norms = recorder.snapshot().grad_norms["l0"]
    assert len(norms) == 6
    assert norms[:2] == [0.0, 0.0] and all(v > 0 for v in norms[2:])


def test_a_cell_without_recurrence_passes_gradient_to_the_read_steps_only():
    layer = rnnkit.Recurrent(FeedForwardCell, INPUT_SIZE, HIDDEN_SIZE).double()
    x = torch.randn(4, 2, INPUT_SIZE, dtype=torch.float64)
    with GradientFlowRecorder(layer) as recorder:
        output, _ = layer(x)
        output[-1].pow(2).sum().backward()
    norms = recorder.snapshot().grad_norms["l0"]
    assert norms[:3] == [0.0, 0.0, 0.0]
    assert norms[3] == pytest.approx(float((2 * output[-1]).norm()))


def test_snapshot_json_round_trip_and_scalars():
    layer, *rest = make_case("lstm", 1, True, LENGTHS["variable"])
    with GradientFlowRecorder(layer) as recorder:
        layer_loss(layer, *rest).backward()
    snapshot = recorder.snapshot(step=3)
    again = GradientFlowSnapshot.from_json(json.loads(json.dumps(snapshot.to_json())))
    assert again == snapshot
    scalars = snapshot.scalars()
    for name in ("l0", "l0_reverse"):
        assert scalars[f"grad_flow/first_to_last_ratio/{name}"] == pytest.approx(
            snapshot.grad_norms[name][0] / snapshot.grad_norms[name][-1]
        )
        assert f"grad_flow/mean_abs_c/{name}" in scalars
        assert f"grad_flow/gate_saturation/{name}/forget" in scalars


class MemoryLogger(Logger):
    """Keeps every ``log_metrics`` call."""

    def __init__(self):
        super().__init__()
        self.logged: list[tuple[int, dict[str, float]]] = []

    name = "memory"
    version = 0

    def log_metrics(self, metrics, step=None):
        self.logged.append((step, dict(metrics)))

    def log_hyperparams(self, params, *args, **kwargs):
        pass


class FusedProbe(pl.Callback):
    """Records, for each training step, whether the layer ran its fused kernel."""

    def __init__(self):
        self.fused: list[bool] = []

    def on_before_backward(self, trainer, pl_module, loss):
        layer = pl_module.model.rnn
        self.fused.append(layer.uses_fused_kernel and "_loop_cells" not in layer.__dict__)


def tiny_task(datamodule, cell="rnnkit.LSTM", bidirectional=False):
    return SentimentTask(
        cell={"_target_": cell, "hidden_size": 6, "bidirectional": bidirectional},
        model={"embedding_dim": 5, "pooling": "last", "dropout": 0.0},
        data_spec=datamodule.spec,
        optimizer={"_target_": "torch.optim.Adam", "_partial_": True, "lr": 0.01},
    )


def test_callback_measures_only_every_n_steps_and_logs(tmp_path):
    datamodule = LongRangeDataModule(
        lag=6, train_size=40, val_size=8, test_size=8, batch_size=8, seed=0
    )
    datamodule.setup("fit")
    task = tiny_task(datamodule, bidirectional=True)
    callback = GradientFlowCallback(
        every_n_steps=2,
        max_steps_logged=2,
        figure_every_n_steps=2,
        history_file=str(tmp_path / "flow.json"),
    )
    probe, memory = FusedProbe(), MemoryLogger()
    trainer = pl.Trainer(
        max_steps=5,
        limit_val_batches=0,
        callbacks=[callback, probe],
        logger=[memory, TensorBoardLogger(tmp_path, name="tb")],
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
    )
    trainer.fit(task, datamodule=datamodule)

    assert probe.fused == [False, True, False, True, False]  # steps 0, 2, 4 measured
    assert [s.step for s in callback.history] == [2, 4]  # max_steps_logged=2 keeps the last
    assert task.model.rnn.uses_fused_kernel
    names = ["model.rnn.l0", "model.rnn.l0_reverse"]
    for snapshot in callback.history:
        assert list(snapshot.grad_norms) == names
        assert all(len(v) == 8 and all(x > 0 for x in v) for v in snapshot.grad_norms.values())
    logged = {step: m for step, m in memory.logged if "grad_flow/mean_abs_h/model.rnn.l0" in m}
    assert sorted(logged) == [0, 2, 4]
    assert logged[4] == callback.history[-1].scalars()
    assert set(logged[4]) >= {
        f"grad_flow/{what}/{name}"
        for what in ("first_to_last_ratio", "mean_abs_h", "mean_abs_c", "gate_saturation")
        for name in names
    }
    saved = json.loads((tmp_path / "flow.json").read_text())
    assert [GradientFlowSnapshot.from_json(s) for s in saved] == list(callback.history)
    (events_file,) = (tmp_path / "tb").rglob("events.out.tfevents.*")
    events = EventAccumulator(str(events_file), size_guidance={"images": 0}).Reload()
    assert set(events.Tags()["images"]) == {"grad_flow/norm_vs_time", "grad_flow/heatmap"}
    assert [e.step for e in events.Images("grad_flow/heatmap")] == [0, 2, 4]


def test_by_default_figures_are_drawn_once_when_training_ends(tmp_path):
    datamodule = LongRangeDataModule(lag=6, train_size=40, val_size=8, test_size=8, batch_size=8)
    datamodule.setup("fit")
    callback = GradientFlowCallback(every_n_steps=2)
    trainer = pl.Trainer(
        max_steps=5,
        limit_val_batches=0,
        callbacks=[callback],
        logger=TensorBoardLogger(tmp_path, name="tb"),
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
    )
    trainer.fit(tiny_task(datamodule), datamodule=datamodule)
    assert [s.step for s in callback.history] == [0, 2, 4]
    (events_file,) = (tmp_path / "tb").rglob("events.out.tfevents.*")
    events = EventAccumulator(str(events_file), size_guidance={"images": 0}).Reload()
    for tag in ("grad_flow/norm_vs_time", "grad_flow/heatmap"):
        assert [e.step for e in events.Images(tag)] == [4]  # the last snapshot, once
    scalars = events.Scalars("grad_flow/first_to_last_ratio/model.rnn.l0")
    assert [e.step for e in scalars] == [0, 2, 4]  # scalars at every measuring step


@pytest.mark.parametrize(
    ("argument", "value", "message"),
    [
        ("every_n_steps", 0, "every_n_steps: expected a positive integer"),
        ("max_steps_logged", True, "max_steps_logged: expected a positive integer"),
        ("figure_every_n_steps", 0, "figure_every_n_steps: expected a positive integer"),
        ("saturation_threshold", 0.7, r"saturation_threshold: expected a number in \(0, 0.5\)"),
    ],
)
def test_bad_arguments_name_what_is_wrong(argument, value, message):
    with pytest.raises(ValueError, match=message):
        GradientFlowCallback(**{argument: value})


def test_recorder_refuses_a_model_without_recurrent_layers():
    with pytest.raises(ValueError, match="layer_or_model"):
        GradientFlowRecorder(torch.nn.Linear(2, 2)).start()
