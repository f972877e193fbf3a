"""The translation experiment end to end: fast_dev_run, train then predict."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest
import torch

from hydra_helpers import compose_run, one_thread
from rnnkit.cli.checkpoint import load_checkpoint, restore_task
from rnnkit.cli.predict import predict
from rnnkit.cli.train import train
from rnnkit.data.translation.builtin import GERMAN_MORPHEMES

SMALL_DATA = ["data.max_number=1999", "data.num_val=64", "data.num_test=64"]
QUIET = ["trainer.enable_progress_bar=false", "callbacks.model_summary=null"]


@pytest.fixture(autouse=True)
def _one_thread():
    with one_thread():
        yield


# ---- the experiment under fast_dev_run ---------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        [],
        [
            "model.attention=none",
            "model.input_feeding=false",
            "model.teacher_forcing={kind: linear, start: 1.0, end: 0.5, decay_steps: 3, "
            "interval: step}",
        ],
        ["cell=lstm", "cell.bidirectional=false", "model.attention=dot"],
        [
            "cell=feedforward",
            "cell.bidirectional=false",
            "+model.decoder._target_=rnnkit.GRU",
            "+model.decoder.hidden_size=48",
            "model.attention=general",
        ],
    ],
    ids=["gru-additive", "no-attention-step-schedule", "lstm-dot", "feedforward-encoder"],
)
def test_experiment_runs_under_fast_dev_run(tmp_path, options):
    result = train(
        compose_run(
            ["experiment=translation", *SMALL_DATA, *options, "debug=fast_dev_run"], tmp_path
        )
    )
    assert result is not None and math.isfinite(result)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["+model.decoder.bidirectional=true"], "model.decoder.bidirectional: a decoder generates"),
        (
            ["model.teacher_forcing.kind=exponential"],
            "model.teacher_forcing.end: not used by kind='exponential'",
        ),
        (
            ["model.teacher_forcing={kind: constant, interval: batch}"],
            "model.teacher_forcing.interval: expected one of",
        ),
        (["+model.teacher_forcing.ratio=0.5"], "model.teacher_forcing.ratio: not a schedule key"),
        (["model.attention=luong"], "attention: expected one of"),
        (["+model.decoder.hidden_size=0"], "model.decoder.hidden_size"),
    ],
)
def test_bad_model_options_are_named(tmp_path, overrides, message):
    with pytest.raises(ValueError, match=message):
        train(
            compose_run(
                ["experiment=translation", *SMALL_DATA, *overrides, "debug=fast_dev_run"], tmp_path
            )
        )


# ---- a short real training, then prediction ----------------------------------------------------


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Two short epochs with a decaying teacher-forcing ratio, TensorBoard and CSV logs."""
    folder = tmp_path_factory.mktemp("translation")
    overrides = [
        "experiment=translation",
        *SMALL_DATA,
        *QUIET,
        "logger=many",
        "trainer.max_epochs=2",
        "+trainer.limit_train_batches=8",
        "model.teacher_forcing={kind: linear, start: 1.0, end: 0.8, decay_steps: 2}",
    ]
    with one_thread():
        train(compose_run(overrides, folder))
    return folder


def test_teacher_forcing_ratio_is_logged_each_epoch(trained):
    with open(trained / "csv" / "metrics.csv", newline="") as file:
        rows = [r for r in csv.DictReader(file) if r.get("train/teacher_forcing_ratio")]
    ratios = [float(r["train/teacher_forcing_ratio"]) for r in rows]
    assert ratios == pytest.approx([1.0, 0.9])


def test_validation_logs_bleu_free_running_loss_samples_and_attention(trained):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    metrics = json.loads((trained / "metrics.json").read_text())
    for name in (
        "val/loss",
        "val/loss_free_running",
        "val/bleu",
        "val/exact_match",
        "test/bleu",
        "test/exact_match",
    ):
        assert math.isfinite(metrics[name]), name
    assert 0 <= metrics["val/bleu"] <= 100 and 0 <= metrics["val/exact_match"] <= 1
    images, tensors = set(), set()
    for path in trained.glob("events.out.tfevents.*"):  # one file per trainer.fit / test
        events = EventAccumulator(str(path), size_guidance={"images": 0, "tensors": 0})
        events.Reload()
        images.update(events.Tags()["images"])
        tensors.update(events.Tags()["tensors"])
    assert "val/attention" in images
    assert any(tag.startswith("val/samples") for tag in tensors)


def predict_lines(folder: Path, text: str, *options: str) -> list[str]:
    cfg = compose_run(
        [f"ckpt_path={folder / 'checkpoints' / 'last.ckpt'}", f"input='{text}'", *options],
        folder,
        config_name="predict",
    )
    return predict(cfg)


@pytest.mark.parametrize(
    "options",
    [[], ["options.beam_size=3", "options.length_penalty=0.8"], ["+options.beam_size=3"]],
    ids=["greedy", "beam", "beam_with_plus"],
)
def test_predict_translates_digits_and_words(trained, options):
    lines = predict_lines(trained, "34", *options)
    source, arrow, translation = lines[0].partition(" → ")
    assert source == "thirty - four" and arrow
    assert set(translation.split()) <= set(GERMAN_MORPHEMES)
    lines = predict_lines(trained, "two hundred and five", *options)
    assert lines[0].startswith("two hundred and five → ")


def test_predict_names_unknown_source_words(trained):
    (line,) = predict_lines(trained, "hello forty world")
    assert line.startswith("hello forty world → ")
    assert line.endswith("[not in the training vocabulary: hello, world]")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["+options.temperature=0.5"], "temperature: not a translation option"),
        (["+options.beam_size=0"], "beam_size: expected a positive integer"),
        (["+options.length_penalty=0.5"], "length_penalty: only used by beam search"),
    ],
)
def test_bad_prediction_options_are_named(trained, options, message):
    with pytest.raises(ValueError, match=message):
        predict_lines(trained, "34", *options)


def test_decoder_inherits_the_cell_without_bidirectional(trained):
    task = restore_task(load_checkpoint(trained / "checkpoints" / "last.ckpt"))
    assert task.model.encoder.bidirectional and not task.model.decoder.rnn.bidirectional
    assert type(task.model.decoder.rnn) is type(task.model.encoder)
    assert task.model.decoder.rnn.hidden_size == task.hparams.cell["hidden_size"]


# ---- the order-blind baseline ------------------------------------------------------------------


def run_test_metrics(folder: Path, *overrides: str) -> dict[str, float]:
    train(
        compose_run(
            ["experiment=translation", *QUIET, "logger=csv", "trainer.max_epochs=4", *overrides],
            folder,
        )
    )
    return json.loads((folder / "metrics.json").read_text())


@pytest.mark.slow
def test_recurrent_encoder_beats_a_bag_of_words_encoder(tmp_path):
    """German reorders the tens and units and the value lies in the word order: a GRU encoder
    with attention translates nearly everything, an encoder without recurrence (each word alone,
    attended to as a bag, plus the last word's features through the bridge) cannot."""
    torch.manual_seed(0)
    recurrent = run_test_metrics(tmp_path / "gru")
    blind = run_test_metrics(
        tmp_path / "ff",
        "cell=feedforward",
        "cell.hidden_size=64",
        "cell.bidirectional=false",
        "+model.decoder._target_=rnnkit.GRU",
    )
    assert recurrent["test/exact_match"] > 0.95
    assert recurrent["test/exact_match"] > blind["test/exact_match"] + 0.2
    assert recurrent["test/bleu"] > blind["test/bleu"] + 10
