"""The fused kernel's parameters live in one buffer (rnnkit.layers.flat_weights): laid out at
construction and again after casting, moving, reloading and unpickling, with torch.nn's names,
objects and state_dict, and no compaction warning from the kernel."""

from __future__ import annotations

import copy
import functools
import io
import pickle
import warnings

import pytest
import torch

import rnnkit
from rnnkit.cells import LayerNormLSTMCell
from rnnkit.layers.flat_weights import flatten_weights, is_flat

from ._torch_oracle import BATCH, KINDS, make_twins, padded_input, random_state

pytestmark = pytest.mark.filterwarnings("ignore:LSTM with projections is not supported")

OPTIONS = {
    "1layer": {"num_layers": 1},
    "2layers_bi": {"num_layers": 2, "bidirectional": True},
    "2layers_nobias": {"num_layers": 2, "bias": False},
}


def assert_one_buffer(layer: rnnkit.Recurrent) -> None:
    """Every parameter of ``_flat_weights`` is a contiguous view of one storage, in order."""
    weights = layer._flat_weights
    assert len(weights) == len(list(layer.parameters()))
    assert all(isinstance(w, torch.nn.Parameter) for w in weights)
    base = weights[0].data_ptr()
    offset = 0
    for weight in weights:
        assert weight.is_contiguous()
        assert weight.untyped_storage().data_ptr() == weights[0].untyped_storage().data_ptr()
        assert weight.data_ptr() == base + offset * weight.element_size()
        offset += weight.numel()
    assert weights[0].untyped_storage().nbytes() == offset * weights[0].element_size()
    assert is_flat(weights)


def _double(layer):
    return layer.double()


def _to(layer):
    return layer.to(dtype=torch.float64)


def _deepcopy(layer):
    return copy.deepcopy(layer)


def _pickle(layer):
    return pickle.loads(pickle.dumps(layer))


def _torch_save(layer):
    buffer = io.BytesIO()
    torch.save(layer, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=False)


def _load(layer):
    donor = copy.deepcopy(layer)
    for parameter in donor.parameters():
        parameter.data = parameter.data.clone() + 1
    layer.load_state_dict(donor.state_dict())
    return layer


def _load_assign(layer):
    donor = {name: tensor.clone() + 1 for name, tensor in layer.state_dict().items()}
    layer.load_state_dict(donor, assign=True)
    for name, tensor in layer.state_dict().items():
        assert torch.equal(tensor, donor[name]), name
    return layer


OPERATIONS = {
    "double": _double,
    "to": _to,
    "deepcopy": _deepcopy,
    "pickle": _pickle,
    "torch_save": _torch_save,
    "load_state_dict": _load,
    "load_state_dict_assign": _load_assign,
}


@pytest.mark.parametrize("options", OPTIONS.values(), ids=OPTIONS.keys())
@pytest.mark.parametrize("kind", KINDS)
def test_parameters_share_one_buffer_with_torchs_names(kind, options):
    reference, ours = make_twins(kind, **options)
    assert_one_buffer(ours)
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in reference.named_parameters()]
    for name, tensor in reference.state_dict().items():
        assert torch.equal(ours.state_dict()[name], tensor), name
    # The buffer really is shared: writing through it reaches the named parameter.
    with torch.no_grad():
        ours._flat_weights[-1].view(-1)[0] = 123.0
    assert float(getattr(ours, reference._flat_weights_names[-1]).view(-1)[0]) == 123.0


@pytest.mark.parametrize("operation", OPERATIONS.values(), ids=OPERATIONS.keys())
@pytest.mark.parametrize("kind", KINDS)
def test_one_buffer_again_after(kind, operation):
    reference, ours = make_twins(kind, dtype=torch.float32, num_layers=2, bidirectional=True)
    parameters_before = list(ours.parameters())
    ours = operation(ours)
    assert_one_buffer(ours)
    for suffix, cell in ours.cells.items():  # the cells still read the layer's parameters
        assert cell.weight_ih is getattr(ours, f"weight_ih_{suffix}")
    if operation in (_double, _to, _load):  # same Parameter objects: optimizers keep working
        assert all(a is b for a, b in zip(parameters_before, ours.parameters(), strict=True))


@pytest.mark.parametrize("kind", KINDS)
def test_training_steps_keep_the_buffer_and_equal_torch(kind):
    reference, ours = make_twins(kind, num_layers=2, bidirectional=True, batch_first=True)
    optimizers = [torch.optim.Adam(m.parameters(), lr=0.1) for m in (reference, ours)]
    x = padded_input(True, torch.float64)
    hx = random_state(reference, BATCH)
    hx = hx[0] if len(hx) == 1 else hx
    for _ in range(3):
        for model, optimizer in zip((reference, ours), optimizers):
            optimizer.zero_grad()
            output, _ = model(x, hx)
            output.square().sum().backward()
            optimizer.step()
    assert_one_buffer(ours)
    for name, tensor in reference.state_dict().items():
        torch.testing.assert_close(ours.state_dict()[name], tensor, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("kind", KINDS)
def test_fused_forward_raises_no_warning(kind):
    _, ours = make_twins(kind, dtype=torch.float32, num_layers=2, bidirectional=True)
    ours = ours.double()
    x = torch.randn(5, BATCH, ours.input_size, dtype=torch.float64, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", "LSTM with projections is not supported")
        output, _ = ours(x)
        output.sum().backward()


def test_state_of_an_lstm_from_before_proj_size_loads():
    """An LSTM pickled before proj_size existed (torch < 1.8) has no ``proj_size`` in its
    state: unpickled (``__new__`` then ``__setstate__``), it is an LSTM without projection,
    in one buffer, that computes what the saved one did, as torch.nn.LSTM does."""
    _, saved = make_twins("lstm", num_layers=2)
    x = torch.randn(5, BATCH, saved.input_size, dtype=torch.float64)
    expected = saved(x)
    state = dict(saved.__dict__)
    del state["proj_size"]
    loaded = rnnkit.LSTM.__new__(rnnkit.LSTM)
    loaded.__setstate__(state)
    assert loaded.proj_size == 0
    assert_one_buffer(loaded)
    torch.testing.assert_close(loaded(x), expected, atol=1e-10, rtol=1e-10)


def test_replaced_weight_is_left_alone():
    """Weight drop replaces a parameter by a computed tensor each forward: nothing to flatten,
    nothing is moved, and the forward uses the replacement."""
    layer = rnnkit.LSTM(4, 5, num_layers=2)
    original = layer.weight_hh_l0
    dropped = torch.nn.functional.dropout(original, 0.5, training=True)
    del layer.weight_hh_l0
    layer.weight_hh_l0 = dropped
    layer.flatten_parameters()
    assert layer._flat_weights[1] is dropped
    assert layer.cells["l0"].weight_hh is dropped
    output, _ = layer(torch.randn(3, 2, 4))
    output.sum().backward()
    assert original.grad is not None


def test_custom_cells_are_not_touched():
    layer = rnnkit.Recurrent(LayerNormLSTMCell, 4, 5, num_layers=2)
    pointers = [p.data_ptr() for p in layer.parameters()]
    layer.flatten_parameters()
    assert [p.data_ptr() for p in layer.parameters()] == pointers


def test_flatten_refuses_what_cannot_share_a_buffer():
    a = torch.nn.Parameter(torch.randn(3, 2))
    b = torch.nn.Parameter(torch.randn(3, dtype=torch.float64))
    flatten = functools.partial(
        flatten_weights,
        kernel="rnn_tanh",
        input_size=2,
        hidden_size=3,
        proj_size=0,
        num_layers=1,
        bidirectional=False,
        has_biases=False,
    )
    assert not flatten([a, b])  # two dtypes
    assert not flatten([a, a])  # aliasing
    assert not flatten([a, a.detach() * 2])  # not a Parameter
    assert not flatten([])
    c = torch.nn.Parameter(torch.randn(3, 3))
    assert flatten([a, c]) and is_flat([a, c])
