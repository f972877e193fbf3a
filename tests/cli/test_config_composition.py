"""Overrides compose and reach the built module (asserted on the module, not the config)."""

from __future__ import annotations

import pytest
import torch

import rnnkit
from rnnkit.cli.train import build_datamodule, build_task


def build(make_config, overrides):
    cfg = make_config(overrides)
    datamodule = build_datamodule(cfg.data)
    datamodule.setup("fit")
    return cfg, datamodule, build_task(cfg, datamodule)


def test_cell_overrides_reach_the_recurrent_layer(make_config):
    _, _, task = build(
        make_config,
        [
            "experiment=sentiment",
            "cell=gru",
            "cell.bidirectional=true",
            "cell.num_layers=2",
            "cell.hidden_size=24",
        ],
    )
    layers = [m for m in task.modules() if isinstance(m, rnnkit.Recurrent)]
    assert len(layers) == 1
    (layer,) = layers
    assert isinstance(layer, rnnkit.GRU)
    assert layer.bidirectional and layer.num_layers == 2 and layer.hidden_size == 24
    assert layer.batch_first


def test_sizes_flow_from_the_datamodule(make_config):
    cfg, datamodule, task = build(make_config, ["experiment=sentiment", "model.embedding_dim=12"])
    embedding = next(m for m in task.modules() if isinstance(m, torch.nn.Embedding))
    assert embedding.num_embeddings == datamodule.spec["vocab_size"]
    assert embedding.embedding_dim == 12
    head = [m for m in task.modules() if isinstance(m, torch.nn.Linear)][-1]
    assert head.out_features == datamodule.spec["num_classes"] == 2
    assert "vocab_size" not in str(cfg.model)


@pytest.mark.parametrize(
    "cell", ["rnn", "lstm", "gru", "layer_norm_lstm", "peephole_lstm", "feedforward"]
)
def test_every_cell_config_builds(make_config, cell):
    _, _, task = build(make_config, ["experiment=sentiment", f"cell={cell}"])
    (layer,) = [m for m in task.modules() if isinstance(m, rnnkit.Recurrent)]
    assert layer.hidden_size == 64


def test_custom_cell_runs_the_loop_and_standard_cell_the_fused_kernel(make_config):
    _, _, task = build(make_config, ["experiment=sentiment", "cell=peephole_lstm"])
    (layer,) = [m for m in task.modules() if isinstance(m, rnnkit.Recurrent)]
    assert not layer.uses_fused_kernel
    _, _, task = build(make_config, ["experiment=sentiment", "cell=lstm"])
    (layer,) = [m for m in task.modules() if isinstance(m, rnnkit.Recurrent)]
    assert layer.uses_fused_kernel
