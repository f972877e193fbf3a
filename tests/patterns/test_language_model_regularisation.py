"""AWD-LSTM's regularisers in the language model: embedding dropout (whole words), locked
input/output dropout (one mask per sequence), AR and TAR; all inactive in eval mode."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import rnnkit
from rnnkit.patterns.activation_regularization import ActivationRegularization
from rnnkit.patterns.embedding_dropout import embedding_dropout
from rnnkit.patterns.language_model import LanguageModel

VOCAB, E = 12, 8


def model(**options) -> LanguageModel:
    torch.manual_seed(0)
    return LanguageModel(rnnkit.LSTM(E, E, batch_first=True), VOCAB, E, **options)


def test_embedding_dropout_drops_whole_words_scaled():
    embedding = nn.Embedding(VOCAB, E)
    tokens = torch.randint(VOCAB, (16, 30))
    out = embedding_dropout(embedding, tokens, 0.5)
    plain = embedding(tokens)
    dropped = (out == 0).all(-1)
    assert dropped.any() and not dropped.all()
    for word in tokens.unique():
        where = tokens == word
        assert dropped[where].all() or not dropped[where].any()  # all occurrences alike
    torch.testing.assert_close(out[~dropped], plain[~dropped] * 2)
    out.sum().backward()
    dropped_words = tokens[dropped].unique()
    assert (embedding.weight.grad[dropped_words] == 0).all()


def test_embedding_dropout_is_off_in_eval_and_drawn_per_batch():
    lm = model(embedding_dropout=0.5)
    tokens = torch.randint(VOCAB, (4, 10))
    captured = []
    lm.rnn.register_forward_pre_hook(lambda m, args: captured.append(args[0]))
    lm(tokens)
    lm(tokens)
    assert not torch.equal(captured[0], captured[1])
    lm.eval()
    lm(tokens)
    torch.testing.assert_close(captured[2], lm.embedding(tokens))


def rnn_io(lm: LanguageModel, tokens: torch.Tensor):
    """(rnn input, rnn output, output-layer input) of one forward pass."""
    seen = {}
    hooks = [
        lm.rnn.register_forward_pre_hook(lambda m, a: seen.__setitem__("in", a[0])),
        lm.rnn.register_forward_hook(lambda m, a, o: seen.__setitem__("out", o[0])),
        lm.output.register_forward_pre_hook(lambda m, a: seen.__setitem__("dropped", a[0])),
    ]
    lm(tokens)
    for hook in hooks:
        hook.remove()
    return seen["in"], seen["out"], seen["dropped"]


@pytest.mark.parametrize("variational", [True, False])
def test_input_and_output_dropout_share_one_mask_over_time(variational):
    lm = model(input_dropout=0.5, output_dropout=0.3, variational_dropout=variational)
    tokens = torch.full((16, 12), 3)  # the same word at every step: equal embedded vectors
    inputs, outputs, dropped = rnn_io(lm, tokens)
    input_mask = torch.round(inputs / lm.embedding.weight[3], decimals=4)
    output_mask = torch.round(dropped / outputs, decimals=4)
    for mask, p in ((input_mask, 0.5), (output_mask, 0.3)):
        values = mask.unique()
        torch.testing.assert_close(values, torch.tensor([0.0, round(1 / (1 - p), 4)]))
        same_over_time = torch.equal(mask, mask[:, :1].expand_as(mask))
        assert same_over_time == variational
        assert not torch.equal(mask[0], mask[1])  # each sequence its own mask


def test_dropout_defaults_to_the_shared_value_and_eval_is_identity():
    lm = model(dropout=0.25, output_dropout=0.1)
    assert (lm.input_dropout.p, lm.output_dropout.p) == (0.25, 0.1)
    lm.eval()
    tokens = torch.randint(VOCAB, (2, 5))
    inputs, outputs, dropped = rnn_io(lm, tokens)
    assert torch.equal(outputs, dropped) and torch.equal(inputs, lm.embedding(tokens))


def test_ar_and_tar_are_awd_lstms_penalties_over_all_forward_passes():
    alpha, beta = 2.0, 1.0
    lm = model(output_dropout=0.4, activation_regularization=alpha,
               temporal_activation_regularization=beta)  # fmt: skip
    first, second = torch.randint(VOCAB, (3, 7)), torch.randint(VOCAB, (3, 5))
    _, raw1, dropped1 = rnn_io(lm, first)
    _, raw2, dropped2 = rnn_io(lm, second)
    penalty = lm.activation_penalty.take()
    dropped = torch.cat([dropped1, dropped2], dim=1)
    tar = torch.cat([(r[:, 1:] - r[:, :-1]).flatten() for r in (raw1, raw2)])
    expected = alpha * dropped.pow(2).mean() + beta * tar.pow(2).mean()
    torch.testing.assert_close(penalty, expected)
    assert penalty.requires_grad
    assert lm.activation_penalty.take() == 0  # taken: starts afresh
    lm.eval()
    lm(first)
    assert lm.activation_penalty.take() == 0


def test_ar_tar_refuse_negative_coefficients_and_bad_dropouts():
    with pytest.raises(ValueError, match="alpha: expected a number >= 0"):
        ActivationRegularization(alpha=-1)
    with pytest.raises(ValueError, match=r"embedding_dropout: expected a probability"):
        model(embedding_dropout=1.5)
    with pytest.raises(ValueError, match=r"input_dropout: expected a probability"):
        model(input_dropout=-0.1)
