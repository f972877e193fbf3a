"""torch.nn's checks for the standard cells and layers, written once.

``rnnkit.RNN``/``LSTM``/``GRU`` (and every :class:`rnnkit.Recurrent`) and ``rnnkit.RNNCell``/
``LSTMCell``/``GRUCell`` accept what ``torch.nn``'s accept and refuse what they refuse, in the
same order, with the same exception type and a message that begins with torch.nn's own words
(``str(ours).startswith(str(torch's))``); where torch.nn's message does not say what was
received, rnnkit's goes on with ``, got ...``. Checks that torch.nn leaves to its C++ kernels
("Input batch size 3 doesn't match hidden0 batch size 1", "Expected sequence length to be larger
than 0 in RNN") are made here too, because rnnkit's own time loop runs no such kernel.

Where torch.nn fails by accident rather than by a check (a list as input: ``AttributeError``;
an LSTM given one tensor for ``(h_0, c_0)``: ``IndexError``), rnnkit raises a ``ValueError``
that names the argument; those are the layers' own checks, not this module's.

The layers call :func:`check_layer_arguments` once at construction and
:func:`check_layer_input`, :func:`check_state_ranks`, :func:`check_state_shapes` in forward;
the cells call :func:`prepare_cell_call`. Tests: ``tests/cells/test_torch_contract.py`` and
``tests/layers/test_bad_input.py`` (against torch.nn as the oracle), and
``tests/layers/test_module_db.py`` (torch's own ``module_db`` entries).
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

NONLINEARITIES = ("tanh", "relu")


# ---- layers: construction -----------------------------------------------------------------


def check_layer_arguments(
    input_size: Any,
    hidden_size: Any,
    num_layers: Any,
    batch_first: Any,
    dropout: Any,
    cell_options: Mapping[str, Any],
) -> None:
    """torch.nn.RNNBase's constructor checks, in its order.

    ``cell_options`` are the keyword arguments the layer passes to its cells; ``bias``,
    ``proj_size`` and ``nonlinearity`` are checked when present (any cell may take them).

    Raises:
        ValueError: ``nonlinearity`` not tanh/relu; ``dropout`` not a number in [0, 1]; a size
            or ``num_layers`` below 1; ``proj_size`` negative or not below ``hidden_size``.
        TypeError: ``bias``/``batch_first`` not a bool; a size or ``num_layers`` not an int.
    """
    if "nonlinearity" in cell_options:
        nonlinearity = cell_options["nonlinearity"]
        if nonlinearity not in NONLINEARITIES:
            raise ValueError(
                f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'."
            )
    if (
        not isinstance(dropout, numbers.Number)
        or isinstance(dropout, bool)
        or not 0 <= dropout <= 1
    ):
        raise ValueError(
            "dropout should be a number in range [0, 1] representing the probability of an "
            f"element being zeroed, got {dropout!r}"
        )
    if dropout > 0 and num_layers == 1:
        warnings.warn(
            "dropout option adds dropout after all but last recurrent layer, so non-zero "
            "dropout expects num_layers greater than 1, but got "
            f"dropout={dropout} and num_layers={num_layers}",
            stacklevel=4,
        )
    if "bias" in cell_options:
        _check_type("bias", cell_options["bias"], bool)
    _check_type("batch_first", batch_first, bool)
    _check_type("input_size", input_size, int)
    _check_positive("input_size", input_size)
    _check_type("hidden_size", hidden_size, int)
    _check_positive("hidden_size", hidden_size)
    _check_type("num_layers", num_layers, int)
    _check_positive("num_layers", num_layers)
    proj_size = cell_options.get("proj_size", 0)
    _check_type("proj_size", proj_size, int)
    if proj_size < 0:
        raise ValueError(
            "proj_size should be a positive integer or zero to disable projections, got "
            f"{proj_size}"
        )
    if proj_size >= hidden_size:
        raise ValueError(
            f"proj_size has to be smaller than hidden_size, got proj_size={proj_size} and "
            f"hidden_size={hidden_size}"
        )


def reject_layer_options(layer: str, options: Mapping[str, Any]) -> None:
    """torch.nn.RNN/GRU take ``**kwargs``: ``proj_size`` among them is a ValueError.

    Any other unexpected keyword is the TypeError Python raises for a missing parameter.
    """
    if "proj_size" in options:
        raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
    for name in options:
        raise TypeError(f"{layer}.__init__() got an unexpected keyword argument '{name}'")


def _check_type(name: str, value: Any, kind: type) -> None:
    if not isinstance(value, kind):
        raise TypeError(f"{name} should be of type {kind.__name__}, got: {type(value).__name__}")


def _check_positive(name: str, value: int) -> None:
    if value <= 0:
        raise ValueError(f"{name} must be greater than zero, got {value}")


# ---- layers: forward ----------------------------------------------------------------------


def check_input_rank(layer: str, input: Tensor, state_components: int) -> None:  # noqa: A002
    """A padded input is ``(L, H_in)`` unbatched or ``(L, N, H_in)``/``(N, L, H_in)``.

    The wording is torch.nn's, word for word: RNN and GRU say "got 1D tensor instead", LSTM
    (the layer with a two-tensor state) "got 1D instead".
    """
    if input.dim() not in (2, 3):
        got = f"{input.dim()}D" if state_components > 1 else f"{input.dim()}D tensor"
        raise ValueError(f"{layer}: Expected input to be 2D or 3D, got {got} instead")


def check_state_ranks(components: Sequence[Tensor], batched: bool) -> None:
    """Each initial-state tensor has the input's rank: 3-D for a batch, 2-D unbatched."""
    rank = 3 if batched else 2
    if all(component.dim() == rank for component in components):
        return
    kind = "batched 3-D" if batched else "unbatched 2-D"
    if len(components) == 1:
        raise RuntimeError(
            f"For {kind} input, hx should also be {rank}-D but got {components[0].dim()}-D tensor"
        )
    ranks = ", ".join(f"{component.dim()}-D" for component in components)
    raise RuntimeError(
        f"For {kind} input, hx and cx should also be {rank}-D but got ({ranks}) tensors"
    )


def check_layer_input(
    input: Tensor,  # noqa: A002
    input_size: int,
    weight_dtype: torch.dtype | None,
    packed: bool,
) -> None:
    """torch.nn.RNNBase.check_input: dtype of the weights, rank, and ``input_size`` features.

    ``input`` is the batched ``(L, N, H_in)`` tensor (time-major or batch-first) or a
    PackedSequence's ``data (sum(lengths), H_in)``. No dtype check under autocast.
    """
    if (
        weight_dtype is not None
        and input.dtype != weight_dtype
        and not torch._C._is_any_autocast_enabled()
    ):
        hint = (
            " (token ids? embed them first, e.g. with nn.Embedding)"
            if not input.dtype.is_floating_point and not input.dtype.is_complex
            else ""
        )
        raise ValueError(
            f"RNN input dtype ({input.dtype}) does not match weight dtype ({weight_dtype}). "
            f"Convert input: input.to({weight_dtype}), or convert model: "
            f"model.to({input.dtype}){hint}"
        )
    expected_dim = 2 if packed else 3
    if input.dim() != expected_dim:
        raise RuntimeError(f"input must have {expected_dim} dimensions, got {input.dim()}")
    if input.shape[-1] != input_size:
        raise RuntimeError(
            f"input.size(-1) must be equal to input_size. Expected {input_size}, "
            f"got {input.shape[-1]}"
        )


def check_sequence_length(steps: int) -> None:
    """torch's kernels refuse a padded input of length 0; so does rnnkit's loop."""
    if steps == 0:
        raise RuntimeError("Expected sequence length to be larger than 0 in RNN")


def check_state_shapes(
    components: Sequence[Tensor],
    expected: Sequence[tuple[int, ...]],
    like: Tensor,
    check_dtype: bool = True,
) -> None:
    """torch.nn's ``check_hidden_size``: each state tensor has exactly its expected shape.

    ``expected`` holds one ``(D * num_layers, N, s)`` per component; ``like`` is the input,
    whose dtype the state must share (torch's kernels fail on a mixed pair) unless
    ``check_dtype`` is false (under autocast the layer casts the state to the input's).
    """
    for index, (component, shape) in enumerate(zip(components, expected)):
        if tuple(component.shape) != tuple(shape):
            name = "hidden" if len(expected) == 1 else f"hidden[{index}]"
            raise RuntimeError(f"Expected {name} size {tuple(shape)}, got {list(component.shape)}")
        if check_dtype and component.dtype != like.dtype:
            raise RuntimeError(
                f"hx dtype ({component.dtype}) does not match input dtype ({like.dtype}): "
                "convert the initial state with .to(input.dtype)"
            )


def refuse_torchscript(module: str) -> None:
    """What ``torch.jit.script`` meets on an rnnkit layer or cell (its ``__prepare_scriptable__``).

    TorchScript is in maintenance upstream, and scripting rnnkit's readable Python would cost
    that readability; ``torch.export`` (and ``torch.jit.trace``) take the layers and cells as
    they are. One line, naming the supported path.
    """
    raise RuntimeError(
        f"{module}: rnnkit does not support torch.jit.script (TorchScript is in maintenance "
        "upstream); use torch.export.export(...) or torch.jit.trace(...) instead"
    )


# ---- cells ---------------------------------------------------------------------------------


def prepare_cell_call(
    cell: str,
    input: Tensor,  # noqa: A002
    hx: Tensor | Sequence[Tensor] | None,
    input_size: int,
    state_sizes: Sequence[int],
) -> tuple[Tensor, tuple[Tensor, ...], bool]:
    """torch.nn.RNNCell/LSTMCell/GRUCell's checks; the call made batched.

    Args:
        cell: the name in messages (``"LSTMCell"``).
        input: ``(N, H_in)`` or unbatched ``(H_in,)``.
        hx: ``h (N, H)`` (RNN, GRU) or ``(h, c)`` (LSTM), unbatched without ``N``, or None.
        state_sizes: feature size of each state tensor (the cell's ``state_size``).

    Returns:
        ``input (N, H_in)``, the state as a tuple of ``(N, s)`` (zeros for None), and whether
        the call was batched (if not, the caller squeezes dimension 0 of its results).
    """
    if input.dim() not in (1, 2):
        raise ValueError(f"{cell}: Expected input to be 1D or 2D, got {input.dim()}D instead")
    several = len(state_sizes) > 1
    if hx is not None:
        components = _state_components(cell, hx, len(state_sizes))
        for index, value in enumerate(components):
            if value.dim() not in (1, 2):
                name = f"hx[{index}]" if several else "hidden"
                raise ValueError(
                    f"{cell}: Expected {name} to be 1D or 2D, got {value.dim()}D instead"
                )
    batched = input.dim() == 2
    if not batched:
        input = input.unsqueeze(0)  # noqa: A001
    if hx is None:
        state = tuple(input.new_zeros(input.shape[0], size) for size in state_sizes)
    else:
        state = components if batched else tuple(value.unsqueeze(0) for value in components)
    if input.shape[1] != input_size:
        raise RuntimeError(
            f"input has inconsistent input_size: got {input.shape[1]} expected {input_size}"
        )
    for index, (value, size) in enumerate(zip(state, state_sizes)):
        if input.shape[0] != value.shape[0]:
            raise RuntimeError(
                f"Input batch size {input.shape[0]} doesn't match hidden{index} batch size "
                f"{value.shape[0]}"
            )
        if value.dim() < 2 or value.shape[1] != size:
            got = value.shape[1] if value.dim() >= 2 else None
            raise RuntimeError(
                f"hidden{index} has inconsistent hidden_size: got {got}, expected {size}"
            )
    return input, state, batched


def _state_components(cell: str, hx: Tensor | Sequence[Tensor], count: int) -> tuple[Tensor, ...]:
    """``hx`` as a tuple: one tensor for a one-tensor state, a pair ``(h, c)`` for LSTM."""
    if count == 1:
        if not isinstance(hx, Tensor):
            raise ValueError(
                f"hx: expected a Tensor (N, H) for {cell}, as torch.nn.{cell}, got "
                f"{type(hx).__name__}; rnnkit's (output, state) step is cell.advance(x_t, state)"
            )
        return (hx,)
    if isinstance(hx, Tensor) or len(hx) != count:
        got = "a Tensor" if isinstance(hx, Tensor) else f"{len(hx)} tensors"
        raise RuntimeError(f"{cell} expects {count} hidden states (h, c), got {got}")
    return tuple(hx)
