"""observe_steps: every step reported in real time order, results unchanged, layers restored."""

from __future__ import annotations

import functools
import itertools

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

import rnnkit
from rnnkit.cells import LayerNormLSTMCell, PeepholeLSTMCell
from rnnkit.layers.observe import ObservedStep, StepProxy, observe_steps

INPUT_SIZE, HIDDEN_SIZE, STEPS = 3, 4, 5
LENGTHS = (3, 5, 2)  # unsorted and distinct: the packed order is (1, 0, 2)

LAYERS = {
    "rnn_tanh": functools.partial(rnnkit.RNN, nonlinearity="tanh"),
    "rnn_relu": functools.partial(rnnkit.RNN, nonlinearity="relu"),
    "lstm": rnnkit.LSTM,
    "lstm_proj": functools.partial(rnnkit.LSTM, proj_size=2),
    "gru": rnnkit.GRU,
    "peephole": functools.partial(rnnkit.Recurrent, PeepholeLSTMCell),
    "layer_norm": functools.partial(rnnkit.Recurrent, LayerNormLSTMCell),
}
INPUTS = ("time_major", "batch_first", "lengths", "packed", "unbatched")


def make_layer(kind: str, **options) -> rnnkit.Recurrent:
    return LAYERS[kind](INPUT_SIZE, HIDDEN_SIZE, **options).double()


def run(layer: rnnkit.Recurrent, form: str, x: torch.Tensor):
    """Output as time-major padded ``(L, N, D*H)``, for input ``x (L, N, F)`` in ``form``."""
    lengths = torch.tensor(LENGTHS)
    if form == "time_major":
        return layer(x)[0]
    if form == "batch_first":
        layer.batch_first = True
        try:
            return layer(x.transpose(0, 1))[0].transpose(0, 1)
        finally:
            layer.batch_first = False
    if form == "lengths":
        return layer(x, lengths=lengths)[0]
    if form == "packed":
        packed = pack_padded_sequence(x, lengths, enforce_sorted=False)
        output = layer(packed)[0]
        return torch.nn.utils.rnn.pad_packed_sequence(output, total_length=STEPS)[0]
    return layer(x[:, 0])[0].unsqueeze(1)  # unbatched


def alive(form: str, t: int) -> list[int]:
    """Batch rows alive at ``t``, in the order the runner holds them."""
    if form == "unbatched":
        return [0]
    if form in ("lengths", "packed"):
        order = sorted(range(len(LENGTHS)), key=lambda n: -LENGTHS[n])
        return [n for n in order if LENGTHS[n] > t]
    return list(range(len(LENGTHS)))


def restored(layer: rnnkit.Recurrent, fused_before: bool) -> bool:
    return (
        layer.uses_fused_kernel == fused_before
        and "_loop_cells" not in layer.__dict__
        and not layer._forward_hooks
        and not layer._forward_pre_hooks
        and not any(isinstance(c, StepProxy) for row in layer._loop_cells() for c in row)
    )


CASES = list(itertools.product(LAYERS, INPUTS, (1, 2), (False, True)))


@pytest.mark.parametrize(("kind", "form", "num_layers", "bidirectional"), CASES)
def test_every_step_is_reported_in_time_order(kind, form, num_layers, bidirectional):
    layer = make_layer(kind, num_layers=num_layers, bidirectional=bidirectional)
    fused_before = layer.uses_fused_kernel
    x = torch.randn(STEPS, len(LENGTHS), INPUT_SIZE, dtype=torch.float64)
    reference = run(layer, form, x)
    records: list[ObservedStep] = []
    with observe_steps(layer, records.append):
        observed = run(layer, form, x)
        assert not layer.uses_fused_kernel
    assert restored(layer, fused_before)
    torch.testing.assert_close(observed, reference, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(run(layer, form, x), reference, rtol=0, atol=0)

    directions = 2 if bidirectional else 1
    names = [f"l{k}" + ("_reverse" if d else "") for k in range(num_layers) for d in (0, 1)]
    names = [n for n in names if directions == 2 or not n.endswith("_reverse")]
    steps = 1 if form == "unbatched" else len(LENGTHS)
    length = STEPS if form not in ("lengths", "packed") else max(LENGTHS)
    by_name = {name: [r for r in records if r.name == name] for name in names}
    assert [r.name for r in records] == [n for n in names for _ in range(length)]
    output_size = layer.output_size
    for name, steps_of_layer in by_name.items():
        reverse = name.endswith("_reverse")
        assert [r.time for r in steps_of_layer] == list(range(length))
        assert [r.visit for r in steps_of_layer] == (
            list(range(length))[::-1] if reverse else list(range(length))
        )
        for record in steps_of_layer:
            rows = alive(form, record.time) if steps > 1 else [0]
            assert record.batch_size == len(rows)
            assert record.call == 0 and record.module == ""
            assert type(record.cell) is type(layer.cells[name])
        # The state chain runs forward in time (backward for reverse): times are real times.
        for earlier, later in zip(steps_of_layer, steps_of_layer[1:]):
            giver, taker = (later, earlier) if reverse else (earlier, later)
            shared = min(giver.batch_size, taker.batch_size)
            torch.testing.assert_close(taker.previous_state[0][:shared], giver.output[:shared])
        if name.startswith(f"l{num_layers - 1}"):  # top layer: compare with the layer output
            columns = slice(output_size, None) if reverse else slice(0, output_size)
            for record in steps_of_layer:
                rows = alive(form, record.time) if steps > 1 else [0]
                expected = observed[record.time, rows, columns]
                torch.testing.assert_close(record.output, expected, rtol=1e-10, atol=1e-10)


def test_model_paths_and_calls_and_nesting():
    model = nn.ModuleDict({"encoder": make_layer("gru"), "decoder": make_layer("lstm")})
    x = torch.randn(STEPS, 2, INPUT_SIZE, dtype=torch.float64)
    outer, inner = [], []
    with observe_steps(model, outer.append):
        with observe_steps(model["decoder"], inner.append):
            model["encoder"](x)
            model["decoder"](x[:2])
            model["decoder"](x[:3])
        assert not model["decoder"].uses_fused_kernel  # the outer observation still holds
        model["decoder"](x[:1])
    assert restored(model["encoder"], True) and restored(model["decoder"], True)
    assert [(r.name, r.call, r.time) for r in inner] == [("l0", 0, 0), ("l0", 0, 1)] + [
        ("l0", 1, t) for t in range(3)
    ]
    assert [r.name for r in outer] == ["encoder.l0"] * STEPS + ["decoder.l0"] * 6
    assert [r.call for r in outer if r.module == "decoder"] == [0, 0, 1, 1, 1, 2]
    assert all(type(r.cell) is rnnkit.LSTMCell for r in inner)  # the real cell, not a proxy


def test_restored_after_an_exception_and_a_failed_forward():
    layer = make_layer("lstm")
    records = []
    with pytest.raises(RuntimeError, match="boom"), observe_steps(layer, records.append):
        layer(torch.randn(STEPS, 2, INPUT_SIZE, dtype=torch.float64))
        raise RuntimeError("boom")
    assert restored(layer, True) and len(records) == STEPS

    records.clear()
    with observe_steps(layer, records.append):
        with pytest.raises(RuntimeError, match="input_size"):
            layer(torch.randn(STEPS, 2, INPUT_SIZE + 1, dtype=torch.float64))
        layer(torch.randn(2, 1, INPUT_SIZE, dtype=torch.float64))
    assert [r.time for r in records] == [0, 1]
    assert restored(layer, True)


def test_gradient_flows_through_observed_outputs():
    layer = make_layer("gru", bidirectional=True)
    x = torch.randn(STEPS, 2, INPUT_SIZE, dtype=torch.float64, requires_grad=True)
    reference = torch.autograd.grad(layer(x)[0].pow(2).sum(), x)[0]
    grads = {}

    def observer(step):
        step.output.register_hook(lambda g, key=(step.name, step.time): grads.setdefault(key, g))

    with observe_steps(layer, observer):
        observed = torch.autograd.grad(layer(x)[0].pow(2).sum(), x)[0]
    torch.testing.assert_close(observed, reference)
    assert len(grads) == 2 * STEPS


@pytest.mark.parametrize(
    ("target", "observer", "message"),
    [
        ("lstm", print, "layer_or_model: expected an nn.Module"),
        (nn.Linear(2, 2), print, "layer_or_model: expected a module containing"),
        (None, None, "observer: expected a callable"),
    ],
)
def test_bad_arguments_name_what_is_wrong(target, observer, message):
    target = make_layer("lstm") if target is None else target
    with pytest.raises(ValueError, match=message), observe_steps(target, observer):
        pass
