"""torch's own module_db entries for nn.RNN/LSTM/GRU/RNNCell/LSTMCell/GRUCell, run on rnnkit.

``torch.testing._internal.common_modules.module_db`` is where PyTorch lists, for each of its
modules, the sample constructions and inputs its test suite (``test/test_modules.py``) runs,
with a reference function for each sample, and the constructions and calls that must fail
(``module_error_inputs_func``: exception type and message regex). This file reads the entries
of the installed torch and checks rnnkit's six classes against them, on CPU, in float32 and
float64:

* every sample builds, loads the torch.nn twin's state_dict (strict, both ways), and gives the
  twin's outputs and gradients (input and parameters) exactly, and the sample's reference
  function's outputs (unbatched input = a batch of one);
* every error input raises the listed exception type with a message matching the regex;
* ``to(dtype)``, ``deepcopy``, ``pickle`` and ``torch.save``/``torch.load`` of a module keep
  its outputs, as for torch.nn.

``scripts/check_torch_suite.py`` runs PyTorch's test files themselves with rnnkit's classes
substituted (docs/benchmarks.md, "Conformance").
"""

from __future__ import annotations

import copy
import io
import pickle
import re
import warnings

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence
from torch.utils._pytree import tree_flatten, tree_map

import rnnkit

common_modules = pytest.importorskip(
    "torch.testing._internal.common_modules",
    reason="torch's testing utilities need the `expecttest` package (pip install -e .[dev])",
)

TWINS = {
    nn.RNN: rnnkit.RNN,
    nn.LSTM: rnnkit.LSTM,
    nn.GRU: rnnkit.GRU,
    nn.RNNCell: rnnkit.RNNCell,
    nn.LSTMCell: rnnkit.LSTMCell,
    nn.GRUCell: rnnkit.GRUCell,
}
ENTRIES = {info.name: info for info in common_modules.module_db if info.module_cls in TWINS}
DTYPES = {"float32": torch.float32, "float64": torch.float64}
TOLERANCE = {torch.float32: 1e-5, torch.float64: 1e-10}


def test_module_db_lists_the_six_recurrent_modules():
    assert sorted(ENTRIES) == sorted(f"nn.{cls.__name__}" for cls in TWINS)


def samples(info, dtype, requires_grad=True, training=False):
    return info.module_inputs_func(
        info, device="cpu", dtype=dtype, requires_grad=requires_grad, training=training
    )


def build_twins(info, sample, dtype):
    """torch.nn's module and rnnkit's, same constructor arguments, torch's weights in ours."""
    args, kwargs = sample.constructor_input.args, sample.constructor_input.kwargs
    reference = info.module_cls(*args, **kwargs).to(dtype)
    ours = TWINS[info.module_cls](*args, **kwargs).to(dtype)
    ours.load_state_dict(reference.state_dict(), strict=True)
    return reference, ours


def fresh_inputs(sample):
    """The sample's forward arguments, copied as new leaves (PackedSequence data included)."""

    def leaf(value):
        if isinstance(value, torch.Tensor):
            return value.detach().clone().requires_grad_(value.requires_grad)
        return value

    args = tree_map(leaf, sample.forward_input.args, is_leaf=_is_packed)
    args = tuple(
        PackedSequence(leaf(a.data), a.batch_sizes, a.sorted_indices, a.unsorted_indices)
        if isinstance(a, PackedSequence)
        else a
        for a in args
    )
    return args, dict(sample.forward_input.kwargs)


def _is_packed(value) -> bool:
    return isinstance(value, PackedSequence)


def tensors_of(value):
    leaves, _ = tree_flatten(value, is_leaf=_is_packed)
    found = []
    for leaf in leaves:
        if isinstance(leaf, PackedSequence):
            found.append(leaf.data)
        elif isinstance(leaf, torch.Tensor):
            found.append(leaf)
    return found


def run(module, sample):
    """Forward on fresh copies of the inputs, then gradients of a weighted sum of outputs."""
    args, kwargs = fresh_inputs(sample)
    output = module(*args, **kwargs)
    outputs = tensors_of(output)
    generator = torch.Generator().manual_seed(0)
    loss = sum(
        (o * torch.randn(o.shape, generator=generator, dtype=o.dtype)).sum() for o in outputs
    )
    wrt = [t for t in tensors_of(args) if t.requires_grad] + list(module.parameters())
    grads = torch.autograd.grad(loss, wrt, allow_unused=True) if loss.requires_grad else []
    return [o.detach() for o in outputs], grads


def assert_all_close(ours, theirs, dtype):
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        if a is None or b is None:
            assert a is None and b is None
            continue
        torch.testing.assert_close(a, b, atol=TOLERANCE[dtype], rtol=TOLERANCE[dtype])


@pytest.mark.parametrize("dtype", DTYPES.values(), ids=DTYPES.keys())
@pytest.mark.parametrize("name", sorted(ENTRIES))
def test_samples_match_torch_nn_and_the_reference(name, dtype):
    info = ENTRIES[name]
    for sample in samples(info, dtype):
        torch.manual_seed(0)
        reference, ours = build_twins(info, sample, dtype)
        expected_outputs, expected_grads = run(reference, sample)
        outputs, grads = run(ours, sample)
        assert_all_close(outputs, expected_outputs, dtype)
        assert_all_close(grads, expected_grads, dtype)
        assert [n for n, _ in ours.named_parameters()] == [
            n for n, _ in reference.named_parameters()
        ]
        if sample.reference_fn is not None:
            args, kwargs = fresh_inputs(sample)
            with torch.no_grad():
                expected = sample.reference_fn(ours, *args, **kwargs)
                actual = ours(*args, **kwargs)
            assert_all_close(tensors_of(actual), tensors_of(expected), dtype)


@pytest.mark.parametrize("name", sorted(ENTRIES))
def test_error_inputs_raise_what_module_db_expects(name):
    info = ENTRIES[name]
    errors = info.module_error_inputs_func(
        info, device="cpu", dtype=torch.float32, requires_grad=False, training=False
    )
    assert errors, f"{name}: module_db lists no error inputs"
    twin = TWINS[info.module_cls]
    for error in errors:
        sample = error.module_error_input
        args, kwargs = sample.constructor_input.args, sample.constructor_input.kwargs
        on_construction = error.error_on == common_modules.ModuleErrorEnum.CONSTRUCTION_ERROR
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with pytest.raises(error.error_type) as raised:
                module = twin(*args, **kwargs)
                if not on_construction:
                    module(*sample.forward_input.args, **sample.forward_input.kwargs)
        assert re.search(error.error_regex, str(raised.value)), (
            f"{name}: {raised.value!r} does not match {error.error_regex!r}"
        )


def round_trips(module):
    """The module after deepcopy, pickle, and torch.save/torch.load of the whole module."""
    buffer = io.BytesIO()
    torch.save(module, buffer)
    buffer.seek(0)
    return {
        "deepcopy": copy.deepcopy(module),
        "pickle": pickle.loads(pickle.dumps(module)),
        "torch.save": torch.load(buffer, weights_only=False),
    }


@pytest.mark.parametrize("name", sorted(ENTRIES))
def test_state_dict_to_and_pickling_round_trips(name):
    info = ENTRIES[name]
    for sample in samples(info, torch.float32, requires_grad=False):
        torch.manual_seed(0)
        reference, ours = build_twins(info, sample, torch.float32)
        # state_dict: ours loads into torch.nn's module (strict) with the same keys and values
        state = ours.state_dict()
        assert list(state) == list(reference.state_dict())
        reference.load_state_dict(state, strict=True)
        with torch.no_grad():
            expected = tensors_of(ours(*fresh_inputs(sample)[0]))
            for how, copied in round_trips(ours).items():
                assert type(copied) is type(ours), how
                assert_all_close(
                    tensors_of(copied(*fresh_inputs(sample)[0])), expected, torch.float32
                )
            # to(): float64 twins agree as float32 ones do
            ours64, reference64 = ours.to(torch.float64), reference.to(torch.float64)
            assert all(p.dtype == torch.float64 for p in ours64.parameters())
            args64 = tree_map(
                lambda t: t.double() if isinstance(t, (torch.Tensor, PackedSequence)) else t,
                fresh_inputs(sample)[0],
                is_leaf=_is_packed,
            )
            assert_all_close(
                tensors_of(ours64(*args64)), tensors_of(reference64(*args64)), torch.float64
            )
