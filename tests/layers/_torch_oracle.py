"""torch.nn as the oracle: build twin layers, run both, compare everything autograd can see.

The habit of pytorch/benchmarks fastrnns: copy a torch.nn layer's weights into ours with
``load_state_dict`` and require equal outputs, final states, input and parameter gradients.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

import rnnkit

INPUT_SIZE = 4
HIDDEN_SIZE = 5
PROJ_SIZE = 3
BATCH = 3
STEPS = 5
LENGTHS = (3, 5, 2)  # unsorted on purpose: exercises sorted_indices / unsorted_indices

TOLERANCES = {torch.float64: 1e-10, torch.float32: 1e-5}


@dataclass(frozen=True)
class Kind:
    """One cell kind: the torch.nn layer, ours, and the constructor arguments they share."""

    name: str
    torch_layer: type[nn.RNNBase]
    rnnkit_layer: type[rnnkit.Recurrent]
    options: tuple[tuple[str, object], ...] = ()

    @property
    def state_components(self) -> int:
        return 2 if self.torch_layer is nn.LSTM else 1


KINDS = {
    kind.name: kind
    for kind in (
        Kind("rnn_tanh", nn.RNN, rnnkit.RNN, (("nonlinearity", "tanh"),)),
        Kind("rnn_relu", nn.RNN, rnnkit.RNN, (("nonlinearity", "relu"),)),
        Kind("lstm", nn.LSTM, rnnkit.LSTM),
        Kind("lstm_proj", nn.LSTM, rnnkit.LSTM, (("proj_size", PROJ_SIZE),)),
        Kind("gru", nn.GRU, rnnkit.GRU),
    )
}


def make_twins(
    kind: str, backend: str = "auto", dtype: torch.dtype = torch.float64, **options
) -> tuple[nn.RNNBase, rnnkit.Recurrent]:
    """A torch.nn layer and our layer with the same arguments and the torch layer's weights."""
    spec = KINDS[kind]
    arguments = {**dict(spec.options), **options}
    reference = spec.torch_layer(INPUT_SIZE, HIDDEN_SIZE, dtype=dtype, **arguments)
    ours = spec.rnnkit_layer(INPUT_SIZE, HIDDEN_SIZE, dtype=dtype, backend=backend, **arguments)
    ours.load_state_dict(reference.state_dict(), strict=True)
    return reference, ours


def state_shapes(reference: nn.RNNBase, batch: int | None) -> list[tuple[int, ...]]:
    """Shapes of torch.nn's ``hx`` components: ``(D * num_layers, [N,] size)``."""
    layers = (2 if reference.bidirectional else 1) * reference.num_layers
    if reference.mode == "LSTM":
        sizes = [reference.proj_size or reference.hidden_size, reference.hidden_size]
    else:
        sizes = [reference.hidden_size]
    return [(layers, size) if batch is None else (layers, batch, size) for size in sizes]


def random_state(reference: nn.RNNBase, batch: int | None) -> tuple[Tensor, ...]:
    dtype = reference.weight_ih_l0.dtype
    return tuple(torch.randn(shape, dtype=dtype) for shape in state_shapes(reference, batch))


def padded_input(batch_first: bool, dtype: torch.dtype, lengths=LENGTHS) -> Tensor:
    """A ``(L, N, H_in)`` (or batch-first) batch; the pad past each length is zero."""
    x = torch.randn(len(lengths), STEPS, INPUT_SIZE, dtype=dtype)
    for row, length in enumerate(lengths):
        x[row, length:] = 0
    return x if batch_first else x.transpose(0, 1).contiguous()


def as_leaf(tensor: Tensor) -> Tensor:
    return tensor.detach().clone().requires_grad_()


def probe_weights(tensor: Tensor, salt: int) -> Tensor:
    """Fixed, non-trivial weights for a scalar loss, the same for both twins."""
    index = torch.arange(tensor.numel(), dtype=tensor.dtype).reshape(tensor.shape)
    return torch.cos(0.7 * index + salt)


def scalar_loss(output: Tensor | PackedSequence, final: Tensor | tuple[Tensor, ...]) -> Tensor:
    """A weighted sum of every output and final-state entry, so each one gets a gradient."""
    data = output.data if isinstance(output, PackedSequence) else output
    finals = (final,) if isinstance(final, Tensor) else tuple(final)
    loss = (data * probe_weights(data, 0)).sum()
    for salt, component in enumerate(finals, start=1):
        loss = loss + (component * probe_weights(component, salt)).sum()
    return loss


@dataclass
class Run:
    """Everything one layer produced for one input: forward values and gradients."""

    output: Tensor
    packed_layout: tuple[Tensor, ...] | None
    finals: tuple[Tensor, ...]
    input_grad: Tensor
    state_grads: tuple[Tensor, ...]
    parameter_grads: dict[str, Tensor]


def run_layer(
    layer: nn.Module,
    x: Tensor,
    hx: tuple[Tensor, ...] | None,
    *,
    input_kind: str,
    batch_first: bool,
    lengths=LENGTHS,
    pad_output: bool = False,
) -> Run:
    """Run ``layer`` on a fresh leaf copy of ``x`` (and of ``hx``), then backpropagate.

    ``input_kind``: ``"padded"`` feeds ``x`` as is; ``"packed"`` packs it with
    ``enforce_sorted=False``; ``"lengths"`` feeds ``x`` with rnnkit's ``lengths=``;
    ``"unbatched"`` feeds ``x`` of shape ``(L, H_in)``. ``pad_output`` pads a packed output
    back to ``x``'s padded shape (zeros past each length).
    """
    layer.zero_grad(set_to_none=True)
    x = as_leaf(x)
    leaves = None if hx is None else tuple(as_leaf(s) for s in hx)
    state = None if leaves is None else leaves[0] if len(leaves) == 1 else leaves
    if input_kind == "packed":
        feed = pack_padded_sequence(
            x, torch.tensor(lengths), batch_first=batch_first, enforce_sorted=False
        )
    else:
        feed = x
    if input_kind == "lengths":
        output, final = layer(feed, state, lengths=torch.tensor(lengths))
    else:
        output, final = layer(feed, state)
    if pad_output:
        total_length = x.shape[1] if batch_first else x.shape[0]
        output, _ = pad_packed_sequence(output, batch_first=batch_first, total_length=total_length)
    scalar_loss(output, final).backward()
    layout = None
    if isinstance(output, PackedSequence):
        layout = (output.batch_sizes, output.sorted_indices, output.unsorted_indices)
    return Run(
        output=output.data if isinstance(output, PackedSequence) else output,
        packed_layout=layout,
        finals=(final,) if isinstance(final, Tensor) else tuple(final),
        input_grad=x.grad,
        state_grads=() if leaves is None else tuple(s.grad for s in leaves),
        parameter_grads={name: parameter.grad for name, parameter in layer.named_parameters()},
    )


def assert_same_run(actual: Run, expected: Run, dtype: torch.dtype) -> None:
    tolerance = TOLERANCES[dtype]

    def close(a: Tensor, e: Tensor, what: str) -> None:
        torch.testing.assert_close(
            a, e, atol=tolerance, rtol=tolerance, msg=lambda m: f"{what}: {m}"
        )

    close(actual.output, expected.output, "output")
    if expected.packed_layout is not None:
        assert actual.packed_layout is not None, "output: expected a PackedSequence"
        for a, e in zip(actual.packed_layout, expected.packed_layout):
            assert torch.equal(a, e), "output: packed layout differs from torch's"
    assert len(actual.finals) == len(expected.finals), "final state: number of components"
    for k, (a, e) in enumerate(zip(actual.finals, expected.finals)):
        close(a, e, f"final state component {k}")
    close(actual.input_grad, expected.input_grad, "input gradient")
    for k, (a, e) in enumerate(zip(actual.state_grads, expected.state_grads, strict=True)):
        close(a, e, f"initial state component {k} gradient")
    assert list(actual.parameter_grads) == list(expected.parameter_grads), "parameter names"
    for name, grad in expected.parameter_grads.items():
        close(actual.parameter_grads[name], grad, f"gradient of {name}")
