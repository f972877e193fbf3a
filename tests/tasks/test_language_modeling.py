"""The language-model experiment end to end: train, test, generate from a prompt, options."""

from __future__ import annotations

import json
import math

import pytest
import pytorch_lightning as pl
import torch

from hydra_helpers import compose_run, one_thread
from rnnkit.cli.predict import predict
from rnnkit.cli.train import train
from rnnkit.data.language_modeling.builtin import BuiltinLanguageModelDataModule
from rnnkit.tasks.language_modeling import LanguageModelingTask

BUDGET = 120_000  # the smallest split budget the built-in dataset accepts
SMALL = [
    "experiment=language_model",
    f"data.max_train_chars={BUDGET}",
    f"data.max_val_chars={BUDGET}",
    f"data.max_test_chars={BUDGET}",
    "data.batch_size=8",
    "data.eval_batch_size=8",
    "data.sequence_length=20",
    "cell.hidden_size=16",
    "model.embedding_dim=8",
    "model.sample_length=20",
    "trainer.enable_progress_bar=false",
]


@pytest.fixture(autouse=True)
def _one_thread():
    with one_thread():
        yield


@pytest.mark.parametrize("level", ["char", "word"])
@pytest.mark.parametrize("carry_state", [True, False])
def test_experiment_runs_under_fast_dev_run(tmp_path, level, carry_state):
    result = train(
        compose_run(
            [
                *SMALL,
                f"data.level={level}",
                f"model.carry_state={carry_state}",
                "debug=fast_dev_run",
            ],
            tmp_path,
        )
    )
    assert result is not None and result > 0


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("language_model")
    with one_thread():
        train(
            compose_run(
                [
                    *SMALL,
                    "trainer.max_epochs=1",
                    "+trainer.limit_train_batches=5",
                    "+trainer.limit_val_batches=3",
                    "+trainer.limit_test_batches=3",
                ],
                folder,
            )
        )
    return folder


def test_training_reports_split_likelihoods_the_unigram_baseline_and_samples(trained):
    metrics = json.loads((trained / "metrics.json").read_text())
    for split in ("val", "test"):
        loss = metrics[f"{split}/loss"]
        assert metrics[f"{split}/perplexity"] == pytest.approx(math.exp(loss), rel=1e-5)
        assert metrics[f"{split}/bpc"] == pytest.approx(loss / math.log(2), rel=1e-5)
        assert 1.0 < metrics[f"{split}/unigram_bpc"] < math.log2(128)
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(trained), size_guidance={"tensors": 0}).Reload()
    assert any(tag.startswith("val/generated") for tag in events.Tags()["tensors"])


def predict_with(trained, tmp_path, prompt: str, *options: str) -> list[str]:
    cfg = compose_run(
        [
            f"ckpt_path={trained / 'checkpoints' / 'last.ckpt'}",
            f"input='{prompt}'",
            *(f"+options.{o}" for o in options),
        ],
        tmp_path,
        "predict",
    )
    return predict(cfg)


def test_predict_continues_the_prompt_reproducibly_with_a_seed(trained, tmp_path, capsys):
    first = predict_with(trained, tmp_path, "import os", "max_new_tokens=30", "seed=3", "top_k=5")
    again = predict_with(trained, tmp_path, "import os", "max_new_tokens=30", "seed=3", "top_k=5")
    (text,) = first
    assert first == again
    assert text.startswith("import os") and len(text) == len("import os") + 30
    assert text in capsys.readouterr().out


def test_predict_reads_line_break_escapes_and_greedy_decoding(trained, tmp_path):
    (text,) = predict_with(trained, tmp_path, "def f():\\n", "max_new_tokens=5", "greedy=true")
    assert text.startswith("def f():\n") and len(text) == len("def f():\n") + 5


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["beam_size=3"], "beam_size"),
        (["temperature=0"], "temperature"),
        (["greedy=true", "seed=1"], "greedy"),
    ],
)
def test_predict_refuses_bad_options(trained, tmp_path, options, message):
    with pytest.raises(ValueError, match=message):
        predict_with(trained, tmp_path, "x", "max_new_tokens=2", *options)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["cell.bidirectional=true"], "cell.bidirectional"),
        (["model.tie_weights=true"], "tie_weights"),
        (["data.level=byte"], "level"),
    ],
)
def test_bad_options_are_refused_with_their_name(tmp_path, overrides, message):
    with pytest.raises(ValueError, match=message):
        train(compose_run([*SMALL, *overrides, "debug=fast_dev_run"], tmp_path))


class StateSpy(pl.Callback):
    """Records, before each training batch, whether a carried state is waiting."""

    def __init__(self) -> None:
        self.seen: list[tuple[int, bool]] = []

    def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
        self.seen.append((trainer.current_epoch, module._carried["train"] is not None))


@pytest.mark.parametrize("carry_state", [True, False])
def test_carry_state_carries_within_an_epoch_and_resets_at_its_start(carry_state):
    data = BuiltinLanguageModelDataModule(
        max_train_chars=BUDGET,
        max_val_chars=BUDGET,
        max_test_chars=BUDGET,
        batch_size=4,
        sequence_length=10,
    )
    data.setup()
    task = LanguageModelingTask(
        cell={"_target_": "rnnkit.GRU", "hidden_size": 8},
        model={"embedding_dim": 8, "carry_state": carry_state},
        data_spec=data.spec,
        optimizer={"_target_": "torch.optim.SGD", "_partial_": True, "lr": 0.1},
    )
    spy = StateSpy()
    trainer = pl.Trainer(
        max_epochs=2,
        limit_train_batches=3,
        limit_val_batches=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[spy],
    )
    trainer.fit(task, datamodule=data)
    expected = [(epoch, carry_state and batch > 0) for epoch in (0, 1) for batch in range(3)]
    assert spy.seen == expected


def test_a_carried_state_continues_the_stream_as_one_long_pass():
    """Batch k+1 with the state after batch k scores exactly as the concatenated text does."""
    data = BuiltinLanguageModelDataModule(
        max_train_chars=BUDGET,
        max_val_chars=BUDGET,
        max_test_chars=BUDGET,
        batch_size=3,
        sequence_length=7,
    )
    data.setup()
    task = (
        LanguageModelingTask(
            cell={"_target_": "rnnkit.LSTM", "hidden_size": 6},
            model={"embedding_dim": 5},
            data_spec=data.spec,
            optimizer={},
        )
        .double()
        .eval()
    )
    first, second = data.stream_batches("train")[:2]
    _, state = task(first["tokens"])
    carried, _ = task(second["tokens"], state)
    whole, _ = task(torch.cat((first["tokens"], second["tokens"]), dim=1))
    torch.testing.assert_close(carried, whole[:, 7:])


@pytest.mark.slow
def test_lstm_beats_the_unigram_baseline_by_more_than_a_bit_per_character(tmp_path):
    train(
        compose_run(
            ["experiment=language_model", "trainer.enable_progress_bar=false", "logger=csv"],
            tmp_path,
        )
    )
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["test/bpc"] < metrics["test/unigram_bpc"] - 1.5
