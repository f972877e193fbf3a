"""DropConnect on the recurrent weights (Wan et al. 2013; AWD-LSTM's weight drop).

Dropout on the hidden state would disturb the recurrence at every step; AWD-LSTM (Merity et
al. 2018) drops *weights* of the hidden-to-hidden matrix instead, once per forward pass:
the same dropped matrix ``W_hh * mask / (1 - p)`` serves every time step of the batch. Since
the recurrence itself is untouched, the layer still runs torch's fused kernel (standard cells)
or rnnkit's loop (any cell) over the dropped weights.

:class:`WeightDrop` is a pair of forward hooks on a :class:`~rnnkit.Recurrent` layer
(``Recurrent(..., weight_dropout=p)`` installs it). Before each training forward it draws the
masks and shadows each recurrent weight (``weight_hh_l<k>[_reverse]``) by its dropped copy
as an instance attribute; the layer reads its weights by attribute, so the fused kernel and
the cells both get the dropped matrix, and autograd carries the gradients back to the raw
parameter. After the forward (even one that raised) the shadows are removed. The parameters
themselves, their names and the state_dict never change, so a ``torch.nn.LSTM`` state_dict
still loads, and in evaluation mode nothing is dropped.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import nn

RECURRENT_WEIGHT = "weight_hh"
"""The cell parameter that is dropped: the hidden-to-hidden matrix of every rnnkit cell."""


class WeightDrop:
    """Forward hooks dropping a layer's recurrent weights, one mask per forward pass.

    Args:
        p: probability of zeroing each recurrent weight (kept weights scaled by
            ``1 / (1 - p)``).
        names: the layer's parameter names to drop (``weight_hh_l0``, ...).
    """

    def __init__(self, p: float, names: list[str]) -> None:
        self.p = p
        self.names = names

    def before(self, layer: nn.Module, args: object) -> None:
        if not layer.training or self.p == 0:
            return
        for name in self.names:
            layer.__dict__[name] = F.dropout(layer._parameters[name], self.p, training=True)

    def after(self, layer: nn.Module, args: object, output: object) -> None:
        for name in self.names:
            layer.__dict__.pop(name, None)
        layer._bind_cell_parameters()


def add_weight_drop(layer: nn.Module, p: float) -> WeightDrop:
    """Install :class:`WeightDrop` on every recurrent weight of ``layer`` (all layers and
    directions).

    Raises:
        ValueError: ``p`` not in ``[0, 1)``, or a cell without a ``weight_hh`` parameter
            (e.g. :class:`~rnnkit.cells.FeedForwardCell`, which has no recurrence).
    """
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p < 1:
        raise ValueError(f"weight_dropout: expected a probability in [0, 1), got {p!r}")
    names = [layer_name for _, name, layer_name in layer._adopted if name == RECURRENT_WEIGHT]
    if len(names) != len(layer.cells):
        cell = type(layer.cells["l0"]).__name__
        raise ValueError(
            f"weight_dropout: drops each cell's recurrent weight {RECURRENT_WEIGHT!r}, and "
            f"{cell} has none; use weight_dropout=0 with this cell"
        )
    hooks = WeightDrop(float(p), names)
    layer.register_forward_pre_hook(hooks.before)
    layer.register_forward_hook(hooks.after, always_call=True)
    return hooks
