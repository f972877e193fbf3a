"""Truncated BPTT (rnnkit.tasks.tbptt) in the language-model and forecasting tasks.

Oracles: plain autograd over the whole sequence (k >= L), the same computation written with
explicit ``detach`` at the chunk boundaries (k < L), rows run one by one from zeros at their
document starts, and a copy-with-delay stream that only a carried state can predict.
"""

from __future__ import annotations

import copy
import logging
import math
import warnings

import pytest
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from hydra_helpers import compose_run, one_thread
from rnnkit.cli.train import train
from rnnkit.data.language_modeling.datamodule import LanguageModelingDataModule
from rnnkit.layers.standard import GRU, LSTM
from rnnkit.patterns._sequence import last_from_state
from rnnkit.patterns.forecaster import Forecaster
from rnnkit.patterns.language_model import detach_state
from rnnkit.tasks.forecasting import ForecastingTask
from rnnkit.tasks.language_modeling import LanguageModelingTask
from rnnkit.tasks.tbptt import (
    TBPTTSettings,
    TruncatedHistory,
    chunk_slices,
    run_resetting,
)

CELLS = {"lstm": "rnnkit.LSTM", "gru": "rnnkit.GRU"}
LAYERS = {"lstm": LSTM, "gru": GRU}
VOCAB = 7
SGD = {"_target_": "torch.optim.SGD", "_partial_": True, "lr": 0.1}


@pytest.fixture(autouse=True)
def _quiet_one_thread():
    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    with one_thread(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def lm_task(cell: str = "lstm", hidden: int = 6, optimizer=SGD, scheduler=None, **model):
    return LanguageModelingTask(
        cell={"_target_": CELLS[cell], "hidden_size": hidden},
        model={"embedding_dim": 4, **model},
        data_spec={"vocab_size": VOCAB},
        optimizer=optimizer,
        scheduler=scheduler,
    )


def trainer(**options) -> pl.Trainer:
    defaults = dict(
        max_epochs=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        gradient_clip_val=None,
        limit_val_batches=0,
    )
    return pl.Trainer(**{**defaults, **options})


def loader(batches: list[dict]) -> DataLoader:
    return DataLoader(batches, batch_size=None)


def random_batch(rows: int, length: int, seed: int = 0) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    tokens = torch.randint(1, VOCAB, (rows, length + 1), generator=generator)
    return {"tokens": tokens[:, :-1], "targets": tokens[:, 1:]}


class GradientSpy(pl.Callback):
    """The gradients each optimizer step applies (after clipping), and the LR."""

    def __init__(self) -> None:
        self.gradients: list[dict[str, torch.Tensor]] = []
        self.learning_rates: list[float] = []

    def on_before_optimizer_step(self, trainer, module, optimizer) -> None:
        self.gradients.append(
            {n: p.grad.clone() for n, p in module.named_parameters() if p.grad is not None}
        )
        self.learning_rates.append(optimizer.param_groups[0]["lr"])


def first_step_gradients(task, batch, **trainer_options) -> dict[str, torch.Tensor]:
    spy = GradientSpy()
    trainer(callbacks=[spy], precision="64-true", max_steps=1, **trainer_options).fit(
        task, train_dataloaders=loader([batch])
    )
    return spy.gradients[0]


def autograd_gradients(model, batch, steps: int | None) -> dict[str, torch.Tensor]:
    """The oracle: autograd over the batch, with the state detached every ``steps`` steps
    (None: never), each chunk's mean loss weighted by 1 / number of chunks."""
    model = model.double()
    length = batch["tokens"].shape[1]
    pieces = chunk_slices(length, steps) if steps else [slice(0, length)]
    state, total = None, 0.0
    for piece in pieces:
        logits, state = model(batch["tokens"][:, piece], state)
        loss = F.cross_entropy(logits.transpose(1, 2), batch["targets"][:, piece])
        total = total + loss / len(pieces)
        state = detach_state(state)
    total.backward()
    return {f"model.{n}": p.grad for n, p in model.named_parameters()}


# ---- chunking and resets -------------------------------------------------------------------


@pytest.mark.parametrize("length", [1, 5, 12, 13])
@pytest.mark.parametrize("steps", [1, 4, 12, 20])
@pytest.mark.parametrize("align_end", [False, True])
def test_chunk_slices_tile_the_sequence_in_order(length, steps, align_end):
    pieces = chunk_slices(length, steps, align_end=align_end)
    covered = [i for piece in pieces for i in range(length)[piece]]
    assert covered == list(range(length))
    sizes = [piece.stop - piece.start for piece in pieces]
    assert len(pieces) == math.ceil(length / steps) and all(1 <= s <= steps for s in sizes)
    full = sizes[1:] if align_end else sizes[:-1]
    assert all(s == steps for s in full)


@pytest.mark.parametrize(
    ("length", "steps", "name"), [(0, 2, "length"), (4, 0, "steps"), (4, 1.5, "steps")]
)
def test_chunk_slices_refuse_bad_sizes(length, steps, name):
    with pytest.raises(ValueError, match=name):
        chunk_slices(length, steps)


def components(state) -> tuple[torch.Tensor, ...]:
    return state if isinstance(state, tuple) else (state,)


def row_of(state, row: int):
    """Row ``row`` of a state in the ``hx`` layout, as a batch of one (None stays None)."""
    if state is None:
        return None
    rows = tuple(s[:, row : row + 1] for s in components(state))
    return rows if isinstance(state, tuple) else rows[0]


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("carried", [False, True])
def test_run_resetting_equals_each_row_restarted_from_zeros_at_its_document_starts(cell, carried):
    torch.manual_seed(1)
    layer = LAYERS[cell](3, 5, batch_first=True).double()
    inputs = torch.randn(4, 9, 3, dtype=torch.float64)
    starts = torch.zeros(4, 9, dtype=torch.bool)
    starts[1, 0] = starts[2, 3] = starts[2, 7] = starts[3, 5] = True
    state = None
    if carried:
        state = tuple(torch.randn(1, 4, 5, dtype=torch.float64) for _ in range(2))
        state = state if cell == "lstm" else state[0]
    outputs, final = run_resetting(layer, inputs, state, starts)
    for row in range(4):
        row_state, pieces = row_of(state, row), []
        bounds = sorted({0, *starts[row].nonzero().flatten().tolist(), 9})
        for start, end in zip(bounds, bounds[1:]):
            if starts[row, start]:
                row_state = None
            out, row_state = layer(inputs[row : row + 1, start:end], row_state)
            pieces.append(out)
        torch.testing.assert_close(outputs[row : row + 1], torch.cat(pieces, 1), rtol=0, atol=1e-12)
        for got, expected in zip(components(row_of(final, row)), components(row_state)):
            torch.testing.assert_close(got, expected, rtol=0, atol=1e-12)


def test_run_resetting_refuses_a_mask_of_another_shape():
    layer = GRU(2, 3, batch_first=True)
    with pytest.raises(ValueError, match="starts"):
        run_resetting(layer, torch.randn(2, 4, 2), None, torch.ones(2, 3, dtype=torch.bool))


class Documents(LanguageModelingDataModule):
    DOCUMENTS = ["abcdefg", "", "hij", "klmnopqrstu", "v", "wxyzABCDEFGHIJ", "KLM"]

    def load_split(self, split):
        return [{"name": str(i), "text": t} for i, t in enumerate(self.DOCUMENTS)]


@pytest.mark.parametrize("batch_size", [1, 2, 3])
@pytest.mark.parametrize("sequence_length", [2, 5, 40])
def test_stream_batches_mark_the_first_token_of_every_document(batch_size, sequence_length):
    data = Documents(batch_size=batch_size, sequence_length=sequence_length)
    data.setup()
    batches = data.stream_batches("train")
    tokens = torch.cat([b["tokens"] for b in batches], dim=1).flatten()
    starts = torch.cat([b["document_starts"] for b in batches], dim=1).flatten()
    first_tokens, offset = set(), 0
    for text in Documents.DOCUMENTS:
        if text:
            first_tokens.add(offset)
        offset += len(text)
    assert starts.nonzero().flatten().tolist() == sorted(i for i in first_tokens if i < len(starts))
    text = "".join(Documents.DOCUMENTS)
    assert data.decode_text(tokens) == text[: len(tokens)]


# ---- k >= L is full BPTT; k < L is the detached computation -------------------------------


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("steps", [12, 30])
def test_tbptt_with_chunks_as_long_as_the_batch_equals_full_bptt(cell, steps):
    task = lm_task(cell, tbptt_steps=steps, tbptt_gradient_clip_val=None)
    oracle = autograd_gradients(copy.deepcopy(task.model), random_batch(3, 12), steps=None)
    gradients = first_step_gradients(task, random_batch(3, 12))
    assert gradients.keys() == oracle.keys()
    for name in oracle:
        torch.testing.assert_close(gradients[name], oracle[name], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize(("steps", "chunks"), [(4, 3), (5, 3)])
def test_shorter_chunks_cut_the_gradient_at_their_boundaries(cell, steps, chunks):
    """One step after all chunks (accumulated) = autograd with detach at the boundaries."""
    batch = random_batch(3, 12)
    task = lm_task(
        cell, tbptt_steps=steps, tbptt_gradient_clip_val=None, tbptt_accumulate_chunks=chunks
    )
    truncated = autograd_gradients(copy.deepcopy(task.model), batch, steps=steps)
    full = autograd_gradients(copy.deepcopy(task.model), batch, steps=None)
    gradients = first_step_gradients(task, batch)
    for name in truncated:
        torch.testing.assert_close(gradients[name], truncated[name], rtol=1e-12, atol=1e-14)
    recurrent = "model.rnn.weight_hh_l0"
    assert not torch.allclose(gradients[recurrent], full[recurrent], rtol=1e-6, atol=1e-9)


def forecaster(strategy: str, hidden: int = 5) -> Forecaster:
    decoder = GRU(1, hidden, batch_first=True) if strategy == "autoregressive" else None
    return Forecaster(GRU(2, hidden, batch_first=True), 3, 1, strategy, decoder).double()


@pytest.mark.parametrize("strategy", ["direct", "autoregressive"])
@pytest.mark.parametrize("steps", [4, 7, 11, 30])
def test_truncated_history_keeps_the_forecast_and_cuts_gradients_steps_back(strategy, steps):
    torch.manual_seed(2)
    model = forecaster(strategy)
    truncated = copy.deepcopy(model)
    handle = TruncatedHistory(steps).install(truncated.encoder)
    history = torch.randn(4, 11, 2, dtype=torch.float64)
    forecast = truncated(history)
    torch.testing.assert_close(forecast, model(history), rtol=0, atol=1e-12)
    forecast.square().sum().backward()
    if steps >= 11 or strategy == "direct":  # oracle written out (direct) or full BPTT
        encoder, prefix = model.encoder, max(11 - steps, 0)
        state = None
        if prefix:
            _, state = encoder(history[:, :prefix])
        _, state = encoder(history[:, prefix:], detach_state(state))
        if strategy == "direct":
            expected = model.head(last_from_state(state, 1)).view(4, 3, 1)
        else:
            expected = model(history)
        expected.square().sum().backward()
        for (name, p), q in zip(model.named_parameters(), truncated.parameters()):
            torch.testing.assert_close(q.grad, p.grad, rtol=1e-10, atol=1e-12, msg=name)
    handle.remove()
    torch.testing.assert_close(truncated(history), forecast, rtol=0, atol=1e-12)


def test_truncated_history_refuses_bidirectional_layers_and_padded_histories():
    with pytest.raises(ValueError, match="cell.bidirectional"):
        TruncatedHistory(3).install(GRU(2, 4, batch_first=True, bidirectional=True))
    layer = GRU(2, 4, batch_first=True)
    TruncatedHistory(3).install(layer)
    with pytest.raises(ValueError, match="lengths"):
        layer(torch.randn(2, 6, 2), lengths=torch.tensor([6, 4]))


FORECAST_SPEC = {
    "num_features": 2,
    "num_targets": 1,
    "horizon": 3,
    "num_covariates": 0,
    "input_length": 11,
    "target_indices": [0],
    "feature_names": ["y", "x"],
    "target_names": ["y"],
    "target_mean": [0.0],
    "target_std": [1.0],
}


def forecasting_task(**model) -> ForecastingTask:
    return ForecastingTask(
        cell={"_target_": "rnnkit.GRU", "hidden_size": 4},
        model={"strategy": "direct", **model},
        data_spec=FORECAST_SPEC,
        optimizer=SGD,
    )


def test_the_forecasting_task_truncates_its_encoder_with_tbptt_steps():
    torch.manual_seed(3)
    full, truncated = forecasting_task(), forecasting_task(tbptt_steps=4)
    truncated.load_state_dict(full.state_dict())
    history = torch.randn(2, 11, 2)
    torch.testing.assert_close(truncated(history), full(history))
    for task in (full, truncated):
        task(history).sum().backward()
    weight = "model.forecaster.encoder.weight_hh_l0"
    grads = [dict(t.named_parameters())[weight].grad for t in (full, truncated)]
    assert not torch.allclose(*grads)


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ({"tbptt_steps": 0}, "model.tbptt_steps"),
        ({"tbptt_steps": True}, "model.tbptt_steps"),
        ({"tbptt_steps": "10"}, "model.tbptt_steps"),
        ({"tbptt_steps": 4, "tbptt_gradient_clip_val": 1.0}, "model.tbptt_gradient_clip_val"),
    ],
)
def test_the_forecasting_task_refuses_bad_tbptt_options(model, message):
    with pytest.raises(ValueError, match=message):
        forecasting_task(**model)


# ---- the state carried across chunks and batches -------------------------------------------

DELAY, CHUNK, SYMBOLS = 3, 8, 4


def copy_stream(rows: int, length: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Random symbols 1..4; ``target_t = token_{t - 3}`` (a row's first targets wrap)."""
    generator = torch.Generator().manual_seed(seed)
    tokens = torch.randint(1, SYMBOLS + 1, (rows, length), generator=generator)
    return tokens, tokens.roll(DELAY, dims=1)


def stream_loader(tokens, targets, length: int) -> DataLoader:
    columns = range(0, tokens.shape[1], length)
    return loader(
        [
            {"tokens": tokens[:, c : c + length], "targets": targets[:, c : c + length]}
            for c in columns
        ]
    )


@pytest.mark.parametrize("carry", [True, False], ids=["carried", "reset_every_chunk"])
def test_only_a_carried_state_learns_a_delay_that_crosses_chunk_boundaries(carry):
    """Chunks of 8, delay 3: the first 3 targets of each chunk are tokens of the previous chunk
    (or batch). Trained on batches of 2 chunks with the state carried, the LSTM predicts them;
    with the state reset at every chunk (batches of one chunk, carry_state=false) they stay at
    chance (1/4), while the within-chunk targets are learnt either way."""
    torch.manual_seed(0)
    task = LanguageModelingTask(
        cell={"_target_": "rnnkit.LSTM", "hidden_size": 32},
        model={"embedding_dim": 8, "carry_state": carry, "tbptt_steps": CHUNK},
        data_spec={"vocab_size": SYMBOLS + 1},
        optimizer={"_target_": "torch.optim.Adam", "_partial_": True, "lr": 0.03},
    )
    batch_length = 2 * CHUNK if carry else CHUNK
    tokens, targets = copy_stream(32, 200 * CHUNK, seed=0)
    fit = trainer()
    fit.fit(task, train_dataloaders=stream_loader(tokens, targets, batch_length))
    assert fit.global_step == 200  # one optimizer step per chunk
    tokens, targets = copy_stream(32, 20 * CHUNK, seed=1)
    (metrics,) = trainer(limit_val_batches=None).validate(
        task, stream_loader(tokens, targets, batch_length), verbose=False
    )
    task.eval()
    correct, state = [], None
    with torch.no_grad():
        for piece in chunk_slices(tokens.shape[1], CHUNK):
            logits, state = task(tokens[:, piece], state if carry else None)
            correct.append(logits.argmax(-1) == targets[:, piece])
    correct = torch.stack(correct[1:], dim=1).float()  # (rows, chunks, CHUNK)
    across, within = correct[..., :DELAY].mean(), correct[..., DELAY:].mean()
    assert within > 0.95
    if carry:
        assert across > 0.95 and metrics["val/loss"] < 0.1
    else:
        assert abs(across - 1 / SYMBOLS) < 0.08
        assert metrics["val/loss"] > 0.8 * DELAY / CHUNK * math.log(SYMBOLS)


class CarriedSpy(pl.Callback):
    def __init__(self) -> None:
        self.seen: list[tuple[int, bool]] = []

    def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
        self.seen.append((trainer.current_epoch, module._carried["train"] is not None))


def test_the_carried_state_resets_at_every_epoch_start_and_on_loading_a_checkpoint():
    task = lm_task(tbptt_steps=2)
    spy = CarriedSpy()
    trainer(max_epochs=2, callbacks=[spy]).fit(
        task, train_dataloaders=loader([random_batch(2, 6, seed) for seed in range(3)])
    )
    assert spy.seen == [(epoch, batch > 0) for epoch in (0, 1) for batch in range(3)]
    assert task._carried["train"] is not None
    task.on_load_checkpoint({})
    assert all(state is None for state in task._carried.values())


def evaluate_loss(task, batches) -> float:
    (metrics,) = trainer(limit_val_batches=None).validate(task, loader(batches), verbose=False)
    return metrics["val/loss"]


@pytest.mark.parametrize("steps", [None, 2])
def test_a_document_start_in_every_row_equals_starting_the_batch_from_zeros(steps):
    batches = [random_batch(3, 6, seed) for seed in range(2)]
    marked = [dict(b, document_starts=torch.zeros(3, 6, dtype=torch.bool)) for b in batches]
    marked[1]["document_starts"][:, 0] = True
    carried = lm_task(tbptt_steps=steps)
    reset = lm_task(tbptt_steps=steps, carry_state=False)
    ignoring = lm_task(tbptt_steps=steps, reset_at_document_starts=False)
    for task in (reset, ignoring):
        task.load_state_dict(carried.state_dict())
    assert evaluate_loss(carried, marked) == pytest.approx(evaluate_loss(reset, batches), 1e-6)
    assert evaluate_loss(ignoring, marked) == pytest.approx(evaluate_loss(carried, batches), 1e-6)
    assert evaluate_loss(carried, marked) != pytest.approx(evaluate_loss(carried, batches), 1e-4)


# ---- optimisation: steps, accumulation, clipping, schedulers ------------------------------


@pytest.mark.parametrize(("accumulate", "steps"), [(1, 8), (2, 4), (3, 3)])
def test_one_optimizer_step_per_chunk_or_per_accumulated_chunks(accumulate, steps):
    """2 batches x 4 chunks; a remainder of chunks is stepped at the epoch end."""
    task = lm_task(tbptt_steps=3, tbptt_accumulate_chunks=accumulate)
    fit = trainer()
    fit.fit(task, train_dataloaders=loader([random_batch(2, 12, s) for s in range(2)]))
    assert fit.global_step == steps


class UpdateSpy(pl.Callback):
    """The parameter change of each training batch (one chunk, so one SGD step)."""

    def __init__(self) -> None:
        self.updates: list[list[torch.Tensor]] = []

    def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
        self.before = [p.detach().clone() for p in module.parameters()]

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        after = [p.detach() for p in module.parameters()]
        self.updates.append([b - a for a, b in zip(after, self.before)])


@pytest.mark.parametrize("algorithm", ["norm", "value"])
@pytest.mark.parametrize("clip", [1e-3, None])
def test_gradients_are_clipped_with_the_task_settings(algorithm, clip):
    """SGD with lr 1: each update is the clipped gradient (batches of one chunk)."""
    spy = UpdateSpy()
    task = lm_task(
        tbptt_steps=3,
        tbptt_gradient_clip_val=clip,
        tbptt_gradient_clip_algorithm=algorithm,
        optimizer={**SGD, "lr": 1.0},
    )
    batches = [random_batch(2, 3, seed) for seed in range(3)]
    trainer(callbacks=[spy], precision="64-true").fit(task, train_dataloaders=loader(batches))
    assert len(spy.updates) == 3
    norms = [torch.linalg.vector_norm(torch.cat([u.flatten() for u in us])) for us in spy.updates]
    largest = [max(u.abs().max() for u in us) for us in spy.updates]
    if clip is None:
        assert min(norms) > 1e-2  # unclipped, the gradients are far larger than 1e-3
    elif algorithm == "norm":
        assert max(norms) == pytest.approx(1e-3, rel=1e-5)  # torch divides by norm + 1e-6
    else:
        assert max(largest) == pytest.approx(1e-3, rel=1e-6)


STEP_LR = {"_target_": "torch.optim.lr_scheduler.StepLR", "_partial_": True, "step_size": 1}


@pytest.mark.parametrize(
    ("interval", "expected"),
    [("step", [0.1, 0.05, 0.025, 0.0125, 0.1 / 16, 0.1 / 32]), ("epoch", [0.1] * 3 + [0.05] * 3)],
)
def test_lr_schedulers_step_per_optimizer_step_or_per_epoch(interval, expected):
    spy = GradientSpy()
    scheduler = {**STEP_LR, "gamma": 0.5, "interval": interval}
    task = lm_task(tbptt_steps=2, scheduler=scheduler)
    trainer(max_epochs=2, callbacks=[spy]).fit(task, train_dataloaders=loader([random_batch(2, 6)]))
    assert spy.learning_rates == pytest.approx(expected)


def test_reduce_on_plateau_reads_its_monitored_metric():
    scheduler = {
        "_target_": "torch.optim.lr_scheduler.ReduceLROnPlateau",
        "_partial_": True,
        "monitor": "val/loss",
    }
    batches = loader([random_batch(2, 6)])
    trainer(max_epochs=2, limit_val_batches=None).fit(
        lm_task(tbptt_steps=2, scheduler=scheduler), batches, batches
    )
    with pytest.raises(ValueError, match="monitor"):
        trainer(max_epochs=1).fit(
            lm_task(tbptt_steps=2, scheduler={**scheduler, "monitor": "val/missing"}), batches
        )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"gradient_clip_val": 0.5}, "trainer.gradient_clip_val"),
        ({"accumulate_grad_batches": 2}, "trainer.accumulate_grad_batches"),
    ],
)
def test_trainer_options_lightning_refuses_in_manual_optimisation_are_named(options, message):
    with pytest.raises(ValueError, match=message):
        trainer(**options).fit(lm_task(tbptt_steps=2), loader([random_batch(2, 4)]))


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ({"tbptt_steps": 0}, "model.tbptt_steps"),
        ({"tbptt_steps": 2.5}, "model.tbptt_steps"),
        ({"tbptt_steps": 2, "tbptt_accumulate_chunks": 0}, "model.tbptt_accumulate_chunks"),
        ({"tbptt_steps": 2, "tbptt_gradient_clip_val": -1}, "model.tbptt_gradient_clip_val"),
        ({"tbptt_steps": 2, "tbptt_gradient_clip_val": "1"}, "model.tbptt_gradient_clip_val"),
        ({"tbptt_steps": 2, "tbptt_gradient_clip_val": True}, "model.tbptt_gradient_clip_val"),
        ({"tbptt_steps": 2, "tbptt_gradient_clip_algorithm": "l2"}, "algorithm"),
        ({"tbptt_steps": 2, "tbptt_chunk": 3}, "model.tbptt_chunk"),
    ],
)
def test_bad_tbptt_settings_are_refused_with_their_name(model, message):
    with pytest.raises(ValueError, match=message):
        TBPTTSettings.from_model_config(model)
    with pytest.raises(ValueError, match=message):
        lm_task(**model)


# ---- the experiment: runs, checkpoints and resumes -----------------------------------------

BUDGET = 120_000
SMALL = [
    "experiment=language_model_tbptt",
    f"data.max_train_chars={BUDGET}",
    f"data.max_val_chars={BUDGET}",
    f"data.max_test_chars={BUDGET}",
    "data.batch_size=4",
    "data.eval_batch_size=4",
    "data.sequence_length=20",
    "model.tbptt_steps=5",
    "cell.hidden_size=8",
    "model.embedding_dim=4",
    "model.sample_length=10",
    "trainer.enable_progress_bar=false",
    "+trainer.limit_train_batches=3",
    "+trainer.limit_val_batches=2",
    "+trainer.limit_test_batches=2",
    "logger=csv",
]


def test_the_experiment_refuses_trainer_clipping_with_a_clear_error(tmp_path):
    with pytest.raises(
        ValueError, match="trainer.gradient_clip_val.*model.tbptt_gradient_clip_val"
    ):
        train(
            compose_run([*SMALL, "trainer.gradient_clip_val=1.0", "debug=fast_dev_run"], tmp_path)
        )


def test_training_resumes_from_a_checkpoint_with_a_fresh_state(tmp_path):
    """The checkpoint holds weights and optimizer state, no carried state (weights_only
    loads it); resuming continues the optimizer step count from zeros."""
    first = tmp_path / "first"
    train(compose_run([*SMALL, "trainer.max_epochs=1", "test=false"], first))
    checkpoint = torch.load(first / "checkpoints" / "last.ckpt", weights_only=True)
    assert checkpoint["global_step"] == 3 * 4  # 3 batches of 4 chunks
    assert not any("carried" in key for key in checkpoint["state_dict"])
    resumed = tmp_path / "resumed"
    train(
        compose_run(
            [
                *SMALL,
                "trainer.max_epochs=2",
                f"ckpt_path={first / 'checkpoints' / 'last.ckpt'}",
            ],
            resumed,
        )
    )
    checkpoint = torch.load(resumed / "checkpoints" / "last.ckpt", weights_only=True)
    assert checkpoint["global_step"] == 2 * 3 * 4 and checkpoint["epoch"] == 1


@pytest.mark.parametrize("strategy", ["direct", "autoregressive"])
def test_the_forecasting_experiment_runs_with_tbptt_steps(tmp_path, strategy):
    overrides = [
        "experiment=forecasting",
        "data.input_length=40",
        "data.horizon=4",
        "cell.hidden_size=8",
        f"model.strategy={strategy}",
        "model.tbptt_steps=8",
        "debug=fast_dev_run",
    ]
    assert math.isfinite(train(compose_run(overrides, tmp_path)))


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_chunks_of_long_batches_train_exactly_like_short_batches(cell):
    """Batches of 12 steps in chunks of 4 (manual optimisation, the task clipping) end with the
    same weights as batches of 4 in Lightning's automatic optimisation (the Trainer clipping):
    the same steps, states carried (and reset at epochs and documents) the same way."""
    results = []
    for sequence_length, model, clip in ((12, {"tbptt_steps": 4}, None), (4, {}, 0.05)):
        data = Documents(batch_size=2, sequence_length=sequence_length)
        data.setup()
        torch.manual_seed(0)
        task = LanguageModelingTask(
            cell={"_target_": CELLS[cell], "hidden_size": 5},
            model={"embedding_dim": 3, "tbptt_gradient_clip_val": 0.05, **model},
            data_spec=data.spec,
            optimizer={"_target_": "torch.optim.SGD", "_partial_": True, "lr": 1.0},
        )
        fit = trainer(max_epochs=2, precision="64-true", gradient_clip_val=clip)
        fit.fit(task, datamodule=data)
        results.append((fit.global_step, task.state_dict()))
    (chunked_steps, chunked), (batched_steps, batched) = results
    assert chunked_steps == batched_steps == 2 * math.ceil(19 / 4)
    for name, value in batched.items():
        torch.testing.assert_close(chunked[name], value, rtol=1e-10, atol=1e-12, msg=name)
