"""The layers under torch.jit.trace and torch.export (what works), and torch.jit.script (what
refuses in one line naming torch.export: TorchScript is in maintenance upstream)."""

from __future__ import annotations

import warnings

import pytest
import torch

import rnnkit

LAYERS = {
    "lstm": lambda backend: rnnkit.LSTM(3, 4, num_layers=2, bidirectional=True, backend=backend),
    "gru": lambda backend: rnnkit.GRU(3, 4, batch_first=True, backend=backend),
    "rnn": lambda backend: rnnkit.RNN(3, 4, nonlinearity="relu", backend=backend),
}


def flat(result):
    output, state = result
    return [output, *(state if isinstance(state, tuple) else (state,))]


def trace(layer, x):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.jit.trace(layer, (x,))


def export(layer, x):
    return torch.export.export(layer, (x,)).module()


# jit.trace records the fused kernel; the loop backend's one-node autograd.Function does not
# trace (it never did: the tracer's sanity check fails), torch.export takes both.
RUNS = {
    "trace-auto": (trace, "auto"),
    "export-auto": (export, "auto"),
    "export-loop": (export, "loop"),
}


@pytest.mark.parametrize("how, backend", RUNS.values(), ids=RUNS)
@pytest.mark.parametrize("kind", LAYERS)
def test_trace_and_export_give_the_eager_results(kind, how, backend):
    layer = LAYERS[kind](backend).eval()
    x = torch.randn(5, 2, 3)
    expected = flat(layer(x))
    for a, b in zip(flat(how(layer, x)(x)), expected, strict=True):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("kind", LAYERS)
def test_jit_script_refuses_in_one_line_naming_torch_export(kind):
    with pytest.raises(RuntimeError) as error:
        torch.jit.script(LAYERS[kind]("auto"))
    assert "\n" not in str(error.value) and "torch.export" in str(error.value)
