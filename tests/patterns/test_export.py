"""Every pattern called with lengths exports with torch.export (and, slow, to ONNX), and the
exported program equals eager (<= 1e-5) for lengths other than the ones it was traced with."""

from __future__ import annotations

import pytest
import torch

import rnnkit
from onnx_runtime import onnx_outputs
from rnnkit.cells import LayerNormLSTMCell
from rnnkit.patterns import (
    Forecaster,
    LanguageModel,
    ManyToOne,
    OneToMany,
    Seq2Seq,
    SequenceTagger,
)

pytestmark = pytest.mark.filterwarnings("ignore")

TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}
BATCH, STEPS, VOCAB, EMBEDDING = 3, 5, 11, 4
TRACED_LENGTHS = torch.tensor([5, 2, 4])
OTHER_LENGTHS = torch.tensor([1, 5, 3])


def tokens() -> torch.Tensor:
    return torch.randint(3, VOCAB, (BATCH, STEPS))


def many_to_one(rnn):
    model = ManyToOne(rnn(EMBEDDING, 6, bidirectional=True), 3, pooling="last")
    model.input_layer = torch.nn.Embedding(VOCAB, EMBEDDING)
    return model, lambda lengths: ((tokens(), lengths), {})


def sequence_tagger(rnn):
    model = SequenceTagger(
        rnn(EMBEDDING, 6, bidirectional=True), 4, input_layer=torch.nn.Embedding(VOCAB, EMBEDDING)
    )
    return model, lambda lengths: ((tokens(), lengths), {})


def seq2seq(rnn):
    model = Seq2Seq(
        rnn(EMBEDDING, 6, bidirectional=True),
        rnnkit.GRU(EMBEDDING + 6, 6, batch_first=True),
        VOCAB,
        VOCAB,
        EMBEDDING,
        attention="general",
    )
    return model, lambda lengths: ((tokens(), lengths, tokens()[:, :4]), {})


def one_to_many(rnn):
    model = OneToMany(5, rnn(EMBEDDING + 6, 6), VOCAB, EMBEDDING, attention="general")
    return model, lambda lengths: (
        (torch.randn(BATCH, STEPS, 5), tokens()[:, :4]),
        {"feature_lengths": lengths},
    )


def language_model(rnn):
    model = LanguageModel(rnn(EMBEDDING, 6), VOCAB, EMBEDDING)
    return model, lambda lengths: ((tokens(),), {"lengths": lengths})


def forecaster(rnn):
    model = Forecaster(rnn(2, 6), horizon=3, num_targets=2)
    return model, lambda lengths: ((torch.randn(BATCH, STEPS, 2),), {"lengths": lengths})


PATTERNS = {
    "many_to_one": many_to_one,
    "sequence_tagger": sequence_tagger,
    "seq2seq": seq2seq,
    "one_to_many": one_to_many,
    "language_model": language_model,
    "forecaster": forecaster,
}
RNNS = {
    "lstm": lambda i, h, **kw: rnnkit.LSTM(i, h, batch_first=True, **kw),
    "layer_norm_lstm": lambda i, h, **kw: rnnkit.Recurrent(
        LayerNormLSTMCell, i, h, batch_first=True, **kw
    ),
}


def leaves(result) -> list[torch.Tensor]:
    if isinstance(result, torch.Tensor):
        return [result]
    return [t for part in result if part is not None for t in leaves(part)]


def build(pattern: str, rnn: str):
    torch.manual_seed(0)
    model, make_inputs = PATTERNS[pattern](RNNS[rnn])
    return model.eval(), make_inputs


@pytest.mark.parametrize("rnn", RNNS)
@pytest.mark.parametrize("pattern", PATTERNS)
def test_export_with_lengths_equals_eager(pattern, rnn):
    model, make_inputs = build(pattern, rnn)
    args, kwargs = make_inputs(TRACED_LENGTHS)
    program = torch.export.export(model, args, kwargs)
    for lengths in (TRACED_LENGTHS, OTHER_LENGTHS):
        args, kwargs = make_inputs(lengths)
        expected = leaves(model(*args, **kwargs))
        actual = leaves(program.module()(*args, **kwargs))
        assert len(actual) == len(expected)
        for a, e in zip(actual, expected):
            torch.testing.assert_close(a, e, **TOLERANCE)


@pytest.mark.slow
@pytest.mark.parametrize("pattern", PATTERNS)
def test_onnx_with_lengths_equals_eager(pattern):
    model, make_inputs = build(pattern, "lstm")
    args, kwargs = make_inputs(TRACED_LENGTHS)
    export_args = (args, kwargs)
    args, kwargs = make_inputs(OTHER_LENGTHS)
    actual = onnx_outputs(model, *export_args, [*args, *kwargs.values()])
    expected = leaves(model(*args, **kwargs))
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected):
        torch.testing.assert_close(a, e, **TOLERANCE)
