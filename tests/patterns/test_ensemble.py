"""Ensemble: members stay independent, the prediction is the mean of their probabilities."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import rnnkit
from rnnkit.patterns import Ensemble, ManyToOne


def classifier(seed: int) -> ManyToOne:
    torch.manual_seed(seed)
    return ManyToOne(rnnkit.LSTM(4, 6, batch_first=True), 3, pooling="max")


def test_forward_is_the_log_of_the_members_mean_probability():
    members = [classifier(0), classifier(1), classifier(2)]
    ensemble = Ensemble(members)
    x, lengths = torch.randn(5, 7, 4), torch.tensor([7, 3, 5, 1, 6])
    expected = torch.stack([m(x, lengths).softmax(-1) for m in members]).mean(0)
    torch.testing.assert_close(ensemble(x, lengths).exp(), expected)
    assert ensemble.member_logits(x, lengths).shape == (3, 5, 3)


def test_members_built_alike_start_from_different_weights():
    torch.manual_seed(0)
    ensemble = Ensemble([ManyToOne(rnnkit.GRU(4, 6, batch_first=True), 2) for _ in range(2)])
    first, second = (dict(m.named_parameters()) for m in ensemble.members)
    assert not torch.equal(first["rnn.weight_hh_l0"], second["rnn.weight_hh_l0"])


def test_loss_trains_each_member_on_its_own_cross_entropy():
    members = [classifier(0), classifier(1)]
    ensemble = Ensemble(members)
    x, targets = torch.randn(4, 5, 4), torch.tensor([0, 2, 1, 2])
    loss = Ensemble.loss(ensemble.member_logits(x), targets)
    alone = [F.cross_entropy(m(x), targets) for m in members]
    torch.testing.assert_close(loss, torch.stack(alone).mean())
    loss.backward()
    # A member's gradient is its own loss's (halved): no coupling through the average.
    own = torch.autograd.grad(alone[1] / 2, members[1].output_layer.weight)[0]
    torch.testing.assert_close(members[1].output_layer.weight.grad, own)


def test_bad_members_are_refused():
    with pytest.raises(ValueError, match="at least one member"):
        Ensemble([])
    with pytest.raises(TypeError, match="member 1 is a function"):
        Ensemble([nn.Linear(2, 2), lambda x: x])
