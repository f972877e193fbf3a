"""Train → eval gives the same test metrics; resume continues; predict reads raw input."""

from __future__ import annotations

import json

import pytest
import torch

from rnnkit.cli.eval import evaluate
from rnnkit.cli.predict import predict
from rnnkit.cli.train import train

QUICK = [
    "experiment=sentiment",
    "cell.hidden_size=16",
    "model.embedding_dim=16",
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=4",
    "trainer.limit_val_batches=2",
    "trainer.limit_test_batches=3",
    "trainer.enable_progress_bar=false",
]


@pytest.fixture
def trained(make_config, tmp_path):
    train(make_config(QUICK))
    return tmp_path


def test_run_folder_holds_config_checkpoints_events_and_metrics(trained):
    assert (trained / "checkpoints" / "best.ckpt").is_file()
    assert (trained / "checkpoints" / "last.ckpt").is_file()
    assert list(trained.glob("events.out.tfevents.*"))
    assert "test/acc" in json.loads((trained / "metrics.json").read_text())


def test_eval_reproduces_the_test_metrics(trained, make_config):
    expected = json.loads((trained / "metrics.json").read_text())
    cfg = make_config(
        [
            f"ckpt_path={trained / 'checkpoints' / 'best.ckpt'}",
            "trainer.limit_test_batches=3",
            "trainer.enable_progress_bar=false",
        ],
        config_name="eval",
    )
    metrics = evaluate(cfg)
    for name in ("test/acc", "test/f1", "test/loss"):
        assert metrics[name] == pytest.approx(expected[name], abs=1e-6)


def test_resume_from_last_checkpoint_continues_at_the_right_step(trained, make_config):
    last = trained / "checkpoints" / "last.ckpt"
    assert torch.load(last, weights_only=True)["global_step"] == 4
    cfg = make_config([*QUICK, "trainer.max_epochs=2", f"ckpt_path={last}", "test=false"])
    train(cfg)
    resumed = torch.load(trained / "checkpoints" / "last.ckpt", weights_only=True)
    assert resumed["global_step"] == 8
    assert resumed["epoch"] == 1


def test_predict_prints_a_label_and_probability(trained, make_config, capsys):
    cfg = make_config(
        [f"ckpt_path={trained / 'checkpoints' / 'best.ckpt'}", "input=the film was not good"],
        config_name="predict",
    )
    (line,) = predict(cfg)
    label, probability, sentence = line.split("\t")
    assert label in {"negative", "positive"}
    assert 0.5 <= float(probability) <= 1.0
    assert sentence == "the film was not good"
    assert line in capsys.readouterr().out
