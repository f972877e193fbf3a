"""A weight replaced by a computed tensor, as ``torch.nn.utils.weight_norm`` does before each
forward: the layer runs on it (both backends), ``_flat_weights`` holds it as torch.nn's does,
gradients reach the reparametrization, and removing it restores the Parameter."""

from __future__ import annotations

import pytest
import torch
from torch.nn.utils import remove_weight_norm, weight_norm

from ._torch_oracle import KINDS, as_leaf, make_twins

pytestmark = [
    pytest.mark.filterwarnings("ignore:LSTM with projections is not supported"),
    pytest.mark.filterwarnings("ignore:.*weight_norm. is deprecated"),
]


def parameter_flags(layer) -> list[bool]:
    """For each entry of ``_flat_weights``: is it an ``nn.Parameter``?"""
    return [isinstance(weight, torch.nn.Parameter) for weight in layer._flat_weights]


@pytest.mark.parametrize("backend", ("auto", "loop"))
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_weight_norm_matches_torch(kind, backend):
    name = "weight_hr_l0" if kind == "lstm_proj" else "weight_hh_l0"
    torch.manual_seed(0)
    reference, ours = make_twins(kind, backend=backend, num_layers=2)
    x = torch.randn(4, 3, reference.input_size, dtype=torch.float64)
    before = ours(x)[0].detach()
    reference, ours = weight_norm(reference, name=name), weight_norm(ours, name=name)

    runs = []
    for layer in (reference, ours):
        leaf = as_leaf(x)
        output = layer(leaf)[0]
        output.square().sum().backward()
        magnitude, direction = getattr(layer, f"{name}_g"), getattr(layer, f"{name}_v")
        runs.append((output, leaf.grad, magnitude.grad, direction.grad))
    assert parameter_flags(ours) == parameter_flags(reference)
    assert parameter_flags(ours).count(False) == 1
    torch.testing.assert_close(runs[1][0], before, atol=1e-10, rtol=1e-10)
    for actual, expected in zip(runs[1], runs[0], strict=True):
        torch.testing.assert_close(actual, expected, atol=1e-10, rtol=1e-10)

    ours = remove_weight_norm(ours, name=name)
    assert all(parameter_flags(ours))
    assert isinstance(ours._parameters[name], torch.nn.Parameter)
    assert {f"{name}_g", f"{name}_v"}.isdisjoint(dict(ours.named_parameters()))
    torch.testing.assert_close(ours(x)[0], before, atol=1e-10, rtol=1e-10)
