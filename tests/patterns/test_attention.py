"""Attention modules against brute-force per-position formulas; masking; padding invariance."""

from __future__ import annotations

import pytest
import torch

from rnnkit.patterns.attention import (
    AdditiveAttention,
    DotAttention,
    GeneralAttention,
    make_attention,
    masked_softmax,
)

KINDS = ("additive", "dot", "general")
N, S, HQ, HK = 3, 5, 4, 6


def _build(kind: str, query_size: int = HQ, key_size: int = HK):
    if kind == "dot":
        key_size = query_size
    return make_attention(kind, query_size, key_size).double(), key_size


def _brute_force_score(attention, query, key):
    """One (query (H_q,), key (H_k,)) pair, written from the papers' formulas."""
    if isinstance(attention, AdditiveAttention):
        W = attention.query_projection.weight
        U, b = attention.key_projection.weight, attention.key_projection.bias
        return attention.v.weight[0] @ torch.tanh(W @ query + U @ key + b)
    if isinstance(attention, GeneralAttention):
        return query @ attention.key_projection.weight @ key
    return query @ key


@pytest.mark.parametrize("with_mask", [False, True], ids=["full", "masked"])
@pytest.mark.parametrize("kind", KINDS)
def test_matches_brute_force(kind, with_mask):
    attention, key_size = _build(kind)
    query = torch.randn(N, HQ, dtype=torch.float64)
    keys = torch.randn(N, S, key_size, dtype=torch.float64)
    lengths = torch.tensor([S, 2, 1]) if with_mask else torch.full((N,), S)
    mask = torch.arange(S) < lengths.unsqueeze(1) if with_mask else None

    context, weights = attention(query, keys, mask)

    assert context.shape == (N, key_size) and weights.shape == (N, S)
    for n in range(N):
        real = int(lengths[n])
        scores = torch.stack([_brute_force_score(attention, query[n], k) for k in keys[n, :real]])
        expected = scores.softmax(0)
        torch.testing.assert_close(weights[n, :real], expected, rtol=0, atol=1e-12)
        assert (weights[n, real:] == 0).all()  # exactly zero on padding
        torch.testing.assert_close(context[n], expected @ keys[n, :real], rtol=0, atol=1e-12)
    torch.testing.assert_close(weights.sum(1), torch.ones(N, dtype=torch.float64))


@pytest.mark.parametrize("kind", KINDS)
def test_padding_changes_nothing(kind):
    attention, key_size = _build(kind)
    query = torch.randn(N, HQ, dtype=torch.float64)
    keys = torch.randn(N, S, key_size, dtype=torch.float64)
    lengths = torch.tensor([S, 3, 1])
    mask = torch.arange(S) < lengths.unsqueeze(1)
    padded_keys = torch.cat((keys, 100 * torch.randn(N, 4, key_size, dtype=torch.float64)), 1)
    padded_mask = torch.cat((mask, torch.zeros(N, 4, dtype=torch.bool)), 1)
    padded_keys[~padded_mask] = 50.0  # garbage in every padded position

    context, weights = attention(query, keys, mask)
    padded_context, padded_weights = attention(query, padded_keys, padded_mask)

    torch.testing.assert_close(padded_context, context, rtol=0, atol=1e-10)
    torch.testing.assert_close(padded_weights[:, :S], weights, rtol=0, atol=1e-10)
    assert (padded_weights[~padded_mask] == 0).all()


@pytest.mark.parametrize("kind", KINDS)
def test_projected_keys_reused_and_gradients(kind):
    attention, key_size = _build(kind)
    query = torch.randn(N, HQ, dtype=torch.float64, requires_grad=True)
    keys = torch.randn(N, S, key_size, dtype=torch.float64, requires_grad=True)
    mask = torch.arange(S) < torch.tensor([[S], [2], [4]])

    context, weights = attention(query, keys, mask)
    again = attention(query, keys, mask, projected_keys=attention.project_keys(keys))
    torch.testing.assert_close(again[0], context, rtol=0, atol=0)
    torch.testing.assert_close(again[1], weights, rtol=0, atol=0)

    (context.square().sum() + weights[:, 0].sum()).backward()
    assert query.grad.abs().sum() > 0 and keys.grad.abs().sum() > 0
    for name, parameter in attention.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


def test_masked_softmax_fully_masked_row_is_zero_not_nan():
    scores = torch.randn(2, 4)
    mask = torch.tensor([[True, False, True, False], [False] * 4])
    weights = masked_softmax(scores, mask)
    assert torch.isfinite(weights).all()
    assert (weights[1] == 0).all() and (weights[0, [1, 3]] == 0).all()
    torch.testing.assert_close(weights[0].sum(), torch.tensor(1.0))


def test_make_attention_kinds():
    assert make_attention("none", 4, 6) is None
    assert isinstance(make_attention("additive", 4, 6, attention_size=3), AdditiveAttention)
    assert make_attention("additive", 4, 6, attention_size=3).attention_size == 3
    assert isinstance(make_attention("dot", 4, 4), DotAttention)
    assert isinstance(make_attention("general", 4, 6), GeneralAttention)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (("bahdanau", 4, 4), "attention: expected one of"),
        (("dot", 4, 6), "key_size: dot attention needs key_size == query_size=4"),
        (("general", 4, 6, 8), "attention_size: only used by 'additive'"),
        (("additive", 0, 6), "query_size: expected a positive integer"),
        (("general", 4, 2.5), "key_size: expected a positive integer"),
    ],
)
def test_bad_configuration_raises(arguments, message):
    with pytest.raises(ValueError, match=message):
        make_attention(*arguments)


def test_bad_input_shapes_raise():
    attention = GeneralAttention(4, 6)
    with pytest.raises(ValueError, match="query: expected shape"):
        attention(torch.randn(2, 5), torch.randn(2, 3, 6))
    with pytest.raises(ValueError, match="keys: expected shape"):
        attention(torch.randn(2, 4), torch.randn(2, 3, 5))
    with pytest.raises(ValueError, match="mask: expected shape"):
        attention(torch.randn(2, 4), torch.randn(2, 3, 6), torch.ones(2, 4, dtype=torch.bool))


def test_additive_attention_recomputing_its_hidden_layer_gives_the_same_gradients():
    torch.manual_seed(0)
    attention = AdditiveAttention(4, 6, attention_size=5).double()
    query = torch.randn(3, 4, dtype=torch.double, requires_grad=True)
    keys = torch.randn(3, 7, 6, dtype=torch.double, requires_grad=True)
    mask = torch.ones(3, 7, dtype=torch.bool)
    mask[1, 5:] = False
    results = []
    for recompute in (False, True):
        attention.recompute_hidden = recompute
        context, weights = attention(query, keys, mask)
        grads = torch.autograd.grad(
            (context.sin().sum() + weights.square().sum()),
            [query, keys, *attention.parameters()],
        )
        results.append((context, weights, grads))
    (c0, w0, g0), (c1, w1, g1) = results
    torch.testing.assert_close(c1, c0, rtol=0, atol=1e-14)
    torch.testing.assert_close(w1, w0, rtol=0, atol=1e-14)
    for got, want in zip(g1, g0, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-14)
