"""ManyToOne and its poolings: shapes and gradients over the encoder matrix, brute-force
oracles for every pooling, learning, and bad configuration / input."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import rnnkit
from rnnkit.patterns._sequence import mask_from_lengths, run_recurrent
from rnnkit.patterns.many_to_one import ManyToOne, ManyToOneOutput
from rnnkit.patterns.pooling import (
    POOLINGS,
    AttentionPooling,
    LastPooling,
    MaxPooling,
    MeanPooling,
    make_pooling,
)

pytestmark = pytest.mark.usefixtures("single_thread")

INPUT_SIZE, HIDDEN_SIZE, NUM_OUTPUTS = 3, 4, 2
LENGTHS = torch.tensor([5, 2, 4])


def features(lengths=LENGTHS, max_length=None, dtype=torch.float32):
    max_length = max_length or int(lengths.max())
    return torch.randn(len(lengths), max_length, INPUT_SIZE, dtype=dtype)


def assert_every_parameter_has_gradient(model: nn.Module) -> None:
    """In float64, where a gradient that is zero in exact arithmetic is at most ~1e-16."""
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None, f"{name} received no gradient"
        assert parameter.grad.abs().max() > 1e-10, f"{name} received an all-zero gradient"


# ---- the option matrix -----------------------------------------------------------------


@pytest.mark.parametrize("pooling", POOLINGS)
def test_forward_backward(encoder_options, pooling):
    rnn = encoder_options.build(INPUT_SIZE, HIDDEN_SIZE)
    model = ManyToOne(rnn, NUM_OUTPUTS, pooling).double()
    logits, weights = model(features(dtype=torch.float64), LENGTHS, return_weights=True)
    assert logits.shape == (3, NUM_OUTPUTS)
    assert torch.isfinite(logits).all()
    assert (weights is not None) == (pooling == "attention")
    F.cross_entropy(logits, torch.tensor([0, 1, 1])).backward()
    assert_every_parameter_has_gradient(model)


def test_last_pooling_reads_forward_last_step_and_backward_first_step(encoder_options):
    rnn = encoder_options.build(INPUT_SIZE, HIDDEN_SIZE).double()
    inputs = features(dtype=torch.float64)
    outputs, final_state = run_recurrent(rnn, inputs, LENGTHS)
    mask = mask_from_lengths(LENGTHS, inputs.shape[1])
    H, D = rnn.output_size, rnn.num_directions
    expected = []
    for n, length in enumerate(LENGTHS.tolist()):
        parts = [outputs[n, length - 1, :H]]  # forward direction ends at the last real step
        alone, _ = rnn(inputs[n : n + 1, :length])  # the sequence without any padding
        assert torch.allclose(alone[0, -1, :H], parts[0], atol=1e-12)
        if D == 2:
            parts.append(outputs[n, 0, H:])  # backward direction ends at step 0
            assert torch.allclose(alone[0, 0, H:], parts[1], atol=1e-12)
        expected.append(torch.cat(parts))
    expected = torch.stack(expected)

    pooling = LastPooling(D)
    from_state = pooling(outputs, mask, final_state).pooled
    from_outputs = pooling(outputs, mask).pooled
    torch.testing.assert_close(from_state, expected, rtol=0, atol=1e-12)
    torch.testing.assert_close(from_outputs, expected, rtol=0, atol=1e-12)

    model = ManyToOne(rnn, NUM_OUTPUTS, "last").double()
    torch.testing.assert_close(model.encode(inputs, LENGTHS).pooled, expected, rtol=0, atol=1e-12)
    torch.testing.assert_close(
        model(inputs, LENGTHS), model.output_layer(expected), rtol=0, atol=1e-12
    )


@pytest.mark.parametrize("pooling", ["mean", "max"])
def test_mean_and_max_pool_real_steps_only(pooling):
    outputs = torch.randn(3, 5, 6, dtype=torch.float64) * 10  # padding holds large junk
    mask = mask_from_lengths(LENGTHS, 5)
    pooled, weights = make_pooling(pooling, 6)(outputs, mask)
    reduce = {"mean": lambda x: x.mean(0), "max": lambda x: x.max(0).values}[pooling]
    expected = torch.stack([reduce(outputs[n, :length]) for n, length in enumerate(LENGTHS)])
    torch.testing.assert_close(pooled, expected, rtol=0, atol=1e-12)
    assert weights is None


def test_attention_weights_sum_to_one_over_real_steps_and_are_zero_on_padding(encoder_options):
    model = ManyToOne(
        encoder_options.build(INPUT_SIZE, HIDDEN_SIZE), NUM_OUTPUTS, "attention"
    ).double()
    inputs = features(max_length=7, dtype=torch.float64)
    output = model(inputs, LENGTHS, return_weights=True)
    assert isinstance(output, ManyToOneOutput)
    mask = mask_from_lengths(LENGTHS, 7)
    assert output.weights.shape == (3, 7)
    assert torch.equal(output.weights[~mask], torch.zeros((~mask).sum(), dtype=torch.float64))
    assert (output.weights[mask] > 0).all()
    torch.testing.assert_close(output.weights.sum(1), torch.ones(3, dtype=torch.float64))

    outputs, _ = run_recurrent(model.rnn, inputs, LENGTHS)  # brute force: scores step by step
    for n, length in enumerate(LENGTHS.tolist()):
        scores = torch.stack(
            [
                model.pooling.score(torch.tanh(model.pooling.project(outputs[n, t])))[0]
                for t in range(length)
            ]
        )
        weights = torch.softmax(scores, 0)
        torch.testing.assert_close(output.weights[n, :length], weights, rtol=0, atol=1e-12)
        pooled = (weights.unsqueeze(1) * outputs[n, :length]).sum(0)
        torch.testing.assert_close(output.logits[n], model.output_layer(pooled), rtol=0, atol=1e-12)


def test_poolings_are_the_named_modules():
    assert isinstance(make_pooling("last", 8, num_directions=2), LastPooling)
    assert isinstance(make_pooling("mean", 8), MeanPooling)
    assert isinstance(make_pooling("max", 8), MaxPooling)
    attention = make_pooling("attention", 8, attention_size=5)
    assert isinstance(attention, AttentionPooling)
    assert attention.project.weight.shape == (5, 8)


# ---- learning --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "pooling, kind",
    [("last", "lstm"), ("mean", "gru"), ("max", "rnn"), ("attention", "custom")],
)
def test_overfits_a_small_batch_and_trains_every_parameter(pooling, kind, make_encoder):
    lengths = torch.tensor([6, 3, 5, 2, 6, 4, 1, 5])
    token_ids = torch.randint(0, 12, (8, 6))
    labels = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
    model = ManyToOne(
        make_encoder(kind, 5, 8, num_layers=2, bidirectional=True),
        3,
        pooling,
        input_layer=nn.Embedding(12, 5),
    )
    initial = {name: p.detach().clone() for name, p in model.named_parameters()}
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(300):
        optimizer.zero_grad()
        loss = F.cross_entropy(model(token_ids, lengths), labels)
        if loss.item() < 0.02:
            break
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.02
    frozen = [n for n, p in model.named_parameters() if torch.equal(p.detach(), initial[n])]
    assert not frozen, f"never updated: {frozen}"


def test_dropout_acts_in_training_only(make_encoder):
    model = ManyToOne(make_encoder("gru", INPUT_SIZE, 16), NUM_OUTPUTS, "mean", dropout=0.5)
    inputs = features()
    assert not torch.equal(model(inputs, LENGTHS), model(inputs, LENGTHS))
    model.eval()
    assert torch.equal(model(inputs, LENGTHS), model(inputs, LENGTHS))


# ---- bad configuration and input -------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"pooling": "sum"}, "pooling: expected one of last, mean, max, attention, got 'sum'"),
        ({"pooling": None}, "pooling: expected one of"),
        ({"num_outputs": 0}, "num_outputs: expected a positive integer, got 0"),
        ({"num_outputs": -1}, "num_outputs"),
        ({"num_outputs": 2.0}, "num_outputs"),
        ({"num_outputs": True}, "num_outputs"),
        ({"dropout": 1.0}, r"dropout: expected a probability in \[0, 1\)"),
        ({"dropout": -0.1}, "dropout"),
        ({"attention_size": 4}, "attention_size: only used by pooling='attention'"),
        ({"pooling": "attention", "attention_size": 0}, "attention_size: expected a positive"),
        ({"input_layer": nn.Embedding(10, 7)}, "input_layer: its embedding_dim=7 must equal"),
        ({"input_layer": lambda x: x}, "input_layer: expected an nn.Module"),
        ({"rnn": nn.LSTM(INPUT_SIZE, HIDDEN_SIZE)}, "rnn: expected a built rnnkit.Recurrent"),
    ],
)
def test_bad_configuration_raises(kwargs, message):
    arguments = {"rnn": rnnkit.GRU(INPUT_SIZE, HIDDEN_SIZE), "num_outputs": NUM_OUTPUTS}
    with pytest.raises(ValueError, match=message):
        ManyToOne(**{**arguments, **kwargs})


def test_unknown_pooling_name_lists_the_valid_ones():
    with pytest.raises(ValueError) as error:
        make_pooling("avg", 4)
    assert all(name in str(error.value) for name in POOLINGS)


@pytest.mark.parametrize(
    "inputs, lengths, message",
    [
        (torch.randint(0, 5, (3, 5)), None, "inputs: got torch.int64 values .* no input_layer"),
        (torch.randn(3, 5), None, r"inputs: expected inputs to be float \(3, 5, 3\)"),
        (torch.randn(3, 5, 4), None, r"inputs: expected inputs to be float \(3, 5, 3\)"),
        (torch.randn(3, 0, 3), None, "inputs: expected a non-empty"),
        (torch.randn(3, 5, 3), torch.tensor([5, 2]), r"lengths: expected shape \(3,\)"),
        (torch.randn(3, 5, 3), torch.tensor([6, 2, 4]), r"lengths: expected values in \[1, 5\]"),
        (torch.randn(3, 5, 3), torch.tensor([5, 0, 4]), r"lengths: expected values in \[1, 5\]"),
        (torch.randn(3, 5, 3), torch.tensor([5.0, 2.0, 4.0]), "lengths: expected an integer"),
    ],
)
def test_bad_input_raises(inputs, lengths, message):
    model = ManyToOne(rnnkit.GRU(INPUT_SIZE, HIDDEN_SIZE), NUM_OUTPUTS)
    with pytest.raises(ValueError, match=message):
        model(inputs, lengths)
