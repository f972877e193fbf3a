"""Autograd through the layers as torch.nn allows it: second derivatives (gradcheck and
gradgradcheck in float64, and the same double-backward values as torch.nn) and a graph that
is backpropagated several times with ``retain_graph=True`` giving the same gradients each
time. Both backends: torch's fused kernel (``auto``) and rnnkit's time loop (``loop``)."""

from __future__ import annotations

import pytest
import torch
from torch.autograd import gradcheck, gradgradcheck

from ._torch_oracle import KINDS, as_leaf, make_twins, random_state

pytestmark = pytest.mark.filterwarnings("ignore:LSTM with projections is not supported")

BACKENDS = ("auto", "loop")


def outputs_of(layer, x, hx):
    """``layer(x, hx)`` as a flat tuple of tensors: output, then every final-state component."""
    output, final = layer(x, hx[0] if len(hx) == 1 else hx)
    return (output, *((final,) if isinstance(final, torch.Tensor) else final))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_gradcheck_and_gradgradcheck(kind, backend):
    """First and second derivatives w.r.t. input and initial state match finite differences."""
    torch.manual_seed(0)
    # small: finite differences cost one forward per input entry (multi-layer second
    # derivatives are compared with torch.nn's in test_double_backward_matches_torch)
    reference, layer = make_twins(kind, backend=backend, bidirectional=True)
    x = torch.randn(2, 1, layer.input_size, dtype=torch.float64, requires_grad=True)
    hx = tuple(as_leaf(s) for s in random_state(reference, 1))

    def function(x, *hx):
        return outputs_of(layer, x, hx)

    assert gradcheck(function, (x, *hx), check_batched_grad=False)
    assert gradgradcheck(function, (x, *hx), check_batched_grad=False)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_double_backward_matches_torch(kind, backend):
    """The gradient of (the input gradient's weighted sum) w.r.t. input and every parameter
    equals torch.nn's: what a gradient penalty or a meta-learning step differentiates."""
    torch.manual_seed(1)
    reference, ours = make_twins(kind, backend=backend, num_layers=2)
    x = torch.randn(4, 2, reference.input_size, dtype=torch.float64)
    hx = random_state(reference, 2)
    weights = torch.randn(4, 2, reference.input_size, dtype=torch.float64)
    results = []
    for layer in (reference, ours):
        leaf = as_leaf(x)
        output = outputs_of(layer, leaf, hx)[0]
        (input_grad,) = torch.autograd.grad(output.sin().sum(), leaf, create_graph=True)
        penalty = (input_grad * weights).sum()
        parameters = [parameter for _, parameter in layer.named_parameters()]
        results.append(torch.autograd.grad(penalty, [leaf, *parameters]))
    for actual, expected in zip(results[1], results[0], strict=True):
        torch.testing.assert_close(actual, expected, atol=1e-10, rtol=1e-10)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_retained_graph_gives_the_same_gradients_each_time(kind, backend):
    """Backpropagating one forward five times (``retain_graph=True``, gradients zeroed in
    between) gives the same input and parameter gradients every time, and torch.nn's."""
    torch.manual_seed(3)
    reference, ours = make_twins(kind, backend=backend, num_layers=2)
    x = torch.randn(5, 3, reference.input_size, dtype=torch.float64)
    first = {}
    for name, layer in (("torch", reference), ("rnnkit", ours)):
        leaf = as_leaf(x)
        output, _ = layer(leaf)
        for repeat in range(5):
            layer.zero_grad(set_to_none=True)
            leaf.grad = None
            output.sum().backward(retain_graph=True)
            grads = [leaf.grad.clone()] + [p.grad.clone() for p in layer.parameters()]
            first.setdefault(name, grads)
            for actual, expected in zip(grads, first[name], strict=True):
                assert torch.equal(actual, expected), f"{name}: backward {repeat} differs"
    for actual, expected in zip(first["rnnkit"], first["torch"], strict=True):
        torch.testing.assert_close(actual, expected, atol=1e-10, rtol=1e-10)
