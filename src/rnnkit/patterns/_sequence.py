"""Shared plumbing of the sequence patterns: checks, masks from lengths, running the encoder.

Every pattern takes batch-first inputs ``(N, L, F)`` (or token ids ``(N, L)`` and an
``input_layer``) with optional ``lengths (N,)``, whatever the ``batch_first`` flag of the
:class:`~rnnkit.Recurrent` layer it wraps. The helpers here turn that into the layer's own
layout, call it with ``lengths=`` (so padded steps are never computed) and bring the result
back batch-first.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence, pad_packed_sequence

from rnnkit.layers.recurrent import Recurrent

RecurrentState = Tensor | tuple[Tensor, ...]


class SequenceBatch(NamedTuple):
    """A batch ready for the encoder.

    Attributes:
        features: ``(N, L, F)`` batch-first features (after the input layer).
        lengths: ``(N,)`` long lengths, or None when every sequence fills all ``L`` steps.
        mask: ``(N, L)`` bool, True at real steps, on the device of ``features``.
    """

    features: Tensor
    lengths: Tensor | None
    mask: Tensor


# ---- construction checks -----------------------------------------------------------------


def check_positive_int(name: str, value: Any) -> None:
    """Raise a ValueError unless ``value`` is an int >= 1 (bools are refused)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name}: expected a positive integer, got {value!r}")


def check_dropout(value: Any, name: str = "dropout") -> float:
    """Return ``value`` as a float after checking it is a probability in ``[0, 1)``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ValueError(f"{name}: expected a probability in [0, 1), got {value!r}")
    return float(value)


def check_recurrent(rnn: Any, name: str = "rnn") -> None:
    """Raise a ValueError unless ``rnn`` is a built :class:`rnnkit.Recurrent` layer."""
    if not isinstance(rnn, Recurrent):
        raise ValueError(
            f"{name}: expected a built rnnkit.Recurrent layer (rnnkit.LSTM, rnnkit.GRU, "
            f"rnnkit.Recurrent(MyCell, ...)), got {type(rnn).__name__}"
        )


def check_input_layer(input_layer: Any, input_size: int) -> None:
    """Raise a ValueError unless ``input_layer`` is None or a module feeding ``input_size``.

    The output size is checked when the module declares it (``embedding_dim`` of
    :class:`nn.Embedding`, ``out_features`` of :class:`nn.Linear`).
    """
    if input_layer is None:
        return
    if not isinstance(input_layer, nn.Module):
        raise ValueError(
            f"input_layer: expected an nn.Module (e.g. nn.Embedding) or None, got "
            f"{type(input_layer).__name__}"
        )
    for attribute in ("embedding_dim", "out_features"):
        size = getattr(input_layer, attribute, None)
        if isinstance(size, int) and size != input_size:
            raise ValueError(
                f"input_layer: its {attribute}={size} must equal the recurrent layer's "
                f"input_size={input_size}"
            )


# ---- masks and lengths -------------------------------------------------------------------


def mask_from_lengths(lengths: Tensor, max_length: int) -> Tensor:
    """``(N, max_length)`` bool mask, True at steps ``t < lengths[n]``, on ``lengths``' device."""
    steps = torch.arange(max_length, device=lengths.device)
    return steps.unsqueeze(0) < lengths.unsqueeze(1)


def check_lengths(lengths: Any, batch_size: int, max_length: int) -> Tensor:
    """Validate ``lengths`` for a ``(batch_size, max_length, ...)`` batch; return a LongTensor.

    Raises:
        ValueError: unless ``lengths`` is an integer tensor (or sequence) of shape
            ``(batch_size,)`` with values in ``[1, max_length]`` (values are not checked
            while ``torch.compile`` or ``torch.export`` traces).
    """
    lengths = torch.as_tensor(lengths)
    if lengths.dtype.is_floating_point or lengths.dtype.is_complex or lengths.dtype == torch.bool:
        raise ValueError(f"lengths: expected an integer tensor, got {lengths.dtype}")
    if lengths.dim() != 1 or lengths.numel() != batch_size:
        raise ValueError(
            f"lengths: expected shape ({batch_size},), one length per sequence, got "
            f"{tuple(lengths.shape)}"
        )
    if torch.compiler.is_compiling():  # values cannot be read back while tracing
        return lengths.long()
    low, high = int(lengths.min()), int(lengths.max())
    if low < 1 or high > max_length:
        raise ValueError(
            f"lengths: expected values in [1, {max_length}] (the padded length), got min "
            f"{low} and max {high}"
        )
    return lengths.long()


# ---- inputs ------------------------------------------------------------------------------


def prepare_inputs(
    inputs: Tensor | PackedSequence,
    lengths: Tensor | None,
    input_layer: nn.Module | None,
    input_size: int,
) -> SequenceBatch:
    """Check the public inputs, apply the input layer and build the mask.

    Args:
        inputs: ``(N, L, F)`` features, ``(N, L)`` token ids when ``input_layer`` embeds
            them, or a :class:`PackedSequence` of either (then ``lengths`` must be None; it
            is padded batch-first, in the original batch order).
        lengths: ``(N,)`` integer lengths, or None for full-length sequences.
        input_layer: applied to every step first (``nn.Embedding``, ``nn.Linear``...).
        input_size: features the recurrent layer expects.

    Returns:
        A :class:`SequenceBatch` of ``features (N, L, input_size)``, ``lengths`` and ``mask``.
    """
    if isinstance(inputs, PackedSequence):
        if lengths is not None:
            raise ValueError("lengths: must be None for a PackedSequence input (it has its own)")
        inputs, lengths = pad_packed_sequence(inputs, batch_first=True)
    if not isinstance(inputs, Tensor):
        raise ValueError(
            f"inputs: expected a Tensor or PackedSequence, got {type(inputs).__name__}"
        )
    if inputs.dim() < 2 or inputs.shape[0] == 0 or inputs.shape[1] == 0:
        raise ValueError(
            f"inputs: expected a non-empty batch-first (N, L, F) tensor or (N, L) token ids, "
            f"got shape {tuple(inputs.shape)}"
        )
    batch_size, max_length = inputs.shape[:2]
    if input_layer is None:
        if not inputs.dtype.is_floating_point:
            raise ValueError(
                f"inputs: got {inputs.dtype} values of shape {tuple(inputs.shape)} and no "
                "input_layer; pass float features (N, L, F) or give the pattern an "
                "input_layer such as nn.Embedding for token ids"
            )
        features = inputs
    else:
        features = input_layer(inputs)
    if (
        features.dim() != 3
        or tuple(features.shape[:2]) != (batch_size, max_length)
        or features.shape[-1] != input_size
        or not features.dtype.is_floating_point
    ):
        source = "inputs" if input_layer is None else "input_layer(inputs)"
        raise ValueError(
            f"inputs: expected {source} to be float ({batch_size}, {max_length}, "
            f"{input_size}) = (N, L, input_size of the recurrent layer), got "
            f"{features.dtype} of shape {tuple(features.shape)}"
        )
    if lengths is None:
        mask = torch.ones(batch_size, max_length, dtype=torch.bool, device=features.device)
        return SequenceBatch(features, None, mask)
    lengths = check_lengths(lengths, batch_size, max_length)
    mask = mask_from_lengths(lengths.to(features.device), max_length)
    return SequenceBatch(features, lengths, mask)


# ---- running the encoder -----------------------------------------------------------------


def run_recurrent(
    rnn: Recurrent, features: Tensor, lengths: Tensor | None
) -> tuple[Tensor, RecurrentState]:
    """Run ``rnn`` on batch-first ``features`` whatever its ``batch_first`` flag.

    Args:
        features: ``(N, L, F)``.
        lengths: ``(N,)`` or None. Given lengths, steps past them are never computed.

    Returns:
        ``outputs (N, L, D * H_out)``, zero past each length, and the final state ``h_n``
        as the layer returns it: ``(D * num_layers, N, s)`` per state component (a tuple
        for multi-component states such as LSTM's ``(h, c)``).
    """
    time_major = not rnn.batch_first
    layer_input = features.transpose(0, 1) if time_major else features
    outputs, final_state = rnn(layer_input, lengths=lengths)
    if time_major:
        outputs = outputs.transpose(0, 1)
    return outputs, final_state


def last_from_state(final_state: RecurrentState, num_directions: int) -> Tensor:
    """Top layer's final hidden state, directions concatenated: ``(N, D * H_out)``.

    ``final_state`` is ``h_n`` of a :class:`Recurrent` (for a tuple state such as LSTM's
    ``(h, c)``, its first component ``h`` is used). Rows ``layer * D + direction`` of ``h_n``
    hold the state after each sequence's last real step for the forward direction, and after
    step 0 for the backward one, which is what :func:`last_from_outputs` selects.
    """
    hidden = final_state if isinstance(final_state, Tensor) else final_state[0]
    if hidden.dim() != 3 or hidden.shape[0] % num_directions:
        raise ValueError(
            f"final_state: expected h_n of shape (D * num_layers, N, H) with D="
            f"{num_directions}, got {tuple(hidden.shape)}"
        )
    top = hidden[-num_directions:]  # (D, N, H): the last layer's directions, forward first
    return top.transpose(0, 1).reshape(hidden.shape[1], -1)


def last_from_outputs(outputs: Tensor, mask: Tensor, num_directions: int) -> Tensor:
    """Index the last real output per direction: ``(N, L, D * H) -> (N, D * H)``.

    The forward direction is read at each sequence's last real step ``lengths[n] - 1``, the
    backward direction (the second half of the features) at step 0, where it ends.
    """
    features = outputs.shape[-1]
    if features % num_directions:
        raise ValueError(
            f"outputs: expected a feature size divisible by num_directions={num_directions}, "
            f"got {features}"
        )
    hidden = features // num_directions
    last_step = mask.sum(1) - 1  # (N,)
    index = last_step.view(-1, 1, 1).expand(-1, 1, hidden)
    forward = outputs[..., :hidden].gather(1, index).squeeze(1)
    if num_directions == 1:
        return forward
    return torch.cat((forward, outputs[:, 0, hidden:]), dim=-1)
