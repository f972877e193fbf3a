"""LanguageModel: option matrix, carried state (truncated BPTT), lengths, generation, learning."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from rnnkit.patterns.decoding import beam_search, greedy_decode
from rnnkit.patterns.language_model import LanguageModel, detach_state

VOCAB, EMBEDDING_DIM = 10, 6
KINDS = ("rnn", "lstm", "gru", "custom")


pytestmark = pytest.mark.usefixtures("single_thread")


def build_language_model(
    make_encoder,
    kind="lstm",
    num_layers=1,
    hidden=EMBEDDING_DIM,
    batch_first=True,
    embedding_dim=EMBEDDING_DIM,
    **options,
) -> LanguageModel:
    rnn = make_encoder(kind, embedding_dim, hidden, num_layers, False, batch_first)
    return LanguageModel(rnn, VOCAB, embedding_dim, **options)


def as_tuple(state):
    return (state,) if isinstance(state, torch.Tensor) else tuple(state)


@pytest.mark.parametrize("tie_weights", [False, True], ids=["untied", "tied"])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("kind", KINDS)
def test_forward_backward_over_the_matrix(make_encoder, kind, num_layers, tie_weights):
    model = build_language_model(make_encoder, kind, num_layers, tie_weights=tie_weights)
    tokens = torch.randint(VOCAB, (3, 5))

    logits, state = model(tokens)

    assert logits.shape == (3, 5, VOCAB)
    assert [c.shape for c in as_tuple(state)] == [
        (num_layers, 3, size) for size in model.rnn.state_size
    ]
    assert (model.output.weight is model.embedding.weight) == tie_weights
    F.cross_entropy(logits[:, :-1].transpose(1, 2), tokens[:, 1:]).backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


@pytest.mark.parametrize("batch_first", [True, False])
@pytest.mark.parametrize("kind", KINDS)
def test_two_chunks_with_carried_state_equal_one_pass(make_encoder, kind, batch_first):
    model = build_language_model(make_encoder, kind, 2, batch_first=batch_first).double()
    tokens = torch.randint(VOCAB, (3, 7))

    whole, whole_state = model(tokens)
    first, state = model(tokens[:, :3])
    second, final_state = model(tokens[:, 3:], detach_state(state))

    torch.testing.assert_close(torch.cat((first, second), 1), whole, rtol=0, atol=1e-10)
    for carried, expected in zip(as_tuple(final_state), as_tuple(whole_state)):
        torch.testing.assert_close(carried, expected, rtol=0, atol=1e-10)


def test_detach_state_cuts_the_graph_only(make_encoder):
    model = build_language_model(make_encoder, "lstm")
    _, state = model(torch.randint(VOCAB, (2, 4)))
    detached = detach_state(state)
    assert isinstance(detached, tuple) and len(detached) == 2
    assert all(not c.requires_grad for c in detached)
    assert all(torch.equal(a, b) for a, b in zip(detached, state))
    assert detach_state(None) is None
    assert LanguageModel.detach_state is detach_state


@pytest.mark.parametrize("kind", ["gru", "custom"])
def test_lengths_return_the_state_after_the_last_real_token(make_encoder, kind):
    model = build_language_model(make_encoder, kind, 2).double()
    tokens = torch.randint(VOCAB, (3, 6))
    lengths = torch.tensor([6, 2, 4])

    logits, state = model(tokens, lengths=lengths)

    for n, length in enumerate(lengths.tolist()):
        alone_logits, alone_state = model(tokens[n : n + 1, :length])
        torch.testing.assert_close(logits[n, :length], alone_logits[0], rtol=0, atol=1e-10)
        for batched, alone in zip(as_tuple(state), as_tuple(alone_state)):
            torch.testing.assert_close(batched[:, n], alone[:, 0], rtol=0, atol=1e-10)


@pytest.mark.parametrize("kind", KINDS)
def test_generate_top_k_one_equals_greedy(make_encoder, kind):
    model = build_language_model(make_encoder, kind, 2).eval()
    prompt = torch.randint(VOCAB, (3, 4))

    greedy = model.generate(prompt, max_new_tokens=6, greedy=True)
    top1 = model.generate(prompt, 6, top_k=1, generator=torch.Generator().manual_seed(1))

    assert greedy.shape == (3, 10)
    torch.testing.assert_close(greedy[:, :4], prompt, rtol=0, atol=0)
    torch.testing.assert_close(top1, greedy, rtol=0, atol=0)


def test_generate_reads_the_prompt_like_stepping_through_it(make_encoder):
    model = build_language_model(make_encoder, "lstm", 2).double().eval()
    prompt = torch.randint(VOCAB, (2, 5))

    generated = model.generate(prompt, max_new_tokens=4, greedy=True)

    # Oracle: feed the prompt token by token with step(), then pick argmax tokens.
    state, tokens = None, []
    for t in range(5):
        logits, state = model.step(prompt[:, t], state)
    for _ in range(4):
        tokens.append(logits.argmax(-1))
        logits, state = model.step(tokens[-1], state)
    torch.testing.assert_close(generated[:, 5:], torch.stack(tokens, 1), rtol=0, atol=0)


def test_generate_unbatched_prompt_sampling_and_eos(make_encoder):
    model = build_language_model(make_encoder, "gru").eval()
    prompt = torch.randint(VOCAB, (3,))

    first = model.generate(prompt, 8, top_p=0.9, generator=torch.Generator().manual_seed(3))
    again = model.generate(prompt, 8, top_p=0.9, generator=torch.Generator().manual_seed(3))
    assert first.shape == (11,) and torch.equal(first, again)
    assert model.generate(prompt[:1], 5, temperature=0.5).shape == (6,)

    eos = int(model.generate(prompt, 1, greedy=True)[-1])  # make the first greedy token the eos
    stopped = model.generate(prompt, 8, greedy=True, eos_index=eos)
    assert stopped.shape == (4,) and int(stopped[-1]) == eos


def test_shared_beam_search_drives_the_language_model(make_encoder):
    model = build_language_model(make_encoder, "lstm", 2).eval()
    state = model(torch.randint(VOCAB, (3, 4)))[1]
    bos = torch.randint(VOCAB, (3,))
    with torch.no_grad():
        beam = beam_search(model, state, bos, 0, 5, 3, beam_size=1)
        greedy = greedy_decode(model, state, bos, 0, 5, 3)
        wide = beam_search(model, state, bos, 0, 5, 3, beam_size=3, n_best=2)
    torch.testing.assert_close(beam.tokens, greedy.tokens, rtol=0, atol=0)
    assert wide.tokens.shape[:2] == (3, 2)


@pytest.mark.parametrize(
    ("rnn_options", "options", "message"),
    [
        (
            {"hidden": 8},
            {"tie_weights": True},
            "tie_weights: needs embedding_dim == rnn.output_size",
        ),
        ({"bidirectional": True}, {}, "rnn: expected a unidirectional"),
        ({"input_size": 5}, {}, "rnn: expected input_size == embedding_dim=6"),
        ({}, {"dropout": -0.1}, "dropout: expected a probability"),
        ({}, {"pad_index": VOCAB}, "pad_index: expected a token id"),
    ],
)
def test_bad_configuration_raises_at_construction(make_encoder, rnn_options, options, message):
    rnn = make_encoder(
        "lstm",
        rnn_options.get("input_size", EMBEDDING_DIM),
        rnn_options.get("hidden", EMBEDDING_DIM),
        bidirectional=rnn_options.get("bidirectional", False),
    )
    with pytest.raises(ValueError, match=message):
        LanguageModel(rnn, VOCAB, EMBEDDING_DIM, **options)


def test_bad_generate_and_forward_arguments_raise(make_encoder):
    model = build_language_model(make_encoder, "gru")
    with pytest.raises(ValueError, match="greedy: greedy decoding takes no temperature"):
        model.generate(torch.tensor([1, 2]), 3, greedy=True, top_k=2)
    with pytest.raises(ValueError, match="prompt: expected"):
        model.generate(torch.tensor([[]], dtype=torch.long), 3)
    with pytest.raises(ValueError, match="max_new_tokens: expected a positive integer"):
        model.generate(torch.tensor([1, 2]), 0)
    with pytest.raises(ValueError, match="tokens: expected"):
        model(torch.randn(2, 3))
    with pytest.raises(ValueError, match="lengths: expected values in"):
        model(torch.randint(VOCAB, (2, 3)), lengths=torch.tensor([4, 1]))


@pytest.mark.parametrize(
    ("kind", "tie_weights"),
    [("lstm", True), ("gru", False), ("custom", True)],
)
def test_learns_a_fixed_batch_with_truncated_bptt(make_encoder, kind, tie_weights):
    """Overfit two-chunk sequences with carried, detached state; every parameter must move."""
    generator = torch.Generator().manual_seed(0)
    tokens = torch.randint(VOCAB, (4, 9), generator=generator)
    tokens[:, 0] = torch.arange(4)  # distinct first tokens: every next token is determined
    model = build_language_model(
        make_encoder, kind, hidden=16, embedding_dim=16, tie_weights=tie_weights
    )
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)

    for _ in range(60):
        state, total = None, 0.0
        for chunk in (tokens[:, :5], tokens[:, 4:]):  # chunks overlap by the target token
            optimizer.zero_grad()
            logits, state = model(chunk[:, :-1], state)
            loss = F.cross_entropy(logits.transpose(1, 2), chunk[:, 1:])
            loss.backward()
            optimizer.step()
            state, total = detach_state(state), total + loss.item()

    assert total / 2 < 0.05
    for name, parameter in model.named_parameters():
        assert not torch.equal(parameter, before[name]), f"{name} did not change"
