"""Parameters as torch.nn's: names, order, shapes, initialisation, state_dict round trips, and
the cells staying bound to the layer's parameters through casting, copying and reloading."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from ._torch_oracle import (
    BATCH,
    KINDS,
    assert_same_run,
    make_twins,
    padded_input,
    random_state,
    run_layer,
)

BACKENDS = ("loop", "auto")
OPTIONS = {
    "1layer": {"num_layers": 1},
    "2layers_bi": {"num_layers": 2, "bidirectional": True},
    "3layers_nobias": {"num_layers": 3, "bias": False},
    "2layers_bi_nobias": {"num_layers": 2, "bidirectional": True, "bias": False},
}

pytestmark = pytest.mark.filterwarnings("ignore:LSTM with projections is not supported")


def fresh_torch_layer(reference: torch.nn.RNNBase) -> torch.nn.RNNBase:
    """A torch.nn layer with the same arguments as ``reference`` and other weights."""
    other = copy.deepcopy(reference)
    other.reset_parameters()
    return other


@pytest.mark.parametrize("options", OPTIONS.values(), ids=OPTIONS.keys())
@pytest.mark.parametrize("kind", KINDS)
def test_names_order_and_shapes_equal_torch(kind, options):
    reference, ours = make_twins(kind, **options)
    expected = [(name, p.shape) for name, p in reference.named_parameters()]
    assert [(name, p.shape) for name, p in ours.named_parameters()] == expected
    assert list(ours.state_dict()) == list(reference.state_dict())
    assert [[w.shape for w in group] for group in ours.all_weights] == [
        [w.shape for w in group] for group in reference.all_weights
    ]
    for ours_group, torch_group in zip(ours.all_weights, reference.all_weights, strict=True):
        for a, e in zip(ours_group, torch_group, strict=True):
            assert torch.equal(a, e)


@pytest.mark.parametrize("options", OPTIONS.values(), ids=OPTIONS.keys())
@pytest.mark.parametrize("kind", KINDS)
def test_state_dict_round_trip_torch_rnnkit_torch(kind, options):
    reference, ours = make_twins(kind, **options)  # torch -> rnnkit, strict
    back = fresh_torch_layer(reference)
    back.load_state_dict(ours.state_dict(), strict=True)  # rnnkit -> torch, strict
    for name, tensor in reference.state_dict().items():
        assert torch.equal(back.state_dict()[name], tensor), name
    ours_again = type(ours)(**_constructor_arguments(ours, kind, options))
    ours_again.load_state_dict(back.state_dict(), strict=True)
    for name, tensor in ours.state_dict().items():
        assert torch.equal(ours_again.state_dict()[name], tensor), name


def _constructor_arguments(layer, kind: str, options: dict) -> dict:
    return {
        "input_size": layer.input_size,
        "hidden_size": layer.hidden_size,
        "dtype": torch.float64,
        **dict(KINDS[kind].options),
        **options,
    }


@pytest.mark.parametrize("kind", KINDS)
def test_initialisation_is_torchs_uniform(kind):
    """Every parameter ~ U(-1/sqrt(H), 1/sqrt(H)), independently (torch.nn's init)."""
    hidden_size = 16
    spec = KINDS[kind]
    options = dict(spec.options)
    if "proj_size" in options:
        options["proj_size"] = 8
    layer = spec.rnnkit_layer(8, hidden_size, num_layers=2, bidirectional=True, **options)
    bound = 1.0 / math.sqrt(hidden_size)
    values = []
    for name, parameter in layer.named_parameters():
        assert parameter.abs().max() <= bound, f"{name} outside +-1/sqrt(hidden_size)"
        values.append(parameter.detach().flatten() / bound)
    # Kolmogorov-Smirnov against U(-1, 1); 1.95/sqrt(n) is the 0.1% critical value.
    sample = torch.cat(values).double().sort().values
    n = sample.numel()
    uniform_cdf = (sample + 1) / 2
    steps = torch.arange(1, n + 1, dtype=torch.float64) / n
    statistic = torch.maximum(steps - uniform_cdf, uniform_cdf - (steps - 1 / n)).max()
    assert statistic < 1.95 / math.sqrt(n), f"KS statistic {statistic:.4f} over {n} values"
    # Independent draws: no two parameters (e.g. the two directions) start out equal.
    flat = [p.detach().flatten() for p in layer.parameters()]
    for a in range(len(flat)):
        for b in range(a + 1, len(flat)):
            if flat[a].shape == flat[b].shape:
                assert not torch.equal(flat[a], flat[b])


def _double(reference, ours):
    return reference.double(), ours.double(), torch.float64


def _to_float64(reference, ours):
    return reference.to(torch.float64), ours.to(device="cpu", dtype=torch.float64), torch.float64


def _deepcopy(reference, ours):
    duplicate = copy.deepcopy(ours)
    with torch.no_grad():  # the original changes; the copy must not follow
        for parameter in ours.parameters():
            parameter.zero_()
    return reference, duplicate, torch.float32


def _load_assign(reference, ours):
    donor = fresh_torch_layer(reference)
    ours.load_state_dict(donor.state_dict(), strict=True, assign=True)
    assert all(a is not b for a, b in zip(ours.parameters(), donor.parameters()))
    for a, b in zip(ours.parameters(), donor.parameters()):  # taken over, then laid out flat
        assert torch.equal(a, b)
    return donor, ours, torch.float32


OPERATIONS = {
    "double": _double,
    "to": _to_float64,
    "deepcopy": _deepcopy,
    "load_state_dict_assign": _load_assign,
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("operation", OPERATIONS.values(), ids=OPERATIONS.keys())
@pytest.mark.parametrize("kind", KINDS)
def test_forward_equals_torch_after(kind, operation, backend):
    reference, ours = make_twins(
        kind, backend, torch.float32, num_layers=2, bidirectional=True, batch_first=True
    )
    reference, ours, dtype = operation(reference, ours)
    assert all(p.dtype == dtype for p in ours.parameters())
    x = padded_input(True, dtype)
    hx = random_state(reference, BATCH)
    for input_kind in ("padded", "packed"):
        options = {"input_kind": input_kind, "batch_first": True}
        expected = run_layer(reference, x, hx, **options)
        actual = run_layer(ours, x, hx, **options)
        assert_same_run(actual, expected, dtype)


@pytest.mark.parametrize("operation", OPERATIONS.values(), ids=OPERATIONS.keys())
@pytest.mark.parametrize("kind", KINDS)
def test_cells_hold_the_layers_parameters_after(kind, operation):
    """A cell used on its own (e.g. step by step in a decoder) must see the layer's weights
    right away, not only after the layer's next forward."""
    reference, ours = make_twins(kind, "loop", torch.float32, num_layers=2, bidirectional=True)
    reference, ours, dtype = operation(reference, ours)
    for suffix, cell in ours.cells.items():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr"):
            if getattr(cell, name, None) is not None:
                bound = getattr(cell, name) is getattr(ours, f"{name}_{suffix}")
                assert bound, f"cells[{suffix!r}].{name} is not the layer's {name}_{suffix}"
    # One step of the first cell equals one step of the torch layer.
    x = torch.randn(1, BATCH, ours.input_size, dtype=dtype)
    first_layer = _one_layer_twin(reference)
    first_layer.load_state_dict(dict(_layer0_parameters(reference)), strict=True)
    expected, _ = first_layer(x)
    output, _ = ours.cells["l0"].advance(x[0])  # rnnkit's step contract
    torch.testing.assert_close(output, expected[0], atol=1e-5, rtol=1e-5)


def _one_layer_twin(reference: torch.nn.RNNBase) -> torch.nn.RNNBase:
    kwargs = {"bias": reference.bias, "dtype": reference.weight_ih_l0.dtype}
    if reference.mode == "LSTM":
        return torch.nn.LSTM(
            reference.input_size, reference.hidden_size, proj_size=reference.proj_size, **kwargs
        )
    if reference.mode == "GRU":
        return torch.nn.GRU(reference.input_size, reference.hidden_size, **kwargs)
    return torch.nn.RNN(
        reference.input_size,
        reference.hidden_size,
        nonlinearity=reference.nonlinearity,
        **kwargs,
    )


def _layer0_parameters(reference: torch.nn.RNNBase):
    for name, tensor in reference.state_dict().items():
        if name.endswith("_l0"):
            yield name, tensor


def test_flatten_parameters_is_accepted():
    _, ours = make_twins("lstm", num_layers=2)
    ours.flatten_parameters()
    assert [n for n, _ in ours.named_parameters()][:2] == ["weight_ih_l0", "weight_hh_l0"]
