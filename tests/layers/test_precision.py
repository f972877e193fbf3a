"""Mixed precision (rnnkit.layers.precision): under CPU autocast a layer runs in bfloat16
whatever dtypes its input and initial state arrive in, for every backend and input kind, close
to float32 and with float32 gradients on its parameters; outside autocast nothing is cast."""

from __future__ import annotations

import functools

import pytest
import torch

import rnnkit
from rnnkit.cells import LayerNormLSTMCell
from rnnkit.layers.precision import autocast_dtype

from ._torch_oracle import BATCH, KINDS, LENGTHS, make_twins, padded_input, random_state

pytestmark = pytest.mark.filterwarnings("ignore:LSTM with projections is not supported")

# bfloat16 keeps 8 bits of mantissa: over a few steps of a small layer the values stay within
# a few hundredths on average; single entries (layer norm rescales small, rounded values) can
# be off by up to ~0.12.
MEAN_TOLERANCE = 2e-2
MAX_TOLERANCE = 0.15
INPUT_KINDS = ("padded", "lengths", "packed")


def layers():
    for kind in KINDS:
        for backend in ("auto", "loop"):
            yield f"{kind}-{backend}", functools.partial(make_twins, kind, backend)
    yield (
        "layer_norm_lstm",
        lambda dtype, **options: (
            None,
            rnnkit.Recurrent(LayerNormLSTMCell, 4, 5, **options).to(dtype),
        ),
    )


LAYERS = dict(layers())


def run(layer, x, hx, input_kind):
    if input_kind == "packed":
        x = torch.nn.utils.rnn.pack_padded_sequence(
            x, torch.tensor(LENGTHS), batch_first=True, enforce_sorted=False
        )
    lengths = torch.tensor(LENGTHS) if input_kind == "lengths" else None
    output, final = layer(x, hx, lengths=lengths) if lengths is not None else layer(x, hx)
    if input_kind == "packed":
        output, _ = torch.nn.utils.rnn.pad_packed_sequence(output, batch_first=True)
    return output, (final,) if isinstance(final, torch.Tensor) else tuple(final)


@pytest.mark.parametrize("state_dtype", [None, torch.float32, torch.bfloat16])
@pytest.mark.parametrize("input_kind", INPUT_KINDS)
@pytest.mark.parametrize("name", LAYERS)
def test_bf16_autocast_runs_in_bf16_close_to_float32(name, input_kind, state_dtype):
    _, layer = LAYERS[name](dtype=torch.float32, num_layers=2, bidirectional=True)
    layer.batch_first = True
    x = padded_input(True, torch.float32)
    hx = None
    if state_dtype is not None:
        shapes = [(4, BATCH, size) for size in layer.state_size]
        hx = tuple(0.5 * torch.randn(shape, dtype=state_dtype) for shape in shapes)
        hx = hx[0] if len(hx) == 1 else hx
    expected, expected_final = run(layer, x, _as(hx, torch.float32), input_kind)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        output, final = run(layer, x, hx, input_kind)
    assert output.dtype == torch.bfloat16
    assert all(component.dtype == torch.bfloat16 for component in final)
    assert_roughly_equal(output, expected)
    for a, e in zip(final, expected_final, strict=True):
        assert_roughly_equal(a, e)
    (output.float().square().sum() + sum(f.float().sum() for f in final)).backward()
    for parameter_name, parameter in layer.named_parameters():
        assert parameter.grad is not None, parameter_name
        assert parameter.grad.dtype == torch.float32, parameter_name
        assert parameter.grad.isfinite().all(), parameter_name


def assert_roughly_equal(bf16: torch.Tensor, float32: torch.Tensor) -> None:
    difference = (bf16.float() - float32).abs()
    assert difference.mean() <= MEAN_TOLERANCE, f"mean difference {difference.mean():.4f}"
    assert difference.max() <= MAX_TOLERANCE, f"largest difference {difference.max():.4f}"


def _as(hx, dtype):
    if hx is None:
        return None
    if isinstance(hx, torch.Tensor):
        return hx.to(dtype)
    return tuple(s.to(dtype) for s in hx)


def test_outside_autocast_a_state_of_another_dtype_is_refused():
    reference, layer = make_twins("gru", dtype=torch.float32)
    hx = random_state(reference, BATCH)[0].double()
    with pytest.raises(RuntimeError, match=r"hx dtype \(torch.float64\) does not match input"):
        layer(torch.randn(5, BATCH, 4), hx)


def test_autocast_dtype_follows_the_device_and_the_input():
    x = torch.randn(2, 3)
    assert autocast_dtype(x) is None
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert autocast_dtype(x) == torch.bfloat16
        assert autocast_dtype(torch.ones(2, dtype=torch.long)) is None
