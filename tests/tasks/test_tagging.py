"""The tagging experiment end to end: fast_dev_run, train then predict, bad options, baselines."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest
import torch

from hydra_helpers import compose_run, one_thread
from rnnkit.cli.checkpoint import load_checkpoint, restore_datamodule, restore_task
from rnnkit.cli.predict import predict
from rnnkit.cli.train import train
from rnnkit.tasks.tagging import TaggingTask

SMALL_DATA = ["data.num_train=800", "data.num_val=100", "data.num_test=100"]
QUIET = ["trainer.enable_progress_bar=false", "callbacks.model_summary=null"]


@pytest.fixture(autouse=True)
def _one_thread():
    with one_thread():
        yield


@pytest.mark.parametrize(
    "options",
    [
        [],
        ["model.crf=true", "data.tag_scheme=BIOES"],
        ["data.tagset=pos", "cell=gru"],
        ["cell=feedforward"],
    ],
    ids=["bio", "bioes-crf", "pos", "feedforward"],
)
def test_experiment_runs_under_fast_dev_run(tmp_path, options):
    overrides = ["experiment=tagging", *SMALL_DATA, *options, "debug=fast_dev_run"]
    result = train(compose_run(overrides, tmp_path))
    assert result is not None and math.isfinite(result)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One short epoch of the BiLSTM + CRF on BIOES tags: a checkpoint to predict with."""
    folder = tmp_path_factory.mktemp("tagging")
    overrides = [
        "experiment=tagging",
        *SMALL_DATA,
        *QUIET,
        "trainer.max_epochs=1",
        "model.crf=true",
        "data.tag_scheme=BIOES",
        "logger=csv",
        "test=false",
    ]
    with one_thread():
        train(compose_run(overrides, folder))
    return folder / "checkpoints" / "last.ckpt"


def predict_lines(checkpoint: Path, folder: Path, text: str, *options: str) -> list[str]:
    cfg = compose_run(
        [f"ckpt_path={checkpoint}", f"input='{text}'", *options], folder, config_name="predict"
    )
    return predict(cfg)


def test_predict_tags_a_raw_sentence(trained, tmp_path, capsys):
    sentence = "Anna Paris was in the news again ."
    lines = predict_lines(trained, tmp_path, sentence)
    assert len(lines) == 1 and capsys.readouterr().out.strip() == lines[0]
    tagged, entities = lines[0].split("\t")
    words, tags = zip(*(part.rsplit("/", 1) for part in tagged.split()))
    assert list(words) == sentence.split()  # the user's words, case kept
    checkpoint = load_checkpoint(trained)
    assert set(tags) <= set(restore_task(checkpoint).tag_names)
    assert tags[2:] == ("O",) * 6  # the neutral frame is learnt in one epoch
    assert entities.startswith("[") and entities.endswith("]")


def test_training_metrics_are_logged_per_epoch(trained):
    with open(trained.parent.parent / "csv" / "metrics.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    logged = [float(r["train/entity_f1"]) for r in rows if r.get("train/entity_f1")]
    assert len(logged) == 1 and 0 <= logged[0] <= 1
    assert any(r.get("train/acc") for r in rows)


def test_predict_reads_a_file_of_sentences(trained, tmp_path):
    path = tmp_path / "input.txt"
    path.write_text("new york times is well known here .\n\nwe talked about tom yesterday .\n")
    lines = predict_lines(trained, tmp_path, str(path))
    assert len(lines) == 2 and lines[1].startswith("we/O talked/O about/O")


def test_checkpoint_keeps_the_crf_constraints_and_scheme(trained):
    checkpoint = load_checkpoint(trained)
    task = restore_task(checkpoint)
    data = restore_datamodule(checkpoint)
    assert data.tag_scheme == task.tag_scheme == "BIOES"
    o, e_per = task.tag_names.index("O"), task.tag_names.index("E-PER")
    assert not task.model.crf.transition_mask[o, e_per]  # O -> E-PER is forbidden


def test_prediction_options_are_refused_by_name(trained, tmp_path):
    with pytest.raises(ValueError, match="beam_size: the tagging task takes no prediction"):
        predict_lines(trained, tmp_path, "tom left .", "+options.beam_size=3")


def test_samples_mark_errors_with_the_gold_tag():
    line = TaggingTask.format_tagged(
        ["anna", "paris"], ["B-PER", "B-LOC"], ["B-PER", "I-PER"], markdown=True
    )
    assert line == "anna/B-PER **paris/B-LOC[gold: I-PER]**"


def test_samples_table_shows_predicted_and_gold_tags_of_every_word():
    table = TaggingTask.samples_table(
        [
            (["anna", "paris"], ["B-PER", "B-LOC"], ["B-PER", "I-PER"]),
            (["a|b", "left"], ["O", "O"], ["O", "O"]),
        ]
    ).splitlines()
    assert table[0] == "| predicted | gold | wrong tags |"
    assert table[2] == ("| anna/B-PER **paris/B-LOC[gold: I-PER]** | anna/B-PER paris/I-PER | 1 |")
    assert table[3] == "| a\\|b/O left/O | a\\|b/O left/O | 0 |"  # a bar in a word is escaped


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("model.crf=yes", "model.crf: expected true or false"),
        ("model.crf_constraints=1", "model.crf_constraints: expected true or false"),
        ("model.dropout=1.5", "model.dropout: expected a number >= 0 and < 1"),
    ],
)
def test_bad_model_options_are_named(tmp_path, override, message):
    with pytest.raises(ValueError, match=message):
        train(
            compose_run(
                ["experiment=tagging", *SMALL_DATA, override, "debug=fast_dev_run"], tmp_path
            )
        )


def run_test_metrics(tmp_path: Path, *overrides: str) -> dict[str, float]:
    import json

    train(compose_run(["experiment=tagging", *QUIET, "logger=csv", *overrides], tmp_path))
    return json.loads((tmp_path / "metrics.json").read_text())


@pytest.mark.slow
def test_bidirectional_beats_unidirectional_beats_word_identity(tmp_path):
    """Right context decides many tags: bi > uni by a margin, and uni > feedforward."""
    torch.manual_seed(0)
    bi = run_test_metrics(tmp_path / "bi", "trainer.max_epochs=2")
    uni = run_test_metrics(tmp_path / "uni", "trainer.max_epochs=2", "cell.bidirectional=false")
    blind = run_test_metrics(
        tmp_path / "ff", "trainer.max_epochs=2", "cell=feedforward", "cell.bidirectional=false"
    )
    assert bi["test/acc"] > uni["test/acc"] + 0.04
    assert bi["test/entity_f1"] > uni["test/entity_f1"] + 0.2
    assert uni["test/acc"] > blind["test/acc"] + 0.01
    assert uni["test/entity_f1"] > blind["test/entity_f1"] + 0.05
