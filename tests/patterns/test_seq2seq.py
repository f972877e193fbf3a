"""Bridge and Seq2Seq: option matrix, masking, padding invariance, fast path, decoding, learning."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from rnnkit.patterns.bridge import Bridge
from rnnkit.patterns.decoding import greedy_decode
from rnnkit.patterns.seq2seq import Seq2Seq
from rnnkit.patterns.teacher_forcing import use_teacher_forcing

ATTENTION_KINDS = ("none", "additive", "dot", "general")
SOURCE_VOCAB, TARGET_VOCAB, SOURCE_DIM, EMBEDDING_DIM, ENCODER_HIDDEN = 11, 9, 4, 5, 3
PAD, BOS, EOS = 0, 1, 2
# The decoder's kind for each encoder kind: every pairing changes or keeps the state components
# (RNN h -> LSTM (h, c), LSTM -> GRU, GRU -> LSTM, custom (h, m) -> custom).
DECODER_KIND = {"rnn": "lstm", "lstm": "gru", "gru": "lstm", "custom": "custom"}


def build_seq2seq(
    make_encoder,
    kind="lstm",
    bidirectional=True,
    num_layers=2,
    attention="general",
    input_feeding=True,
    decoder_layers=None,
    batch_first=True,
    **options,
) -> Seq2Seq:
    """Decoder hidden = D * encoder hidden, so that dot attention applies to every encoder."""
    encoder = make_encoder(kind, SOURCE_DIM, ENCODER_HIDDEN, num_layers, bidirectional, batch_first)
    hidden = encoder.num_directions * ENCODER_HIDDEN
    if decoder_layers is None:
        decoder_layers = 2 if DECODER_KIND[kind] in ("lstm", "custom") else 1
    decoder = make_encoder(
        DECODER_KIND[kind],
        EMBEDDING_DIM + (hidden if input_feeding else 0),
        hidden,
        num_layers=decoder_layers,
        batch_first=batch_first,
    )
    return Seq2Seq(
        encoder,
        decoder,
        SOURCE_VOCAB,
        TARGET_VOCAB,
        EMBEDDING_DIM,
        attention=attention,
        input_feeding=input_feeding,
        bos_index=BOS,
        eos_index=EOS,
        pad_index=PAD,
        **options,
    )


def padded_batch(lengths, max_length=None, generator=None):
    """Random source ids ``(N, S)`` padded with PAD after each length."""
    lengths = torch.tensor(lengths)
    max_length = int(lengths.max()) if max_length is None else max_length
    source = torch.randint(3, SOURCE_VOCAB, (len(lengths), max_length), generator=generator)
    return source.masked_fill(torch.arange(max_length) >= lengths.unsqueeze(1), PAD), lengths


pytestmark = pytest.mark.usefixtures("single_thread")


def assert_every_parameter_has_gradient(model):
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None, f"{name} received no gradient"
        assert parameter.grad.abs().sum() > 0, f"{name} received a zero gradient"


# ---- Bridge --------------------------------------------------------------------------------


# Each decoder kind meets every encoder with another depth / size relation:
# (same depth, same size), (other depth, other size), (same depth, other size), (other, same).
DECODER_SHAPES = {
    "rnn": (False, False),
    "lstm": (True, True),
    "gru": (False, True),
    "custom": (True, False),
}


@pytest.mark.parametrize("decoder_kind", ["rnn", "lstm", "gru", "custom"])
def test_bridge_shapes_over_the_matrix(encoder_options, make_encoder, decoder_kind):
    encoder = encoder_options.build(3, 4)
    other_depth, other_size = DECODER_SHAPES[decoder_kind]
    decoder_layers = 3 - encoder.num_layers if other_depth else encoder.num_layers
    hidden = 5 if other_size else encoder.num_directions * 4
    decoder = make_encoder(decoder_kind, 2, hidden, num_layers=decoder_layers)
    bridge = Bridge(encoder, decoder)
    _, final_state = encoder(torch.randn(3, 6, 3), lengths=torch.tensor([6, 2, 4]))

    initial = bridge(final_state)

    components = (initial,) if isinstance(initial, torch.Tensor) else initial
    assert [tuple(c.shape) for c in components] == [
        (decoder_layers, 3, size) for size in decoder.state_size
    ]
    output, _ = decoder(torch.randn(3, 2, 2), initial)  # the decoder accepts it
    output.sum().backward()


def test_bridge_identity_concatenates_directions_layer_by_layer(make_encoder):
    encoder = make_encoder("lstm", 3, 4, num_layers=2, bidirectional=True)
    decoder = make_encoder("lstm", 2, 8, num_layers=2)
    bridge = Bridge(encoder, decoder)
    h_n, c_n = encoder(torch.randn(2, 5, 3))[1]

    h_0, c_0 = bridge((h_n, c_n))

    assert list(bridge.parameters()) == []
    for layer in range(2):
        torch.testing.assert_close(h_0[layer], torch.cat((h_n[2 * layer], h_n[2 * layer + 1]), 1))
        torch.testing.assert_close(c_0[layer], torch.cat((c_n[2 * layer], c_n[2 * layer + 1]), 1))


@pytest.mark.parametrize(("encoder_layers", "decoder_layers"), [(2, 1), (1, 2), (3, 2)])
def test_bridge_depth_mismatch_uses_the_top_layer(make_encoder, encoder_layers, decoder_layers):
    encoder = make_encoder("gru", 3, 4, num_layers=encoder_layers)
    decoder = make_encoder("gru", 2, 4, num_layers=decoder_layers)
    h_n = encoder(torch.randn(2, 5, 3))[1]

    h_0 = Bridge(encoder, decoder)(h_n)

    for layer in range(decoder_layers):
        torch.testing.assert_close(h_0[layer], h_n[-1])


def test_bridge_size_mismatch_is_projected(make_encoder):
    encoder = make_encoder("gru", 3, 4, bidirectional=True)
    decoder = make_encoder("gru", 2, 5)
    bridge = Bridge(encoder, decoder)
    h_n = encoder(torch.randn(2, 5, 3))[1]

    h_0 = bridge(h_n)

    linear = bridge.projections[0][0]
    assert (linear.in_features, linear.out_features) == (8, 5)
    torch.testing.assert_close(h_0[0], torch.tanh(linear(torch.cat((h_n[0], h_n[1]), 1))))


def test_bridge_lstm_to_gru_drops_the_cell_state(make_encoder):
    encoder = make_encoder("lstm", 3, 4)
    decoder = make_encoder("gru", 2, 4)
    bridge = Bridge(encoder, decoder)
    h_n, c_n = encoder(torch.randn(2, 5, 3))[1]

    torch.testing.assert_close(bridge((h_n, c_n)), h_n)
    torch.testing.assert_close(bridge((h_n, torch.randn_like(c_n))), h_n)


def test_bridge_gru_to_lstm_derives_the_cell_state_from_h(make_encoder):
    encoder = make_encoder("gru", 3, 4)
    decoder = make_encoder("lstm", 2, 4)
    bridge = Bridge(encoder, decoder)
    h_n = encoder(torch.randn(2, 5, 3))[1]

    h_0, c_0 = bridge(h_n)

    torch.testing.assert_close(h_0, h_n)
    torch.testing.assert_close(c_0, bridge.projections[1](h_n))
    assert len(list(bridge.projections[1].parameters())) == 2  # its own Linear


def test_bridge_always_project(make_encoder):
    encoder = make_encoder("gru", 3, 4)
    decoder = make_encoder("gru", 2, 4)
    assert list(Bridge(encoder, decoder).parameters()) == []
    assert len(list(Bridge(encoder, decoder, always_project=True).parameters())) == 2


def test_bridge_bad_configuration_and_input(make_encoder):
    encoder = make_encoder("lstm", 3, 4)
    with pytest.raises(ValueError, match="decoder: expected a unidirectional"):
        Bridge(encoder, make_encoder("gru", 2, 4, bidirectional=True))
    with pytest.raises(ValueError, match="encoder: expected a built rnnkit.Recurrent"):
        Bridge(torch.nn.LSTM(3, 4), make_encoder("gru", 2, 4))
    bridge = Bridge(encoder, make_encoder("gru", 2, 4))
    with pytest.raises(ValueError, match="encoder_state: expected the encoder's h_n"):
        bridge(torch.zeros(1, 2, 4))  # an LSTM state has two components


# ---- Seq2Seq: option matrix ----------------------------------------------------------------


@pytest.mark.parametrize("attention", ATTENTION_KINDS)
def test_forward_backward_over_the_matrix(encoder_options, make_encoder, attention):
    model = build_seq2seq(
        make_encoder,
        encoder_options.kind,
        encoder_options.bidirectional,
        encoder_options.num_layers,
        attention,
    )
    source, lengths = padded_batch([5, 2, 4])
    target_input = torch.randint(3, TARGET_VOCAB, (3, 4))
    target_input[:, 0] = BOS

    logits, weights = model(source, lengths, target_input)

    assert logits.shape == (3, 4, TARGET_VOCAB)
    if attention == "none":
        assert weights is None
    else:
        assert weights.shape == (3, 4, 5)
        padding = (torch.arange(5) >= lengths.unsqueeze(1)).unsqueeze(1).expand_as(weights)
        assert (weights[padding] == 0).all()
        torch.testing.assert_close(weights.sum(-1), torch.ones(3, 4))
    F.cross_entropy(logits.transpose(1, 2), torch.randint(3, TARGET_VOCAB, (3, 4))).backward()
    assert_every_parameter_has_gradient(model)


PADDING_CASES = [
    ("lstm", True, 2, True),
    ("custom", True, 1, True),
    ("gru", False, 1, False),  # time-major layers (batch_first=False)
]


@pytest.mark.parametrize("attention", ATTENTION_KINDS)
@pytest.mark.parametrize(("kind", "bidirectional", "num_layers", "batch_first"), PADDING_CASES)
def test_source_padding_changes_no_output(
    make_encoder, kind, bidirectional, num_layers, batch_first, attention
):
    model = build_seq2seq(
        make_encoder, kind, bidirectional, num_layers, attention, batch_first=batch_first
    ).double()
    source, lengths = padded_batch([5, 3, 2])
    target_input = torch.randint(3, TARGET_VOCAB, (3, 4))
    more_padding = torch.cat((source, torch.randint(3, SOURCE_VOCAB, (3, 3))), dim=1)

    logits, weights = model(source, lengths, target_input)
    padded_logits, padded_weights = model(more_padding, lengths, target_input)
    alone_logits, alone_weights = model(source[1:2, :3], None, target_input[1:2])

    torch.testing.assert_close(padded_logits, logits, rtol=0, atol=1e-10)
    torch.testing.assert_close(alone_logits[0], logits[1], rtol=0, atol=1e-10)
    if attention != "none":
        torch.testing.assert_close(padded_weights[..., :5], weights, rtol=0, atol=1e-10)
        assert (padded_weights[..., 5:] == 0).all()
        torch.testing.assert_close(alone_weights[0], weights[1, :, :3], rtol=0, atol=1e-10)
        assert (weights[1, :, 3:] == 0).all() and (weights[2, :, 2:] == 0).all()


def step_loop_logits(model, source, lengths, target_input):
    """Oracle: the teacher-forced logits through the StepDecoder protocol, one step at a time."""
    state = model.encode(source, lengths)
    logits = []
    for t in range(target_input.shape[1]):
        step_logits, state = model.step(target_input[:, t], state)
        logits.append(step_logits)
    return torch.stack(logits, dim=1)


@pytest.mark.parametrize(
    ("kind", "bidirectional", "num_layers"),
    [("rnn", False, 1), ("lstm", True, 2), ("gru", True, 1), ("custom", False, 2)],
)
def test_whole_target_fast_path_equals_step_loop(make_encoder, kind, bidirectional, num_layers):
    model = build_seq2seq(
        make_encoder, kind, bidirectional, num_layers, attention="none", input_feeding=False
    ).double()
    assert not model.decoder.uses_step_loop
    source, lengths = padded_batch([4, 2, 3])
    target_input = torch.randint(3, TARGET_VOCAB, (3, 5))

    logits, _ = model(source, lengths, target_input)

    expected = step_loop_logits(model, source, lengths, target_input)
    torch.testing.assert_close(logits, expected, rtol=0, atol=1e-10)


@pytest.mark.parametrize("attention", ["additive", "general"])
def test_step_loop_forward_equals_step_protocol(make_encoder, attention):
    model = build_seq2seq(make_encoder, "gru", attention=attention).double()
    assert model.decoder.uses_step_loop
    source, lengths = padded_batch([4, 2, 3])
    target_input = torch.randint(3, TARGET_VOCAB, (3, 5))
    logits, _ = model(source, lengths, target_input)
    expected = step_loop_logits(model, source, lengths, target_input)
    torch.testing.assert_close(logits, expected, rtol=0, atol=1e-10)


# ---- Seq2Seq: teacher forcing --------------------------------------------------------------


@pytest.mark.parametrize("attention", ["none", "dot"])
def test_teacher_forcing_ratio_zero_ignores_the_target_after_bos(make_encoder, attention):
    model = build_seq2seq(make_encoder, "lstm", attention=attention, input_feeding=False)
    source, lengths = padded_batch([4, 2, 3])
    target_input = torch.randint(3, TARGET_VOCAB, (3, 5))
    other_target = target_input.clone()
    other_target[:, 1:] = torch.randint(3, TARGET_VOCAB, (3, 4))

    free_running = model(source, lengths, target_input, teacher_forcing_ratio=0.0).logits

    torch.testing.assert_close(
        model(source, lengths, other_target, teacher_forcing_ratio=0.0).logits, free_running
    )
    forced = model(source, lengths, target_input).logits
    assert not torch.allclose(model(source, lengths, other_target).logits, forced)
    # Free running feeds back the greedy tokens: the same logits as greedy decoding would see.
    state = model.encode(source, lengths)
    tokens = target_input[:, 0]
    for t in range(5):
        step_logits, state = model.step(tokens, state)
        torch.testing.assert_close(step_logits, free_running[:, t])
        tokens = step_logits.argmax(-1)


def test_teacher_forcing_ratio_mixes_per_step_and_example(make_encoder):
    model = build_seq2seq(make_encoder, "gru", attention="additive").double()
    source, lengths = padded_batch([4, 2, 3, 4, 1, 3])
    target_input = torch.randint(3, TARGET_VOCAB, (6, 5))

    logits = model(
        source, lengths, target_input, 0.5, generator=torch.Generator().manual_seed(7)
    ).logits

    # Oracle: the same Bernoulli draws (use_teacher_forcing) choosing gold or greedy tokens.
    generator = torch.Generator().manual_seed(7)
    state = model.encode(source, lengths)
    expected, tokens = [], target_input[:, 0]
    for t in range(5):
        if t > 0:
            gold = use_teacher_forcing(0.5, 6, generator)
            tokens = torch.where(gold, target_input[:, t], expected[-1].argmax(-1))
        step_logits, state = model.step(tokens, state)
        expected.append(step_logits)
    torch.testing.assert_close(logits, torch.stack(expected, 1), rtol=0, atol=1e-10)
    assert not torch.allclose(logits, model(source, lengths, target_input).logits)
    assert not torch.allclose(logits, model(source, lengths, target_input, 0.0).logits)


# ---- Seq2Seq: decoding ---------------------------------------------------------------------


@pytest.mark.parametrize("attention", ATTENTION_KINDS)
def test_translate_beam_size_one_equals_greedy(make_encoder, attention):
    model = build_seq2seq(make_encoder, "lstm", attention=attention).double().eval()
    source, lengths = padded_batch([5, 2, 4, 3])

    greedy = model.translate(source, lengths, max_length=6)
    beam = model.translate(source, lengths, method="beam", beam_size=1, max_length=6)
    sampled_top1 = model.translate(source, lengths, method="sample", top_k=1, max_length=6)

    for other in (beam, sampled_top1):
        torch.testing.assert_close(other.tokens, greedy.tokens, rtol=0, atol=0)
        torch.testing.assert_close(other.lengths, greedy.lengths, rtol=0, atol=0)
        torch.testing.assert_close(other.scores, greedy.scores)
    direct = greedy_decode(model, model.encode(source, lengths), BOS, EOS, 6, 4)
    torch.testing.assert_close(direct.tokens[:, 0], greedy.tokens, rtol=0, atol=0)


def test_translate_returns_attention_for_plotting(make_encoder):
    model = build_seq2seq(make_encoder, "gru", attention="general").eval()
    source, lengths = padded_batch([5, 2, 4])

    result = model.translate(source, lengths, max_length=7)

    assert result.attention.shape == (3, result.tokens.shape[1], 5)
    for n in range(3):
        length, real = int(result.lengths[n]), int(lengths[n])
        torch.testing.assert_close(result.attention[n, :length].sum(-1), torch.ones(length))
        assert (result.attention[n, length:] == 0).all()
        assert (result.attention[n, :, real:] == 0).all()
    assert model.translate(source, lengths, method="beam", beam_size=2).attention is None


def test_translate_rejects_options_of_another_method(make_encoder):
    model = build_seq2seq(make_encoder, "gru")
    source, lengths = padded_batch([3, 2])
    with pytest.raises(ValueError, match="beam_size: not used by method='greedy'"):
        model.translate(source, lengths, beam_size=3)
    with pytest.raises(ValueError, match="top_k: not used by method='beam'"):
        model.translate(source, lengths, method="beam", top_k=3)
    with pytest.raises(ValueError, match="method: expected one of"):
        model.translate(source, lengths, method="nucleus")


def test_beam_search_n_best(make_encoder):
    model = build_seq2seq(make_encoder, "lstm", attention="additive").eval()
    source, lengths = padded_batch([5, 2])
    result = model.translate(source, lengths, method="beam", beam_size=3, n_best=3, max_length=5)
    assert result.hypotheses.tokens.shape[:2] == (2, 3)
    assert (
        result.hypotheses.normalized_scores[:, :-1] >= result.hypotheses.normalized_scores[:, 1:]
    ).all()
    torch.testing.assert_close(result.tokens, result.hypotheses.tokens[:, 0])


# ---- Seq2Seq: other options ----------------------------------------------------------------


def test_feature_source_and_tied_embeddings(make_encoder):
    encoder = make_encoder("gru", 6, 4, bidirectional=True)
    decoder = make_encoder("gru", 8 + 8, 8)
    model = Seq2Seq(encoder, decoder, None, TARGET_VOCAB, 8, attention="dot", tie_embeddings=True)
    assert model.decoder.output.weight is model.decoder.embedding.weight
    features = torch.randn(2, 5, 6)
    logits, weights = model(features, torch.tensor([5, 3]), torch.randint(3, TARGET_VOCAB, (2, 3)))
    assert logits.shape == (2, 3, TARGET_VOCAB) and weights.shape == (2, 3, 5)


def test_dropout_is_active_in_training_only(make_encoder):
    model = build_seq2seq(make_encoder, "gru", attention="general", dropout=0.5)
    source, lengths = padded_batch([4, 3])
    target_input = torch.randint(3, TARGET_VOCAB, (2, 3))
    assert not torch.allclose(
        model(source, lengths, target_input)[0], model(source, lengths, target_input)[0]
    )
    model.eval()
    torch.testing.assert_close(
        model(source, lengths, target_input)[0], model(source, lengths, target_input)[0]
    )


def bad_seq2seq_arguments(make_encoder):
    encoder = make_encoder("lstm", SOURCE_DIM, 3, bidirectional=True)
    uni = make_encoder("gru", EMBEDDING_DIM + 6, 6)
    return {
        "bidirectional decoder": (
            (encoder, make_encoder("gru", EMBEDDING_DIM + 6, 3, bidirectional=True)),
            {},
            "decoder: expected a unidirectional",
        ),
        "unknown attention": ((encoder, uni), {"attention": "luong"}, "attention: expected one of"),
        "dot with different sizes": (
            (encoder, make_encoder("gru", EMBEDDING_DIM + 5, 5)),
            {"attention": "dot"},
            "key_size: dot attention needs key_size == query_size=5",
        ),
        "decoder input size": (
            (encoder, uni),
            {"input_feeding": False},
            r"decoder: expected input_size=5 \(embedding_dim=5\), got input_size=11",
        ),
        "tie_embeddings size": (
            (encoder, uni),
            {"tie_embeddings": True},
            "tie_embeddings: needs embedding_dim == the decoder's output_size=6",
        ),
        "bos out of range": ((encoder, uni), {"bos_index": TARGET_VOCAB}, "bos_index: expected"),
        "both source inputs": (
            (encoder, uni),
            {"source_embedding": torch.nn.Embedding(SOURCE_VOCAB, SOURCE_DIM)},
            "source_embedding: give either",
        ),
        "dropout": ((encoder, uni), {"dropout": 1.5}, "dropout: expected a probability"),
        "encoder type": ((torch.nn.GRU(4, 3), uni), {}, "encoder: expected a built"),
    }


BAD_CASES = [
    "bidirectional decoder",
    "unknown attention",
    "dot with different sizes",
    "decoder input size",
    "tie_embeddings size",
    "bos out of range",
    "both source inputs",
    "dropout",
    "encoder type",
]


@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_configuration_raises_at_construction(make_encoder, case):
    layers, options, message = bad_seq2seq_arguments(make_encoder)[case]
    with pytest.raises(ValueError, match=message):
        Seq2Seq(*layers, SOURCE_VOCAB, TARGET_VOCAB, EMBEDDING_DIM, **options)


def test_bad_forward_inputs_raise(make_encoder):
    model = build_seq2seq(make_encoder, "gru")
    source, lengths = padded_batch([3, 2])
    target_input = torch.randint(3, TARGET_VOCAB, (2, 3))
    with pytest.raises(ValueError, match="teacher_forcing_ratio: expected a value in"):
        model(source, lengths, target_input, teacher_forcing_ratio=1.5)
    with pytest.raises(ValueError, match="target_input: expected"):
        model(source, lengths, target_input.float())
    with pytest.raises(ValueError, match="lengths: expected values in"):
        model(source, torch.tensor([4, 2]), target_input)


# ---- Seq2Seq: learning ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "attention", "input_feeding"),
    [
        ("lstm", "general", True),
        ("gru", "none", False),
        pytest.param("custom", "additive", True, marks=pytest.mark.slow),
    ],
)
def test_learns_to_reverse_a_fixed_batch(make_encoder, kind, attention, input_feeding):
    """Overfit: near-zero loss in a bounded number of steps, and every parameter moved."""
    generator = torch.Generator().manual_seed(0)
    source, lengths = padded_batch([5, 3, 4, 2], generator=generator)
    target = torch.full((4, 7), PAD)
    for n, length in enumerate(lengths.tolist()):
        reversed_ids = source[n, :length].flip(0) % TARGET_VOCAB
        target[n, : length + 2] = torch.cat(
            (torch.tensor([BOS]), reversed_ids, torch.tensor([EOS]))
        )
    model = build_seq2seq(make_encoder, kind, attention=attention, input_feeding=input_feeding)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)

    for _ in range(100):
        optimizer.zero_grad()
        logits, _ = model(source, lengths, target[:, :-1])
        loss = F.cross_entropy(logits.transpose(1, 2), target[:, 1:], ignore_index=PAD)
        loss.backward()
        optimizer.step()

    assert loss.item() < 0.05
    for name, parameter in model.named_parameters():
        assert not torch.equal(parameter, before[name]), f"{name} did not change"
    model.eval()
    translation = model.translate(source, lengths, max_length=7)
    for n, length in enumerate(lengths.tolist()):
        torch.testing.assert_close(translation.tokens[n, : length + 1], target[n, 1 : length + 2])


# ---- Seq2Seq: the loss step by step --------------------------------------------------------


@pytest.mark.parametrize("attention", ATTENTION_KINDS)
@pytest.mark.parametrize("ratio", [1.0, 0.5, 0.0])
def test_stepwise_loss_equals_cross_entropy_of_the_logits(make_encoder, attention, ratio):
    """Same draws, same value and same gradients as forward's logits then cross_entropy."""
    model = build_seq2seq(make_encoder, "lstm", attention=attention, dropout=0.3).double()
    source, lengths = padded_batch([4, 2, 3, 4, 1, 3], generator=torch.Generator().manual_seed(1))
    target = torch.randint(3, TARGET_VOCAB, (6, 6), generator=torch.Generator().manual_seed(2))
    target[1, 3:] = PAD  # padded targets are left out of the mean
    target[4, 2:] = PAD
    inputs, outputs = target[:, :-1], target[:, 1:]

    torch.manual_seed(3)  # the same dropout masks in both passes
    logits = model(source, lengths, inputs, ratio, generator=torch.Generator().manual_seed(7))
    expected = F.cross_entropy(logits.logits.transpose(1, 2), outputs, ignore_index=PAD)
    expected_grads = torch.autograd.grad(expected, list(model.parameters()), allow_unused=True)

    torch.manual_seed(3)
    loss = model.loss(source, lengths, inputs, outputs, ratio, torch.Generator().manual_seed(7))
    grads = torch.autograd.grad(loss, list(model.parameters()), allow_unused=True)
    torch.testing.assert_close(loss, expected, rtol=1e-12, atol=1e-12)
    for got, want in zip(grads, expected_grads, strict=True):
        if want is None:
            assert got is None
        else:
            torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)


def test_stepwise_loss_checks_the_target_shapes(make_encoder):
    model = build_seq2seq(make_encoder, "gru", attention="additive")
    source, lengths = padded_batch([3, 2])
    with pytest.raises(ValueError, match=r"target_output: expected the shape of target_input"):
        model.loss(source, lengths, torch.ones(2, 4, dtype=torch.long), torch.ones(2, 3).long())
    with pytest.raises(ValueError, match="target_input: expected at least one step"):
        model.loss(source, lengths, torch.ones(2, 0).long(), torch.ones(2, 0).long())
