"""rnnkit.RNN/LSTM/GRU against torch.nn's with copied weights: the drop-in proof.

Every combination of cell kind, depth, direction, layout, input form and initial state, for
both backends: ``loop`` (the Python runner over the cells) and ``auto`` (torch's fused kernel
on standard cells). Outputs, final states, input/state gradients and parameter gradients
must match torch.nn's within 1e-10 in float64 and 1e-5 in float32.
"""

from __future__ import annotations

import pytest
import torch

from ._torch_oracle import (
    BATCH,
    INPUT_SIZE,
    KINDS,
    LENGTHS,
    STEPS,
    assert_same_run,
    make_twins,
    padded_input,
    random_state,
    run_layer,
)

BACKENDS = ("loop", "auto")
INPUT_KINDS = ("padded", "packed", "unbatched")

# torch.nn's own LSTM warns that oneDNN has no projection kernel; it falls back by itself.
pytestmark = pytest.mark.filterwarnings("ignore:LSTM with projections is not supported")


def check_parity(
    kind: str,
    backend: str,
    dtype: torch.dtype,
    *,
    num_layers: int,
    bidirectional: bool,
    batch_first: bool,
    input_kind: str,
    with_state: bool,
) -> None:
    reference, ours = make_twins(
        kind,
        backend,
        dtype,
        num_layers=num_layers,
        bidirectional=bidirectional,
        batch_first=batch_first,
    )
    assert ours.uses_fused_kernel == (backend == "auto")
    if input_kind == "unbatched":
        x, batch = torch.randn(STEPS, INPUT_SIZE, dtype=dtype), None
    else:
        x, batch = padded_input(batch_first, dtype), BATCH
    hx = random_state(reference, batch) if with_state else None
    options = {"input_kind": input_kind, "batch_first": batch_first}
    expected = run_layer(reference, x, hx, **options)
    actual = run_layer(ours, x, hx, **options)
    assert_same_run(actual, expected, dtype)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("with_state", [False, True], ids=["zero_state", "given_state"])
@pytest.mark.parametrize("input_kind", INPUT_KINDS)
@pytest.mark.parametrize("batch_first", [False, True], ids=["time_major", "batch_first"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("num_layers", [1, 2, 3], ids=["1layer", "2layers", "3layers"])
@pytest.mark.parametrize("kind", KINDS)
def test_matches_torch_float64(
    kind, num_layers, bidirectional, batch_first, input_kind, with_state, backend
):
    check_parity(
        kind,
        backend,
        torch.float64,
        num_layers=num_layers,
        bidirectional=bidirectional,
        batch_first=batch_first,
        input_kind=input_kind,
        with_state=with_state,
    )


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("input_kind", INPUT_KINDS)
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("kind", KINDS)
def test_matches_torch_float32(kind, bidirectional, input_kind, backend):
    check_parity(
        kind,
        backend,
        torch.float32,
        num_layers=2,
        bidirectional=bidirectional,
        batch_first=True,
        input_kind=input_kind,
        with_state=True,
    )


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("with_state", [False, True], ids=["zero_state", "given_state"])
@pytest.mark.parametrize("batch_first", [False, True], ids=["time_major", "batch_first"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("kind", KINDS)
def test_lengths_equals_torch_on_packed_input(
    kind, bidirectional, batch_first, with_state, backend
):
    """``forward(padded, lengths=...)`` = torch.nn on the PackedSequence of the same data."""
    num_layers = 2
    reference, ours = make_twins(
        kind, backend, num_layers=num_layers, bidirectional=bidirectional, batch_first=batch_first
    )
    x = padded_input(batch_first, torch.float64)
    hx = random_state(reference, BATCH) if with_state else None
    expected = run_layer(
        reference, x, hx, input_kind="packed", batch_first=batch_first, pad_output=True
    )
    actual = run_layer(ours, x, hx, input_kind="lengths", batch_first=batch_first)
    assert_same_run(actual, expected, torch.float64)

    # Spelled out: zero past each length, h_n taken at each sequence's last real step.
    output = actual.output if batch_first else actual.output.transpose(0, 1)  # (N, L, D*H)
    h_n = actual.finals[0]
    size = h_n.shape[-1]
    directions = 2 if bidirectional else 1
    for row, length in enumerate(LENGTHS):
        assert torch.all(output[row, length:] == 0), f"sequence {row}: output past its length"
        last_forward = h_n[(num_layers - 1) * directions, row]
        assert torch.equal(output[row, length - 1, :size], last_forward)
        if bidirectional:
            assert torch.equal(output[row, 0, size:], h_n[-1, row])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("kind", KINDS)
def test_padding_values_never_change_a_result(kind, bidirectional, backend):
    batch_first = True
    _, ours = make_twins(
        kind, backend, num_layers=2, bidirectional=bidirectional, batch_first=batch_first
    )
    clean = padded_input(batch_first, torch.float64)
    garbage = clean.clone()
    for row, length in enumerate(LENGTHS):
        garbage[row, length:] = 1e4 * torch.randn_like(garbage[row, length:]) + 3e3
    options = {"input_kind": "lengths", "batch_first": batch_first}
    with_clean = run_layer(ours, clean, None, **options)
    with_garbage = run_layer(ours, garbage, None, **options)
    assert torch.equal(with_garbage.output, with_clean.output)
    for a, e in zip(with_garbage.finals, with_clean.finals, strict=True):
        assert torch.equal(a, e)
    assert torch.equal(with_garbage.input_grad, with_clean.input_grad)
    for row, length in enumerate(LENGTHS):
        assert torch.all(with_garbage.input_grad[row, length:] == 0)
    for name, grad in with_clean.parameter_grads.items():
        assert torch.equal(with_garbage.parameter_grads[name], grad), name


TORCH_ATTRIBUTES = (
    "mode",
    "input_size",
    "hidden_size",
    "num_layers",
    "bias",
    "batch_first",
    "dropout",
    "bidirectional",
    "proj_size",
)


@pytest.mark.parametrize("kind", KINDS)
def test_attributes_match_torch(kind):
    """The attributes torch.nn.RNNBase sets on every layer, ``proj_size`` (0) on RNN and GRU
    included, and ``nonlinearity`` on RNN: code written for torch.nn reads them."""
    options = {"num_layers": 2, "bias": False, "batch_first": True, "dropout": 0.25}
    reference, ours = make_twins(kind, bidirectional=True, **options)
    names = TORCH_ATTRIBUTES + (("nonlinearity",) if reference.mode.startswith("RNN") else ())
    for name in names:
        assert getattr(ours, name) == getattr(reference, name), name
