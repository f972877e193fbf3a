"""Forecaster: strategies x encoder matrix x covariates, teacher forcing, lengths, learning."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from rnnkit.patterns.forecaster import Forecaster

FEATURES, HIDDEN, HORIZON, TARGETS = 3, 4, 5, 2
DECODER_KIND = {"rnn": "lstm", "lstm": "gru", "gru": "lstm", "custom": "custom"}


pytestmark = pytest.mark.usefixtures("single_thread")


def build_forecaster(
    make_encoder,
    kind="lstm",
    bidirectional=True,
    num_layers=2,
    strategy="autoregressive",
    num_covariates=0,
    hidden=HIDDEN,
    batch_first=True,
    **options,
) -> Forecaster:
    encoder = make_encoder(kind, FEATURES, hidden, num_layers, bidirectional, batch_first)
    decoder = None
    if strategy == "autoregressive":
        decoder = make_encoder(
            DECODER_KIND[kind], TARGETS + num_covariates, hidden + 1, 1, False, batch_first
        )
    return Forecaster(
        encoder,
        HORIZON,
        TARGETS,
        strategy=strategy,
        decoder=decoder,
        num_covariates=num_covariates,
        **options,
    )


def batch(size=3, steps=6, num_covariates=0, dtype=torch.float32):
    history = torch.randn(size, steps, FEATURES, dtype=dtype)
    covariates = torch.randn(size, HORIZON, num_covariates, dtype=dtype) if num_covariates else None
    target = torch.randn(size, HORIZON, TARGETS, dtype=dtype)
    return history, covariates, target


def manual_autoregressive(model, history, covariates, fed_values):
    """Oracle: the decoder stepped by hand, fed ``fed_values[:, h]`` (N, TARGETS) at step h."""
    _, final_state = model.encoder(history)
    hidden, predictions = model.bridge(final_state), []
    for step in range(HORIZON):
        inputs = fed_values[:, step]
        if covariates is not None:
            inputs = torch.cat((inputs, covariates[:, step]), dim=1)
        output, hidden = model.decoder(inputs.unsqueeze(1), hidden)
        predictions.append(model.head(output[:, 0]))
    return torch.stack(predictions, 1)


@pytest.mark.parametrize("num_covariates", [0, 2], ids=["no-covariates", "covariates"])
@pytest.mark.parametrize("strategy", ["direct", "autoregressive"])
def test_forward_backward_over_the_matrix(encoder_options, make_encoder, strategy, num_covariates):
    options = encoder_options
    model = build_forecaster(
        make_encoder,
        options.kind,
        options.bidirectional,
        options.num_layers,
        strategy,
        num_covariates,
    )
    history, covariates, target = batch(num_covariates=num_covariates)

    prediction = model(history, covariates, lengths=torch.tensor([6, 3, 1]))

    assert prediction.shape == (3, HORIZON, TARGETS)
    F.mse_loss(prediction, target).backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


@pytest.mark.parametrize("num_covariates", [0, 2])
@pytest.mark.parametrize(("kind", "bidirectional"), [("lstm", True), ("custom", False)])
def test_direct_head_reads_summary_and_flattened_covariates(
    make_encoder, kind, bidirectional, num_covariates
):
    model = build_forecaster(
        make_encoder, kind, bidirectional, 2, "direct", num_covariates
    ).double()
    history, covariates, _ = batch(num_covariates=num_covariates, dtype=torch.float64)

    prediction = model(history, covariates)

    h_n = model.encoder(history)[1][0]  # component 0 of the state, (D * 2, N, H)
    summary = torch.cat(tuple(h_n[-model.encoder.num_directions :]), dim=1)  # top layer
    if covariates is not None:
        summary = torch.cat((summary, covariates.reshape(3, -1)), 1)
    expected = model.head(summary).view(3, HORIZON, TARGETS)
    torch.testing.assert_close(prediction, expected, rtol=0, atol=1e-12)
    if covariates is not None:
        assert not torch.allclose(model(history, torch.randn_like(covariates)), prediction)


@pytest.mark.parametrize("num_covariates", [0, 2])
def test_autoregressive_feeds_its_own_predictions(make_encoder, num_covariates):
    model = build_forecaster(make_encoder, "gru", False, 1, num_covariates=num_covariates)
    model = model.double()
    history, covariates, target = batch(num_covariates=num_covariates, dtype=torch.float64)

    prediction = model(history, covariates, target, teacher_forcing_ratio=0.0)

    fed = torch.cat((history[:, -1:, :TARGETS], prediction[:, :-1]), dim=1)
    expected = manual_autoregressive(model, history, covariates, fed)
    torch.testing.assert_close(prediction, expected, rtol=0, atol=1e-10)
    other_target = torch.randn_like(target)
    torch.testing.assert_close(model(history, covariates, other_target), prediction)


@pytest.mark.parametrize("num_covariates", [0, 2])
@pytest.mark.parametrize("kind", ["lstm", "custom"])
def test_teacher_forcing_ratio_one_feeds_the_target(make_encoder, kind, num_covariates):
    model = build_forecaster(make_encoder, kind, num_covariates=num_covariates).double()
    history, covariates, target = batch(num_covariates=num_covariates, dtype=torch.float64)

    forced = model(history, covariates, target, teacher_forcing_ratio=1.0)

    # The one-call fast path equals the decoder stepped by hand on the true values.
    fed = torch.cat((history[:, -1:, :TARGETS], target[:, :-1]), dim=1)
    expected = manual_autoregressive(model, history, covariates, fed)
    torch.testing.assert_close(forced, expected, rtol=0, atol=1e-10)
    # The target influences the output: changing it changes every step after the first.
    changed = target.clone()
    changed[:, :-1] += 1.0
    other = model(history, covariates, changed, teacher_forcing_ratio=1.0)
    torch.testing.assert_close(other[:, 0], forced[:, 0])
    assert not torch.isclose(other[:, 1:], forced[:, 1:]).any()
    changed_last = target.clone()
    changed_last[:, -1] += 1.0  # the last true value is never fed
    torch.testing.assert_close(model(history, covariates, changed_last, 1.0), forced)


def test_teacher_forcing_ratio_mixes_per_step_and_example(make_encoder):
    model = build_forecaster(make_encoder, "gru", num_covariates=1).double()
    history, covariates, target = batch(size=8, num_covariates=1, dtype=torch.float64)

    def run(ratio, seed=0):
        generator = torch.Generator().manual_seed(seed)
        return model(history, covariates, target, ratio, generator=generator)

    mixed = run(0.5)
    torch.testing.assert_close(run(0.5), mixed, rtol=0, atol=0)
    from_truth = torch.isclose(mixed, run(1.0)).all(-1)  # (N, horizon)
    from_model = torch.isclose(mixed, run(0.0)).all(-1)
    assert not from_truth.all() and not from_model.all()
    assert (from_truth[:, 0] & from_model[:, 0]).all()  # step 0 always reads the history


@pytest.mark.parametrize("strategy", ["direct", "autoregressive"])
def test_history_padding_changes_no_output(make_encoder, strategy):
    model = build_forecaster(
        make_encoder, "lstm", True, 2, strategy, num_covariates=1, batch_first=False
    ).double()
    history, covariates, _ = batch(num_covariates=1, dtype=torch.float64)
    lengths = torch.tensor([6, 2, 4])
    history[torch.arange(6) >= lengths.unsqueeze(1)] = 0.0
    more_padding = torch.cat((history, torch.randn(3, 3, FEATURES, dtype=torch.float64)), 1)

    prediction = model(history, covariates, lengths=lengths)

    padded = model(more_padding, covariates, lengths=lengths)
    torch.testing.assert_close(padded, prediction, rtol=0, atol=1e-10)
    for n, length in enumerate(lengths.tolist()):
        alone = model(history[n : n + 1, :length], covariates[n : n + 1])
        torch.testing.assert_close(alone[0], prediction[n], rtol=0, atol=1e-10)


def test_target_indices_choose_the_seed_features(make_encoder):
    model = build_forecaster(make_encoder, "gru", False, 1, target_indices=(2, 0)).double()
    history, _, _ = batch(dtype=torch.float64)
    prediction = model(history)
    seed = history[:, -1, [2, 0]].unsqueeze(1)
    fed = torch.cat((seed, prediction[:, :-1]), dim=1)
    torch.testing.assert_close(
        prediction, manual_autoregressive(model, history, None, fed), rtol=0, atol=1e-10
    )


def encoder_and_decoder(make_encoder, decoder_input=TARGETS, bidirectional=False):
    encoder = make_encoder("gru", FEATURES, HIDDEN)
    return encoder, make_encoder("gru", decoder_input, HIDDEN, bidirectional=bidirectional)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"horizon": 0}, "horizon: expected a positive integer"),
        ({"strategy": "recursive"}, "strategy: expected one of"),
        ({"num_targets": 0}, "num_targets: expected a positive integer"),
        ({"num_covariates": -1}, "num_covariates: expected an int >= 0"),
        ({"strategy": "direct", "decoder": "built"}, "decoder: only used by strategy="),
        ({"strategy": "direct", "target_indices": (0, 1)}, "target_indices: only used by"),
        ({"decoder": None}, "decoder: required for strategy='autoregressive'"),
        ({"num_covariates": 1}, r"decoder: expected input_size = num_targets \+ num_covariates"),
        ({"decoder": "bidirectional"}, "decoder: expected a unidirectional"),
        ({"target_indices": (0, FEATURES)}, "target_indices: expected 2"),
        ({"target_indices": (0,)}, "target_indices: expected 2"),
        ({"segment_length": 0, "strategy": "direct"}, "segment_length: expected a positive"),
        ({"segment_length": 3}, "segment_length: only used by strategy='direct'"),
        ({"segment_length": 2, "strategy": "direct"}, "not a multiple of segment_length=2"),
        ({"highway_length": True}, "highway_length: expected a positive integer"),
        ({"highway_length": 2, "target_indices": (0, 5)}, "target_indices: expected 2"),
    ],
)
def test_bad_configuration_raises_at_construction(make_encoder, arguments, message):
    encoder, decoder = encoder_and_decoder(make_encoder)
    arguments = {
        "horizon": HORIZON,
        "num_targets": TARGETS,
        "strategy": "autoregressive",
        **arguments,
    }
    if "decoder" not in arguments:
        arguments["decoder"] = None if arguments["strategy"] == "direct" else decoder
    elif arguments["decoder"] == "built":
        arguments["decoder"] = decoder
    elif arguments["decoder"] == "bidirectional":
        arguments["decoder"] = encoder_and_decoder(make_encoder, bidirectional=True)[1]
    with pytest.raises(ValueError, match=message):
        Forecaster(encoder, **arguments)


def test_segments_are_read_as_one_encoder_step_each(make_encoder):
    """Oracle: the encoder run by hand over the history cut into 3-step segments."""
    encoder = make_encoder("lstm", 3 * FEATURES, HIDDEN, 2, True)
    model = Forecaster(encoder, HORIZON, TARGETS, "direct", segment_length=3).double()
    history = torch.randn(2, 9, FEATURES, dtype=torch.float64)
    _, (h_n, _) = model.encoder(history.reshape(2, 3, 3 * FEATURES))
    summary = torch.cat((h_n[-2], h_n[-1]), dim=1)  # top layer, both directions
    expected = model.head(summary).view(2, HORIZON, TARGETS)
    torch.testing.assert_close(model(history), expected, rtol=0, atol=1e-10)
    # a segment is its 3 steps in time order: swapping two steps inside one changes the input
    swapped = history[:, [1, 0, 2, 3, 4, 5, 6, 7, 8]]
    assert not torch.allclose(model(swapped), model(history))
    with pytest.raises(ValueError, match="whole number of segments"):
        model(history[:, :8])
    with pytest.raises(ValueError, match="whole number of segments"):
        model(history, lengths=torch.tensor([9, 6]))


@pytest.mark.parametrize("strategy", ["direct", "autoregressive"])
def test_highway_adds_a_linear_map_of_each_targets_last_values(make_encoder, strategy):
    model = build_forecaster(
        make_encoder, "gru", False, 1, strategy, target_indices=(2, 0), highway_length=4
    ).double()
    history, _, _ = batch(steps=7, dtype=torch.float64)
    with torch.no_grad():
        before = model(history)
        model.highway.weight.zero_()
        model.highway.bias.zero_()
        without = model(history)
    weight, bias = model.highway.weight, model.highway.bias  # (horizon, 4), (horizon,)
    torch.manual_seed(1)
    with torch.no_grad():
        weight.normal_()
        bias.normal_()
        recent = history[:, -4:][:, :, [2, 0]]  # (N, 4, targets)
        expected = without + torch.einsum("hq,nqt->nht", weight, recent) + bias.view(1, -1, 1)
        torch.testing.assert_close(model(history), expected, rtol=0, atol=1e-10)
    assert not torch.allclose(before, without)
    with pytest.raises(ValueError, match="highway_length=4 needs at least"):
        model(history[:, :3])


def test_highway_reads_the_last_real_steps_of_padded_histories(make_encoder):
    model = build_forecaster(
        make_encoder, "gru", True, 2, "direct", target_indices=(0, 1), highway_length=3
    ).double()
    history, _, _ = batch(steps=6, dtype=torch.float64)
    lengths = torch.tensor([6, 3, 5])
    history[torch.arange(6) >= lengths.unsqueeze(1)] = 0.0
    prediction = model(history, lengths=lengths)
    for n, length in enumerate(lengths.tolist()):
        alone = model(history[n : n + 1, :length])
        torch.testing.assert_close(alone[0], prediction[n], rtol=0, atol=1e-10)


def test_bad_forward_arguments_raise(make_encoder):
    with_covariates = build_forecaster(make_encoder, "gru", num_covariates=2)
    history, covariates, target = batch(num_covariates=2)
    with pytest.raises(ValueError, match="future_covariates: expected shape"):
        with_covariates(history)
    with pytest.raises(ValueError, match="target: required with teacher_forcing_ratio=0.5"):
        with_covariates(history, covariates, teacher_forcing_ratio=0.5)
    with pytest.raises(ValueError, match="target: expected shape"):
        with_covariates(history, covariates, target[:, :2], teacher_forcing_ratio=1.0)
    with pytest.raises(ValueError, match="teacher_forcing_ratio: expected a value in"):
        with_covariates(history, covariates, target, teacher_forcing_ratio=2.0)
    without = build_forecaster(make_encoder, "gru", strategy="direct")
    with pytest.raises(ValueError, match="future_covariates: the model has num_covariates=0"):
        without(history, covariates)
    with pytest.raises(ValueError, match="inputs: expected"):
        without(history[..., :2])


@pytest.mark.parametrize(
    ("strategy", "kind", "ratio"),
    [("direct", "lstm", 0.0), ("autoregressive", "gru", 0.5), ("autoregressive", "custom", 0.0)],
)
def test_learns_a_fixed_batch(make_encoder, strategy, kind, ratio):
    """Overfit sine windows; every parameter must move."""
    generator = torch.Generator().manual_seed(0)
    phase = torch.rand(6, 1, generator=generator) * 6.28
    time = torch.arange(6 + HORIZON, dtype=torch.float32)
    waves = torch.stack((torch.sin(0.7 * time + phase), torch.cos(0.4 * time + phase)), -1)
    calendar = (time % 3).expand(6, -1).unsqueeze(-1)
    history = torch.cat((waves[:, :6], calendar[:, :6]), -1)
    target, covariates = waves[:, 6:], calendar[:, 6:]
    model = build_forecaster(make_encoder, kind, True, 1, strategy, num_covariates=1, hidden=8)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)

    for _ in range(100):
        optimizer.zero_grad()
        loss = F.mse_loss(model(history, covariates, target, ratio), target)
        loss.backward()
        optimizer.step()

    assert F.mse_loss(model(history, covariates), target).item() < 0.003
    for name, parameter in model.named_parameters():
        assert not torch.equal(parameter, before[name]), f"{name} did not change"
