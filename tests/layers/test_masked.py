"""The static-shape masked run over a padded batch (rnnkit.layers.masked) equals the packed
run: outputs, final states and every gradient, in float64, for every cell, direction and depth;
padding values never reach a result."""

from __future__ import annotations

import pytest
import torch
import torch._dynamo.testing

import rnnkit
from rnnkit.cells import LayerNormLSTMCell, PeepholeLSTMCell
from rnnkit.layers.masked import bucket_length, pad_to_bucket, reversal_indices

from ._torch_oracle import KINDS, LENGTHS, padded_input

pytestmark = pytest.mark.filterwarnings("ignore:LSTM with projections is not supported")


def build(name: str, **options) -> rnnkit.Recurrent:
    if name in KINDS:
        spec = KINDS[name]
        return spec.rnnkit_layer(
            4, 5, backend="loop", dtype=torch.float64, **dict(spec.options), **options
        )
    cell = {"layer_norm_lstm": LayerNormLSTMCell, "peephole_lstm": PeepholeLSTMCell}[name]
    return rnnkit.Recurrent(cell, 4, 5, **options).double()


NAMES = [*KINDS, "layer_norm_lstm", "peephole_lstm"]
SHAPES = {
    "1layer": {"num_layers": 1},
    "1layer_bi": {"num_layers": 1, "bidirectional": True},
    "2layers_bi": {"num_layers": 2, "bidirectional": True},
}


def run(layer, x, hx, masked: bool):
    x = x.detach().clone().requires_grad_()
    hx = None if hx is None else tuple(s.detach().clone().requires_grad_() for s in hx)
    state = None if hx is None else hx[0] if len(hx) == 1 else hx
    layer.zero_grad(set_to_none=True)
    lengths = torch.tensor(LENGTHS)
    if masked:
        output, final = layer._forward_masked(x, state, lengths)
    else:
        output, final = layer(x, state, lengths=lengths)
    finals = (final,) if isinstance(final, torch.Tensor) else tuple(final)
    weights = torch.linspace(-1, 1, output.numel(), dtype=output.dtype).view_as(output)
    loss = (output * weights).sum() + sum((f * (k + 2)).sum() for k, f in enumerate(finals))
    loss.backward()
    grads = {name: p.grad for name, p in layer.named_parameters()}
    return output, finals, x.grad, None if hx is None else [s.grad for s in hx], grads


@pytest.mark.parametrize("with_state", [False, True], ids=["zero_state", "hx"])
@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
@pytest.mark.parametrize("name", NAMES)
def test_masked_equals_packed_in_float64(name, shape, with_state):
    layer = build(name, batch_first=True, **shape)
    x = padded_input(True, torch.float64)
    hx = None
    if with_state:
        layers = shape["num_layers"] * (2 if shape.get("bidirectional") else 1)
        hx = tuple(
            torch.randn(layers, len(LENGTHS), size, dtype=torch.float64)
            for size in layer.state_size
        )
    expected = run(layer, x, hx, masked=False)
    actual = run(layer, x, hx, masked=True)
    close = dict(rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(actual[0], expected[0], **close)
    for a, e in zip(actual[1], expected[1], strict=True):
        torch.testing.assert_close(a, e, **close)
    torch.testing.assert_close(actual[2], expected[2], **close)
    if with_state:
        for a, e in zip(actual[3], expected[3], strict=True):
            torch.testing.assert_close(a, e, **close)
    assert list(actual[4]) == list(expected[4])
    for parameter, grad in expected[4].items():
        torch.testing.assert_close(actual[4][parameter], grad, **close, msg=parameter)


def test_padding_never_reaches_a_result():
    layer = build("lstm", batch_first=True, num_layers=2, bidirectional=True)
    x = padded_input(True, torch.float64)
    noisy = x.clone()
    for row, length in enumerate(LENGTHS):
        noisy[row, length:] = 1e3
    clean_output, clean_final = layer._forward_masked(x, None, torch.tensor(LENGTHS))
    output, final = layer._forward_masked(noisy, None, torch.tensor(LENGTHS))
    torch.testing.assert_close(output, clean_output, rtol=0, atol=0)
    for a, e in zip(final, clean_final):
        torch.testing.assert_close(a, e, rtol=0, atol=0)
    for row, length in enumerate(LENGTHS):
        assert torch.all(output[row, length:] == 0)


def test_reversal_indices_reverse_each_sequence_within_its_length():
    index = reversal_indices(torch.tensor([3, 1, 4]), 4)
    assert index.T.tolist() == [[2, 1, 0, 3], [0, 1, 2, 3], [3, 2, 1, 0]]
    assert torch.equal(index.gather(0, index), torch.arange(4).unsqueeze(1).expand(4, 3))


def test_bucket_length_rounds_up_to_the_multiple():
    assert [bucket_length(n, 8) for n in (1, 7, 8, 9, 16, 17)] == [8, 8, 8, 16, 16, 24]
    with pytest.raises(ValueError, match="multiple: expected a positive integer, got 0"):
        bucket_length(5, 0)


def test_a_batch_padded_to_its_bucket_gives_the_same_results():
    layer = build("gru", batch_first=True, num_layers=2, bidirectional=True)
    x = padded_input(True, torch.float64)
    padded = pad_to_bucket(x, 8, batch_first=True)
    assert padded.shape == (len(LENGTHS), 8, x.shape[-1])
    output, final = layer(x, lengths=torch.tensor(LENGTHS))
    bucketed, bucketed_final = layer._forward_masked(padded, None, torch.tensor(LENGTHS))
    torch.testing.assert_close(bucketed[:, : x.shape[1]], output, rtol=1e-10, atol=1e-10)
    assert torch.all(bucketed[:, x.shape[1] :] == 0)
    torch.testing.assert_close(bucketed_final, final, rtol=1e-10, atol=1e-10)


def test_batches_of_one_bucket_compile_once():
    """Batches whose longest sequences differ (5, 7, 3 steps) pad to one bucket (8): the
    compiled layer traces once, and each result equals the eager packed run."""
    torch._dynamo.reset()
    layer = build("layer_norm_lstm", batch_first=True, bidirectional=True)
    counter = torch._dynamo.testing.CompileCounter()
    compiled = torch.compile(layer, backend=counter)
    for steps, lengths in ((5, [5, 2, 4]), (7, [3, 7, 1]), (3, [3, 3, 2])):
        x = torch.randn(3, steps, 4, dtype=torch.float64)
        expected, expected_final = layer(x, lengths=torch.tensor(lengths))
        output, final = compiled(
            pad_to_bucket(x, 8, batch_first=True), lengths=torch.tensor(lengths)
        )
        torch.testing.assert_close(output[:, :steps], expected, rtol=1e-10, atol=1e-10)
        for a, e in zip(final, expected_final):
            torch.testing.assert_close(a, e, rtol=1e-10, atol=1e-10)
    assert counter.frame_count == 1
