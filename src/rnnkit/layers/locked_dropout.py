"""Variational ("locked") dropout: one mask per sequence, shared by all its time steps.

Standard dropout draws a fresh mask at every step, so over a long sequence every unit is
silenced somewhere and the recurrent net learns little from the noise. Gal & Ghahramani (2016)
drop the same units at every step of a sequence instead; AWD-LSTM (Merity et al. 2018) calls
it locked dropout and uses it on the embeddings, between layers and on the last layer's
outputs. :class:`LockedDropout` is the module for batch-first ``(N, L, F)`` tensors (inputs
and outputs of a pattern); :func:`run_variational_stack` runs a multi-layer
:class:`~rnnkit.Recurrent` layer by layer with locked masks between the layers (its
``variational_dropout=True``), each layer still on torch's fused kernel where the cells are
standard.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from rnnkit.layers.fused import run_fused
from rnnkit.layers.runner import run_stack


def sequence_mask(batch: int, features: int, p: float, like: Tensor) -> Tensor:
    """``(batch, features)`` mask of zeros (probability ``p``) and ``1 / (1 - p)``, in the
    dtype and on the device of ``like``: one row per sequence."""
    keep = like.new_empty(batch, features).bernoulli_(1 - p)
    return keep.div_(1 - p)


def apply_sequence_mask(
    data: Tensor, mask: Tensor, batch_sizes: Tensor | Sequence[int] | None
) -> Tensor:
    """Multiply every step of each sequence by that sequence's row of ``mask (N, F)``.

    ``data`` is time-major ``(L, N, F)`` when ``batch_sizes`` is None, else packed
    ``(sum(batch_sizes), F)`` (the first ``batch_sizes[t]`` sequences alive at step ``t``).
    """
    if batch_sizes is None:
        return data * mask.unsqueeze(0)
    rows = torch.cat([torch.arange(int(size), device=mask.device) for size in batch_sizes])
    return data * mask.index_select(0, rows)


class LockedDropout(nn.Module):
    """Dropout whose mask is drawn once per sequence and shared over time.

    Args:
        p: probability of zeroing a feature of a sequence (for all its steps); kept features
            are scaled by ``1 / (1 - p)``, so evaluation is the identity.
        batch_first: inputs are ``(N, L, F)`` (default) or time-major ``(L, N, F)``.

    Shapes: input ``(N, L, F)`` (``(L, N, F)`` time-major), output the same.
    """

    def __init__(self, p: float = 0.5, batch_first: bool = True) -> None:
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p < 1:
            raise ValueError(f"p: expected a probability in [0, 1), got {p!r}")
        self.p = float(p)
        self.batch_first = batch_first

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        if not self.training or self.p == 0:
            return input
        if input.dim() != 3:
            raise ValueError(
                f"input: expected a 3-d sequence batch (N, L, F), got shape {tuple(input.shape)}"
            )
        batch, features = (input.shape[0] if self.batch_first else input.shape[1]), input.shape[2]
        mask = sequence_mask(batch, features, self.p, input)
        return input * (mask.unsqueeze(1) if self.batch_first else mask.unsqueeze(0))

    def extra_repr(self) -> str:
        return f"p={self.p}"


def run_variational_stack(
    layer: nn.Module,
    data: Tensor,
    batch_sizes: Tensor | Sequence[int] | None,
    initial: tuple[Tensor, ...],
    fused: bool,
) -> tuple[Tensor, tuple[Tensor, ...]]:
    """Run ``layer`` one layer at a time, with a locked mask on each layer's input but the first.

    Args:
        data: time-major ``(L, N, F)`` (fused, ``batch_sizes`` None) or packed
            ``(sum(batch_sizes), F)``.
        initial: each state component as ``(D * num_layers, N, s)``.
        fused: run each layer on torch's fused kernel (one call with ``num_layers=1`` and
            that layer's weights) rather than rnnkit's loop.

    Returns:
        The last layer's outputs in the layout of ``data``, and the final state (components
        ``(D * num_layers, N, s)``), as the layer's own runners return them.
    """
    directions = layer.num_directions
    batch = initial[0].shape[1]
    weights = layer._flat_weights
    per_layer = len(weights) // layer.num_layers
    cells = layer._loop_cells()
    finals: list[tuple[Tensor, ...]] = []
    inputs = data
    for index in range(layer.num_layers):
        if index > 0:
            mask = sequence_mask(batch, inputs.shape[-1], layer.dropout, inputs)
            inputs = apply_sequence_mask(inputs, mask, batch_sizes)
        states = tuple(c[index * directions : (index + 1) * directions] for c in initial)
        if fused:
            sizes = None if batch_sizes is None else torch.as_tensor(batch_sizes)
            inputs, final = run_fused(
                layer._fused_kernel,
                inputs,
                sizes,
                states,
                weights[index * per_layer : (index + 1) * per_layer],
                layer.cells["l0"].bias_ih is not None,
                1,
                0.0,
                layer.training,
                layer.bidirectional,
            )
        else:
            per_direction = [tuple(c[d] for c in states) for d in range(directions)]
            sizes = [int(size) for size in batch_sizes]
            inputs, loop_finals = run_stack(
                [cells[index]], inputs, sizes, per_direction, 0.0, layer.training
            )
            final = tuple(torch.stack(parts) for parts in zip(*loop_finals))
        finals.append(final)
    return inputs, tuple(torch.cat(parts) for parts in zip(*finals))
