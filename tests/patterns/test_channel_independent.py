"""ChannelIndependent: each target channel through the one-series Forecaster, oracle by hand."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from rnnkit.patterns.channel_independent import ChannelIndependent
from rnnkit.patterns.forecaster import Forecaster

FEATURES, TARGETS, HIDDEN, HORIZON = 4, (3, 0), 6, 5  # features 1 and 2 are not targets


pytestmark = pytest.mark.usefixtures("single_thread")


def one_series(make_encoder, strategy="direct", num_covariates=0, **options) -> Forecaster:
    """A forecaster of one channel with the two non-target features beside it."""
    encoder = make_encoder("lstm", 3 * options.get("segment_length", 1), HIDDEN, 2, True)
    decoder = None
    if strategy == "autoregressive":
        encoder = make_encoder("gru", 3, HIDDEN, 1, False)
        decoder = make_encoder("gru", 1 + num_covariates, HIDDEN, 1, False)
    indices = [0] if strategy == "autoregressive" or "highway_length" in options else None
    return Forecaster(encoder, HORIZON, 1, strategy, decoder, num_covariates, indices, **options)


@pytest.mark.parametrize(
    "options", [{}, {"segment_length": 2}, {"highway_length": 3}], ids=["plain", "segments", "hw"]
)
def test_each_channel_is_the_one_series_forecast_of_it_and_the_other_features(
    make_encoder, options
):
    inner = one_series(make_encoder, **options).double()
    model = ChannelIndependent(inner, FEATURES, TARGETS)
    history = torch.randn(3, 6, FEATURES, dtype=torch.float64)
    forecast = model(history)
    assert forecast.shape == (3, HORIZON, len(TARGETS))
    for column, channel in enumerate(TARGETS):
        alone = inner(history[:, :, [channel, 1, 2]])  # (N, horizon, 1)
        torch.testing.assert_close(forecast[:, :, column : column + 1], alone, rtol=0, atol=1e-10)


def test_shared_covariates_lengths_and_teacher_forcing_reach_each_channel(make_encoder):
    inner = one_series(make_encoder, "autoregressive", num_covariates=2).double()
    model = ChannelIndependent(inner, FEATURES, TARGETS)
    history = torch.randn(3, 6, FEATURES, dtype=torch.float64)
    covariates = torch.randn(3, HORIZON, 2, dtype=torch.float64)
    target = torch.randn(3, HORIZON, len(TARGETS), dtype=torch.float64)
    lengths = torch.tensor([6, 4, 5])
    forecast = model(history, covariates, target, 1.0, lengths=lengths)
    for column, channel in enumerate(TARGETS):
        alone = inner(
            history[:, :, [channel, 1, 2]],
            covariates,
            target[:, :, column : column + 1],
            1.0,
            lengths=lengths,
        )
        torch.testing.assert_close(forecast[:, :, column : column + 1], alone, rtol=0, atol=1e-10)
    # teacher forcing with the true values changes the forecast (the target was fed)
    assert not torch.allclose(forecast, model(history, covariates, None, 0.0, lengths=lengths))


def test_learns_a_fixed_batch(make_encoder):
    torch.manual_seed(0)
    model = ChannelIndependent(one_series(make_encoder), FEATURES, TARGETS)
    history = torch.randn(8, 6, FEATURES)
    target = torch.randn(8, HORIZON, len(TARGETS))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    first = None
    for _ in range(150):
        optimizer.zero_grad()
        loss = F.mse_loss(model(history), target)
        loss.backward()
        optimizer.step()
        first = loss.item() if first is None else first
    assert loss.item() < 0.2 * first


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"target_indices": ()}, "target_indices: expected distinct"),
        ({"target_indices": (0, 0)}, "target_indices: expected distinct"),
        ({"target_indices": (0, FEATURES)}, "target_indices: expected distinct"),
        ({"target_indices": (3,)}, r"expected num_targets=1 and 4 history features"),
        ({"forecaster": "built with 2 targets"}, "expected num_targets=1"),
        ({"forecaster": "not a Forecaster"}, "forecaster: expected a built"),
    ],
)
def test_bad_configuration_raises_at_construction(make_encoder, arguments, message):
    forecaster = one_series(make_encoder)
    if arguments.get("forecaster") == "built with 2 targets":
        forecaster = Forecaster(make_encoder("gru", 3, HIDDEN), HORIZON, 2)
    elif arguments.get("forecaster") == "not a Forecaster":
        forecaster = torch.nn.Linear(3, 1)
    with pytest.raises(ValueError, match=message):
        ChannelIndependent(forecaster, FEATURES, arguments.get("target_indices", TARGETS))


def test_target_of_the_inner_forecaster_must_be_the_channel(make_encoder):
    encoder = make_encoder("gru", 3, HIDDEN)
    inner = Forecaster(encoder, HORIZON, 1, target_indices=[2], highway_length=2)
    with pytest.raises(ValueError, match="its target is the channel, feature 0"):
        ChannelIndependent(inner, FEATURES, TARGETS)


def test_bad_history_raises(make_encoder):
    model = ChannelIndependent(one_series(make_encoder), FEATURES, TARGETS)
    with pytest.raises(ValueError, match=r"history: expected \(N, L, 4\)"):
        model(torch.randn(2, 6, 3))
