"""Gradient norms per group before/after clipping; clipping options visibly take effect."""

from __future__ import annotations

import math

import pytest
import pytorch_lightning as pl
import torch
from torch import nn

import rnnkit
from rnnkit.callbacks import GradientNormCallback, parameter_groups
from rnnkit.callbacks.gradient_norms import gradient_norm
from rnnkit.cells import LayerNormLSTMCell
from rnnkit.data.sentiment.long_range import LongRangeDataModule
from rnnkit.patterns.many_to_one import ManyToOne
from rnnkit.tasks.sentiment import SentimentTask

STEPS = 4


def test_groups_follow_layers_directions_and_modules():
    model = nn.ModuleDict(
        {
            "model": ManyToOne(
                rnnkit.LSTM(4, 5, num_layers=2, bidirectional=True),
                3,
                pooling="attention",
                input_layer=nn.Embedding(10, 4),
            ),
            "custom": rnnkit.Recurrent(LayerNormLSTMCell, 4, 5),
        }
    )
    groups = parameter_groups(model)
    assert list(groups) == [
        "model.input_layer",
        "model.rnn.l0",
        "model.rnn.l0_reverse",
        "model.rnn.l1",
        "model.rnn.l1_reverse",
        "model.pooling",
        "model.output_layer",
        "custom.l0",
    ]
    rnn = model["model"].rnn
    assert groups["model.rnn.l1_reverse"] == [
        rnn.weight_ih_l1_reverse,
        rnn.weight_hh_l1_reverse,
        rnn.bias_ih_l1_reverse,
        rnn.bias_hh_l1_reverse,
    ]
    grouped = [id(p) for members in groups.values() for p in members]
    assert sorted(grouped) == sorted(id(p) for p in model.parameters())
    # the custom cell's nested LayerNorm parameters belong to its layer's group
    assert len(groups["custom.l0"]) == len(list(model["custom"].parameters()))
    assert list(parameter_groups(model, depth=1))[0] == "model"


def test_gradient_norm_is_the_norm_of_all_gradients_together():
    parameters = [nn.Parameter(torch.ones(shape)) for shape in ((3,), (2, 2), (1,))]
    parameters[0].grad = torch.tensor([3.0, 0.0, 0.0])
    parameters[1].grad = torch.full((2, 2), 2.0)
    assert gradient_norm(parameters) == pytest.approx(5.0)
    assert gradient_norm(parameters, norm_type=1.0) == pytest.approx(11.0)
    assert gradient_norm(parameters[2:]) == 0.0


def train_with_clipping(clip_val, algorithm="norm"):
    datamodule = LongRangeDataModule(
        lag=5, train_size=32, val_size=8, test_size=8, batch_size=8, seed=0
    )
    datamodule.setup("fit")
    task = SentimentTask(
        cell={"_target_": "rnnkit.GRU", "hidden_size": 6, "num_layers": 2},
        model={"embedding_dim": 5, "pooling": "last", "dropout": 0.0},
        data_spec=datamodule.spec,
        optimizer={"_target_": "torch.optim.SGD", "_partial_": True, "lr": 0.5},
    )
    callback = GradientNormCallback(every_n_steps=1)
    trainer = pl.Trainer(
        max_steps=STEPS,
        limit_val_batches=0,
        gradient_clip_val=clip_val,
        gradient_clip_algorithm=algorithm,
        callbacks=[callback],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
    )
    trainer.fit(task, datamodule=datamodule)
    return callback.history


CLIP = 0.05


def test_clipping_by_norm_bounds_the_post_clip_global_norm():
    history = train_with_clipping(CLIP)
    assert [entry["step"] for entry in history] == list(range(STEPS))
    for entry in history:
        pre, post = entry["pre"], entry["post"]
        assert (
            set(pre)
            == set(post)
            == {
                "model.input_layer",
                "model.rnn.l0",
                "model.rnn.l1",
                "model.output_layer",
                "global",
            }
        )
        assert pre["global"] > CLIP  # the setup makes clipping act
        assert post["global"] <= CLIP * (1 + 1e-5)
        # clip_grad_norm_ scales every gradient by the same factor
        scale = min(1.0, CLIP / (pre["global"] + 1e-6))
        for group in pre:
            assert post[group] == pytest.approx(pre[group] * scale, rel=1e-4)
        assert math.sqrt(sum(v**2 for k, v in pre.items() if k != "global")) == pytest.approx(
            pre["global"], rel=1e-6
        )


@pytest.mark.parametrize("clip_val", [None, 0.0])
def test_without_clipping_post_equals_pre(clip_val):
    history = train_with_clipping(clip_val)
    assert len(history) == STEPS
    assert any(entry["pre"]["global"] > CLIP for entry in history)
    for entry in history:
        assert entry["post"] == entry["pre"]


def test_clipping_by_value_takes_effect_too():
    history = train_with_clipping(CLIP / 10, algorithm="value")
    for entry in history:
        assert entry["post"]["global"] < entry["pre"]["global"]


def test_logged_only_every_n_steps_and_to_the_loggers(tmp_path):
    from pytorch_lightning.loggers import CSVLogger

    datamodule = LongRangeDataModule(lag=3, train_size=48, val_size=8, test_size=8, batch_size=8)
    datamodule.setup("fit")
    task = SentimentTask(
        cell={"_target_": "rnnkit.LSTM", "hidden_size": 4},
        model={"embedding_dim": 3},
        data_spec=datamodule.spec,
        optimizer={"_target_": "torch.optim.Adam", "_partial_": True},
    )
    callback = GradientNormCallback(every_n_steps=2)
    logger = CSVLogger(tmp_path, name="csv")
    trainer = pl.Trainer(
        max_steps=5,
        limit_val_batches=0,
        gradient_clip_val=1.0,
        callbacks=[callback],
        logger=logger,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
    )
    trainer.fit(task, datamodule=datamodule)
    assert [entry["step"] for entry in callback.history] == [0, 2, 4]
    header = (tmp_path / "csv" / "version_0" / "metrics.csv").read_text().splitlines()[0]
    for tag in ("grad_norm/pre_clip/global", "grad_norm/post_clip/model.rnn.l0"):
        assert tag in header


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"every_n_steps": 0}, "every_n_steps: expected a positive integer or None"),
        ({"norm_type": -1}, "norm_type: expected a positive number"),
    ],
)
def test_bad_arguments_name_what_is_wrong(arguments, message):
    with pytest.raises(ValueError, match=message):
        GradientNormCallback(**arguments)
    with pytest.raises(ValueError, match="depth: expected a positive integer"):
        parameter_groups(nn.Linear(2, 2), depth=0)
