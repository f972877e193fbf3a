"""AWD-LSTM's toolkit in the language-model task: every option reaches the model from the YAML,
AR/TAR join the training loss, tied weights survive the checkpoint, and a run with
callbacks=weight_averaging validates, saves and tests the averaged weights."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from hydra_helpers import compose_run, one_thread
from rnnkit.cli.errors import ConfigError
from rnnkit.cli.train import prepare, train
from rnnkit.cli.validation import validate_run_config
from rnnkit.data.language_modeling.builtin import BuiltinLanguageModelDataModule
from rnnkit.layers.locked_dropout import LockedDropout
from rnnkit.tasks.language_modeling import LanguageModelingTask

BUDGET = 120_000
SMALL = [
    "experiment=language_model",
    f"data.max_train_chars={BUDGET}",
    f"data.max_val_chars={BUDGET}",
    f"data.max_test_chars={BUDGET}",
    "data.batch_size=8",
    "data.eval_batch_size=8",
    "data.sequence_length=20",
    "cell.hidden_size=16",
    "model.embedding_dim=16",
    "model.sample_length=5",
    "trainer.enable_progress_bar=false",
]
AWD = [
    "cell.num_layers=2",
    "cell.dropout=0.2",
    "cell.weight_dropout=0.3",
    "cell.variational_dropout=true",
    "model.tie_weights=true",
    "model.input_dropout=0.1",
    "model.output_dropout=0.15",
    "model.variational_dropout=true",
    "model.embedding_dropout=0.05",
    "model.activation_regularization=2.0",
    "model.temporal_activation_regularization=1.0",
]


@pytest.fixture(autouse=True)
def _one_thread():
    with one_thread():
        yield


def test_every_option_reaches_the_model_from_the_yaml(tmp_path):
    _, task = prepare(compose_run([*SMALL, *AWD], tmp_path))
    model = task.model
    assert (model.rnn.weight_dropout, model.rnn.variational_dropout) == (0.3, True)
    assert model.rnn.dropout == 0.2
    assert isinstance(model.input_dropout, LockedDropout) and model.input_dropout.p == 0.1
    assert isinstance(model.output_dropout, LockedDropout) and model.output_dropout.p == 0.15
    assert model.embedding_dropout == 0.05
    assert (model.activation_penalty.alpha, model.activation_penalty.beta) == (2.0, 1.0)
    assert model.output.weight is model.embedding.weight


def test_a_bad_value_names_its_key(tmp_path):
    with pytest.raises(
        ValueError, match=r"^cell\.weight_dropout: expected a (probability|number >= 0 and < 1)"
    ):
        prepare(compose_run([*SMALL, "cell.weight_dropout=1.5"], tmp_path))


def test_ar_and_tar_are_added_to_the_training_loss():
    data = BuiltinLanguageModelDataModule(
        max_train_chars=BUDGET, max_val_chars=BUDGET, max_test_chars=BUDGET, batch_size=4,
        sequence_length=9,
    )  # fmt: skip
    data.setup()
    alpha, beta = 2.0, 3.0
    task = LanguageModelingTask(
        cell={"_target_": "rnnkit.LSTM", "hidden_size": 8},
        model={
            "embedding_dim": 8,
            "activation_regularization": alpha,
            "temporal_activation_regularization": beta,
        },  # fmt: skip
        data_spec=data.spec,
        optimizer={"_target_": "torch.optim.SGD", "_partial_": True, "lr": 0.1},
    )
    batch = data.stream_batches("train")[0]
    outputs = []
    task.model.rnn.register_forward_hook(lambda m, a, o: outputs.append(o[0]))
    loss = task.training_step(batch, 0)
    (h,) = outputs  # no dropout: the dropped outputs are the raw ones
    logits = task.model.output(h)
    nll = F.cross_entropy(logits.transpose(1, 2), batch["targets"])
    expected = nll + alpha * h.pow(2).mean() + beta * (h[:, 1:] - h[:, :-1]).pow(2).mean()
    torch.testing.assert_close(loss, expected)


def test_weight_averaging_run_validates_saves_and_tests_the_average(tmp_path):
    overrides = [
        *SMALL,
        *AWD,
        "callbacks=weight_averaging",
        "callbacks.weight_averaging.start_step=3",
        "trainer.max_epochs=2",
        "+trainer.limit_train_batches=4",
        "+trainer.limit_val_batches=2",
        "+trainer.limit_test_batches=2",
    ]
    train(compose_run(overrides, tmp_path))
    run = tmp_path / "checkpoints"
    best = torch.load(run / "best.ckpt", weights_only=True)
    last = torch.load(run / "last.ckpt", weights_only=True)
    # Averaging started after 3 of 8 steps: last.ckpt keeps the raw weights beside the average.
    assert "current_model_state" in last
    raw, averaged = last["current_model_state"], last["state_dict"]
    assert any(not torch.equal(raw[k], averaged[k]) for k in raw)
    assert "current_model_state" in best  # the best epoch was validated on the average
    task = LanguageModelingTask.load_from_checkpoint(run / "best.ckpt")
    assert task.model.output.weight is task.model.embedding.weight  # tying survives loading
    for name, value in task.state_dict().items():
        torch.testing.assert_close(value, best["state_dict"][name])
    assert int(last["averaging_state"]["n_averaged"]) == 6  # the iterates after steps 3..8
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["test/loss"] > 0


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("cell.weight_dropout=1.0", r"cell.weight_dropout: expected a number >= 0 and < 1"),
        ("model.embedding_dropout=-0.1", r"model.embedding_dropout: expected a number >= 0"),
        ("model.input_dropout=1.5", r"model.input_dropout: expected a number >= 0 and < 1"),
        ("model.activation_regularization=-2", r"model.activation_regularization: expected"),
        ("model.variational_dropout=3", r"model.variational_dropout: expected true or false"),
    ],
)
def test_the_run_config_refuses_bad_values_by_key(tmp_path, override, message):
    with pytest.raises(ConfigError, match=message):
        validate_run_config(compose_run([*SMALL, override], tmp_path))
