"""OneToMany: conditioning matrix, attention over feature sets, padding, decoding, learning."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from rnnkit.patterns.one_to_many import OneToMany

VOCAB, EMBEDDING_DIM, FEATURES, HIDDEN = 9, 5, 4, 4  # HIDDEN == FEATURES: dot attention applies
PAD, BOS, EOS = 0, 1, 2
CONDITIONS = ("init", "input", "both")
ATTENTION_KINDS = ("none", "additive", "dot", "general")


pytestmark = pytest.mark.usefixtures("single_thread")


def build_one_to_many(
    make_encoder,
    kind="lstm",
    condition="init",
    attention="none",
    num_layers=1,
    input_feeding=True,
    batch_first=True,
    hidden=HIDDEN,
    **options,
) -> OneToMany:
    input_size = EMBEDDING_DIM
    input_size += FEATURES if condition in ("input", "both") else 0
    input_size += hidden if input_feeding else 0
    decoder = make_encoder(kind, input_size, hidden, num_layers, False, batch_first)
    return OneToMany(
        FEATURES,
        decoder,
        VOCAB,
        EMBEDDING_DIM,
        condition=condition,
        attention=attention,
        input_feeding=input_feeding,
        bos_index=BOS,
        eos_index=EOS,
        pad_index=PAD,
        **options,
    )


def assert_every_parameter_has_gradient(model):
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None, f"{name} received no gradient"
        assert parameter.grad.abs().sum() > 0, f"{name} received a zero gradient"


@pytest.mark.parametrize("attention", ATTENTION_KINDS)
@pytest.mark.parametrize("condition", CONDITIONS)
@pytest.mark.parametrize(
    ("kind", "num_layers"), [("rnn", 1), ("lstm", 2), ("gru", 1), ("custom", 2)]
)
def test_forward_backward_over_the_matrix(make_encoder, kind, num_layers, condition, attention):
    model = build_one_to_many(make_encoder, kind, condition, attention, num_layers)
    lengths = torch.tensor([3, 1, 2])
    features = torch.randn(3, 3, FEATURES) if attention != "none" else torch.randn(3, FEATURES)
    target_input = torch.randint(3, VOCAB, (3, 4))

    logits, weights = model(
        features, target_input, feature_lengths=lengths if attention != "none" else None
    )

    assert logits.shape == (3, 4, VOCAB)
    assert (model.bridge is None) == (condition == "input")
    if attention == "none":
        assert weights is None
    else:
        assert weights.shape == (3, 4, 3)
        padding = (torch.arange(3) >= lengths.unsqueeze(1)).unsqueeze(1).expand_as(weights)
        assert (weights[padding] == 0).all()
        torch.testing.assert_close(weights.sum(-1), torch.ones(3, 4))
    logits.square().mean().backward()
    assert_every_parameter_has_gradient(model)


@pytest.mark.parametrize("attention", ATTENTION_KINDS)
@pytest.mark.parametrize("condition", CONDITIONS)
def test_feature_set_padding_changes_no_output(make_encoder, condition, attention):
    model = build_one_to_many(make_encoder, "gru", condition, attention, batch_first=False)
    model = model.double()
    lengths = torch.tensor([4, 2, 1])
    features = torch.randn(3, 4, FEATURES, dtype=torch.float64)
    features[torch.arange(4) >= lengths.unsqueeze(1)] = 0.0
    more_padding = torch.cat((features, torch.randn(3, 3, FEATURES, dtype=torch.float64)), 1)
    target_input = torch.randint(3, VOCAB, (3, 5))

    logits, weights = model(features, target_input, feature_lengths=lengths)
    padded_logits, padded_weights = model(more_padding, target_input, feature_lengths=lengths)
    alone_logits, alone_weights = model(features[1:2, :2], target_input[1:2])

    torch.testing.assert_close(padded_logits, logits, rtol=0, atol=1e-10)
    torch.testing.assert_close(alone_logits[0], logits[1], rtol=0, atol=1e-10)
    if attention != "none":
        torch.testing.assert_close(padded_weights[..., :4], weights, rtol=0, atol=1e-10)
        assert (padded_weights[..., 4:] == 0).all()
        torch.testing.assert_close(alone_weights[0], weights[1, :, :2], rtol=0, atol=1e-10)


def test_set_without_attention_is_mean_pooled(make_encoder):
    model = build_one_to_many(make_encoder, "lstm", "both").double()
    features = torch.randn(2, 3, FEATURES, dtype=torch.float64)
    lengths = torch.tensor([3, 2])
    target_input = torch.randint(3, VOCAB, (2, 4))
    pooled = torch.stack((features[0].mean(0), features[1, :2].mean(0)))
    torch.testing.assert_close(
        model(features, target_input, feature_lengths=lengths).logits,
        model(pooled, target_input).logits,
        rtol=0,
        atol=1e-12,
    )


@pytest.mark.parametrize("condition", CONDITIONS)
def test_each_condition_lets_the_features_change_the_output(make_encoder, condition):
    model = build_one_to_many(make_encoder, "gru", condition, input_feeding=False)
    target_input = torch.randint(3, VOCAB, (2, 4))
    first = model(torch.randn(2, FEATURES), target_input).logits
    second = model(torch.randn(2, FEATURES), target_input).logits
    assert not torch.allclose(first, second)


def test_fast_path_equals_step_loop(make_encoder):
    model = build_one_to_many(make_encoder, "lstm", "both", input_feeding=False).double()
    assert not model.decoder.uses_step_loop
    features = torch.randn(3, FEATURES, dtype=torch.float64)
    target_input = torch.randint(3, VOCAB, (3, 5))

    logits = model(features, target_input).logits

    state, expected = model.initial_state(features), []
    for t in range(5):
        step_logits, state = model.step(target_input[:, t], state)
        expected.append(step_logits)
    torch.testing.assert_close(logits, torch.stack(expected, 1), rtol=0, atol=1e-10)


@pytest.mark.parametrize("attention", ["none", "general"])
def test_generate_beam_size_one_equals_greedy(make_encoder, attention):
    model = build_one_to_many(make_encoder, "lstm", "both", attention).double().eval()
    features = torch.randn(4, 3, FEATURES, dtype=torch.float64)
    lengths = torch.tensor([3, 1, 2, 3])

    greedy = model.generate(features, max_length=6, feature_lengths=lengths)
    beam = model.generate(
        features, method="beam", max_length=6, feature_lengths=lengths, beam_size=1
    )

    torch.testing.assert_close(beam.tokens, greedy.tokens, rtol=0, atol=0)
    torch.testing.assert_close(beam.scores, greedy.scores)
    if attention == "none":
        assert greedy.attention is None
    else:
        assert greedy.attention.shape == (4, greedy.tokens.shape[1], 3)


def test_teacher_forcing_ratio_zero_ignores_the_target_after_bos(make_encoder):
    model = build_one_to_many(make_encoder, "gru", "init", "additive")
    features = torch.randn(2, 3, FEATURES)
    target_input = torch.randint(3, VOCAB, (2, 5))
    other_target = torch.cat((target_input[:, :1], torch.randint(3, VOCAB, (2, 4))), 1)
    torch.testing.assert_close(
        model(features, target_input, teacher_forcing_ratio=0.0).logits,
        model(features, other_target, teacher_forcing_ratio=0.0).logits,
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"condition": "context"}, "condition: expected one of"),
        ({"attention": "soft"}, "attention: expected one of"),
        ({"decoder_input_size": 3}, r"decoder: expected input_size=9 \(embedding_dim=5"),
        ({"bidirectional": True}, "decoder: expected a unidirectional"),
        ({"tie_embeddings": True}, "tie_embeddings: needs embedding_dim =="),
        ({"eos_index": -1}, "eos_index: expected a token id"),
        ({"feature_size": 0}, "feature_size: expected a positive integer"),
    ],
)
def test_bad_configuration_raises_at_construction(make_encoder, change, message):
    change = dict(change)
    input_size = change.pop("decoder_input_size", EMBEDDING_DIM + HIDDEN)
    decoder = make_encoder(
        "gru", input_size, HIDDEN, bidirectional=change.pop("bidirectional", False)
    )
    arguments = {"feature_size": FEATURES, **change}
    with pytest.raises(ValueError, match=message):
        OneToMany(arguments.pop("feature_size"), decoder, VOCAB, EMBEDDING_DIM, **arguments)


def test_bad_features_raise(make_encoder):
    with_attention = build_one_to_many(make_encoder, "gru", attention="general")
    target_input = torch.randint(3, VOCAB, (2, 3))
    with pytest.raises(ValueError, match=r"features: attention needs a set of vectors \(N, S, F\)"):
        with_attention(torch.randn(2, FEATURES), target_input)
    with pytest.raises(ValueError, match="features: expected 4 features"):
        with_attention(torch.randn(2, 3, FEATURES + 1), target_input)
    with pytest.raises(ValueError, match="lengths: expected values in"):
        with_attention(
            torch.randn(2, 3, FEATURES), target_input, feature_lengths=torch.tensor([0, 3])
        )


@pytest.mark.parametrize(
    ("kind", "condition", "attention"),
    [
        ("lstm", "init", "none"),
        ("gru", "both", "additive"),
        pytest.param("custom", "input", "general", marks=pytest.mark.slow),
    ],
)
def test_learns_a_fixed_batch(make_encoder, kind, condition, attention):
    """Overfit feature sets -> sequences; every parameter must move."""
    generator = torch.Generator().manual_seed(0)
    features = torch.randn(4, 3, FEATURES, generator=generator)
    target = torch.randint(3, VOCAB, (4, 6), generator=generator)
    target[:, 0], target[:, -1] = BOS, EOS
    model = build_one_to_many(make_encoder, kind, condition, attention, hidden=8)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)

    for _ in range(100):
        optimizer.zero_grad()
        logits, _ = model(features, target[:, :-1])
        loss = F.cross_entropy(logits.transpose(1, 2), target[:, 1:])
        loss.backward()
        optimizer.step()

    assert loss.item() < 0.05
    for name, parameter in model.named_parameters():
        assert not torch.equal(parameter, before[name]), f"{name} did not change"
    generated = model.eval().generate(features, max_length=5)
    torch.testing.assert_close(generated.tokens, target[:, 1:])
