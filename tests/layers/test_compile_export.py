"""torch.compile, torch.export and ONNX export of rnnkit layers, for every backend, with and
without ``lengths=``: the same outputs, final states and gradients as eager (<= 1e-5).

The default suite compiles with the ``aot_eager`` backend (dynamo and AOT autograd, where
rnnkit's tracing paths live: the graph break around the fused kernel, the masked run for
lengths) and with inductor only for the fused kernel, which inductor could not lower on CPU;
inductor for every backend is ``slow`` (minutes of C++ compilation on 2 cores)."""

from __future__ import annotations

import functools

import pytest
import torch
import torch._dynamo.testing

import rnnkit
from onnx_runtime import onnx_outputs
from rnnkit.cells import LayerNormLSTMCell

pytestmark = pytest.mark.filterwarnings("ignore")

TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}
LENGTHS = torch.tensor([4, 2, 3])
OTHER_LENGTHS = torch.tensor([1, 4, 2])

LAYERS = {
    "lstm_auto": functools.partial(rnnkit.LSTM, 3, 4, bidirectional=True),
    "gru_loop": functools.partial(rnnkit.GRU, 3, 4, bidirectional=True, backend="loop"),
    "layer_norm_lstm": functools.partial(
        rnnkit.Recurrent, LayerNormLSTMCell, 3, 4, bidirectional=True
    ),
}


def make(name: str) -> rnnkit.Recurrent:
    torch.manual_seed(0)
    return LAYERS[name](batch_first=True)


def outputs_and_grads(layer, x, lengths):
    layer.zero_grad(set_to_none=True)
    x = x.detach().clone().requires_grad_()
    output, final = layer(x, lengths=lengths) if lengths is not None else layer(x)
    finals = (final,) if isinstance(final, torch.Tensor) else tuple(final)
    (output.square().sum() + sum(f.sum() for f in finals)).backward()
    grads = [p.grad for p in layer.parameters()]
    return [output.detach(), *(f.detach() for f in finals), x.grad, *grads]


def assert_all_close(actual, expected):
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected):
        torch.testing.assert_close(a, e, **TOLERANCE)


def check_compiled(name: str, backend: str) -> None:
    layer = make(name)
    compiled = torch.compile(layer, backend=backend)
    x = torch.randn(3, 4, 3)
    for lengths in (None, LENGTHS, OTHER_LENGTHS):
        expected = outputs_and_grads(layer, x, lengths)
        assert_all_close(outputs_and_grads(compiled, x, lengths), expected)


@pytest.mark.parametrize(
    "name",
    # The custom cell takes the generic loop, as gru_loop does under the compiler.
    ["lstm_auto", "gru_loop", pytest.param("layer_norm_lstm", marks=pytest.mark.slow)],
)
def test_compile_aot_eager_equals_eager(name):
    torch._dynamo.reset()
    check_compiled(name, "aot_eager")


def test_compile_inductor_runs_the_fused_kernel():
    """Used to fail: inductor's lowering of mkldnn_rnn_layer ('expected Tensor()')."""
    torch._dynamo.reset()
    check_compiled("lstm_auto", "inductor")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["gru_loop", "layer_norm_lstm"])
def test_compile_inductor_equals_eager(name):
    torch._dynamo.reset()
    check_compiled(name, "inductor")


def test_compiling_does_not_recompile_for_other_lengths_of_the_same_shape():
    torch._dynamo.reset()
    layer = make("gru_loop")
    counts = torch._dynamo.testing.CompileCounter()
    compiled = torch.compile(layer, backend=counts)
    x = torch.randn(3, 4, 3)
    for lengths in (LENGTHS, OTHER_LENGTHS, torch.tensor([4, 4, 4])):
        compiled(x, lengths=lengths)
    assert counts.frame_count == 1


@pytest.mark.parametrize("name", LAYERS)
def test_export_with_lengths_equals_eager_for_any_lengths(name):
    layer = make(name).eval()
    x = torch.randn(3, 4, 3)
    program = torch.export.export(layer, (x,), {"lengths": LENGTHS})
    for lengths in (LENGTHS, OTHER_LENGTHS):
        y = torch.randn(3, 4, 3)
        expected = layer(y, lengths=lengths)
        actual = program.module()(y, lengths=lengths)
        assert_all_close(_flat(actual), _flat(expected))
    # Exporting leaves the cells bound to the layer's own parameters.
    assert layer.cells["l0"].weight_ih is layer.weight_ih_l0


def _flat(result):
    output, final = result
    return [output, *((final,) if isinstance(final, torch.Tensor) else final)]


@pytest.mark.parametrize(
    "name", ["lstm_auto", pytest.param("layer_norm_lstm", marks=pytest.mark.slow)]
)
def test_onnx_with_lengths_equals_eager(name):
    layer = make(name).eval()
    x = torch.randn(3, 4, 3)
    actual = onnx_outputs(layer, (x,), {"lengths": LENGTHS}, [x, OTHER_LENGTHS])
    assert_all_close(actual, _flat(layer(x, lengths=OTHER_LENGTHS)))
