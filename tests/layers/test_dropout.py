"""Dropout acts between stacked layers only, as torch.nn's: never on the last layer's output,
never inside a recurrence, never in eval mode.

No test relies on a particular random mask. The training-mode tests either make the result
independent of the mask by construction (exact checks), or observe many independent masks at
once (a batch of identical copies of one sequence) and allow several standard errors.
"""

from __future__ import annotations

import math

import pytest
import torch

import rnnkit

from ._torch_oracle import (
    BATCH,
    HIDDEN_SIZE,
    INPUT_SIZE,
    KINDS,
    STEPS,
    assert_same_run,
    make_twins,
    padded_input,
    random_state,
    run_layer,
)

BACKENDS = ("loop", "auto")
P = 0.3
COPIES = 400  # independent dropout masks per statistic: thousands of Bernoulli draws in all
Z = 6.0  # allowed standard errors: a false alarm has probability ~1e-9 per statistic

pytestmark = pytest.mark.filterwarnings("ignore:LSTM with projections is not supported")


def copies_of_one_sequence(dtype=torch.float64) -> torch.Tensor:
    """``(L, COPIES, H_in)``: one random sequence repeated, so each copy draws its own mask."""
    return torch.randn(STEPS, 1, INPUT_SIZE, dtype=dtype).expand(STEPS, COPIES, INPUT_SIZE)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("kind", KINDS)
def test_eval_mode_matches_torch(kind, bidirectional, backend):
    reference, ours = make_twins(
        kind, backend, num_layers=3, dropout=P, bidirectional=bidirectional
    )
    reference.eval()
    ours.eval()
    x = padded_input(False, torch.float64)
    hx = random_state(reference, BATCH)
    for input_kind in ("padded", "packed"):
        expected = run_layer(reference, x, hx, input_kind=input_kind, batch_first=False)
        actual = run_layer(ours, x, hx, input_kind=input_kind, batch_first=False)
        assert_same_run(actual, expected, torch.float64)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("kind", KINDS)
def test_no_dropout_on_the_output_or_inside_a_recurrence(kind, bidirectional, backend):
    """With the last layer blind to its input, training mode must equal eval mode exactly.

    The only dropout allowed (on layer 0's output) then cannot reach any result; dropout on
    the last layer's output, on a recurrent state, or on the network input would.
    """
    _, ours = make_twins(kind, backend, num_layers=2, dropout=P, bidirectional=bidirectional)
    x = padded_input(False, torch.float64)
    hx = tuple(torch.randn_like(s) for s in ours._initial_state(None, BATCH, x))
    hx = hx[0] if len(hx) == 1 else hx

    ours.train()
    active_output, _ = ours(x, hx)
    ours.eval()
    eval_output, _ = ours(x, hx)
    # The test can fail: with the last layer reading its input, dropout is visible.
    assert not torch.allclose(active_output, eval_output), "dropout had no effect in training"

    with torch.no_grad():
        for name, parameter in ours.named_parameters():
            if name.startswith("weight_ih_l1"):
                parameter.zero_()
    expected_output, expected_final = ours(x, hx)
    ours.train()
    for _ in range(5):
        output, final = ours(x, hx)
        torch.testing.assert_close(output, expected_output, atol=1e-12, rtol=1e-12)
        finals = (final,) if isinstance(final, torch.Tensor) else final
        expected_finals = (expected_final,) if isinstance(final, torch.Tensor) else expected_final
        for component, expected in zip(finals, expected_finals, strict=True):
            torch.testing.assert_close(component, expected, atol=1e-12, rtol=1e-12)


def identity_second_layer(bidirectional: bool, backend: str) -> rnnkit.RNN:
    """A 2-layer ReLU RNN whose second layer outputs exactly what it reads.

    Layer 1 has ``weight_ih = [I, 0]`` (reverse: ``[0, I]``), no recurrence and no bias, so
    its output at step ``t`` is ``relu(dropout(y_t)) = dropout(y_t)``, ``y`` being layer 0's
    (non-negative) output: the layer's output shows the inter-layer dropout as is.
    """
    layer = rnnkit.RNN(
        INPUT_SIZE,
        HIDDEN_SIZE,
        num_layers=2,
        nonlinearity="relu",
        dropout=P,
        bidirectional=bidirectional,
        dtype=torch.float64,
        backend=backend,
    )
    eye = torch.eye(HIDDEN_SIZE, dtype=torch.float64)
    zero = torch.zeros_like(eye)
    with torch.no_grad():
        for name, parameter in layer.named_parameters():
            if "_l1" not in name:
                if name.startswith("bias"):
                    parameter.abs_()  # keeps most of layer 0's ReLU units alive
                continue
            if name.startswith("weight_ih"):
                blocks = ([zero, eye] if name.endswith("_reverse") else [eye, zero])[
                    : 2 if bidirectional else 1
                ]
                parameter.copy_(torch.cat(blocks, dim=1) if bidirectional else eye)
            else:
                parameter.zero_()
    return layer


def check_dropped(dropped: torch.Tensor, undropped: torch.Tensor) -> None:
    """``dropped``: many draws of ``dropout(undropped)`` along dim 1 (``undropped`` has 1).

    Every entry must be 0 or ``undropped / (1 - P)``; zeros must have frequency ``P``; and
    the mean over the draws must equal ``undropped``, all within ``Z`` standard errors.
    """
    alive = undropped.abs() > 1e-6
    assert alive.sum() >= 10, "too few non-zero entries to test"
    mask = alive.expand_as(dropped)
    ratio = dropped[mask] / (undropped.expand_as(dropped)[mask] / (1 - P))
    is_zero = ratio == 0
    assert torch.all(is_zero | ((ratio - 1).abs() < 1e-9)), (
        "an entry is neither dropped nor undropped / (1 - p): dropout applied elsewhere too"
    )
    draws = is_zero.numel()
    fraction = is_zero.double().mean().item()
    assert abs(fraction - P) < Z * math.sqrt(P * (1 - P) / draws), (
        f"dropped fraction {fraction:.4f}, expected {P} (from {draws} draws)"
    )
    # Per entry: the mean over the copies is unbiased; its standard error is known exactly.
    copies = dropped.shape[1]
    mean = dropped.mean(dim=1, keepdim=True)
    standard_error = undropped.abs() * math.sqrt(P / ((1 - P) * copies))
    z = ((mean - undropped) / standard_error)[alive]
    assert z.abs().max() < Z, f"mean over {copies} draws is biased: max |z| = {z.abs().max()}"


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
def test_dropout_between_layers_statistics(bidirectional, backend):
    layer = identity_second_layer(bidirectional, backend)
    x = copies_of_one_sequence()
    layer.eval()
    undropped, _ = layer(x[:, :1])  # (L, 1, D*H)
    layer.train()
    dropped, _ = layer(x)  # (L, COPIES, D*H)
    check_dropped(dropped, undropped)


@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("kind", KINDS)
def test_second_layer_reads_dropped_first_layer_output(kind, bidirectional):
    """Observe the second layer's input itself (loop backend: the cells see it)."""
    _, ours = make_twins(kind, "loop", num_layers=2, dropout=P, bidirectional=bidirectional)
    seen: dict[str, list[torch.Tensor]] = {}
    for suffix in ("l1", "l1_reverse") if bidirectional else ("l1",):
        cell = ours.cells[suffix]
        record = seen.setdefault(suffix, [])
        project = cell.project_input

        def recording(inputs, project=project, record=record):
            record.append(inputs.detach().clone())
            return project(inputs)

        cell.project_input = recording
    x = copies_of_one_sequence()
    ours.eval()
    ours(x[:, :1])
    ours.train()
    ours(x)
    undropped = seen["l1"][0].view(STEPS, 1, -1)
    dropped = seen["l1"][1].view(STEPS, COPIES, -1)
    check_dropped(dropped, undropped)
    if bidirectional:
        # One dropout on the concatenated output of both directions, read by both cells.
        assert torch.equal(seen["l1_reverse"][1], seen["l1"][1])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", KINDS)
def test_single_layer_dropout_warns_and_does_nothing(kind, backend):
    with pytest.warns(UserWarning, match="dropout"):
        _, ours = make_twins(kind, backend, num_layers=1, dropout=P)
    x = padded_input(False, torch.float64)
    ours.eval()
    expected, _ = ours(x)
    ours.train()
    output, _ = ours(x)
    torch.testing.assert_close(output, expected, atol=1e-12, rtol=1e-12)
