"""The fast path: torch's fused multi-layer kernels (oneDNN/native on CPU, cuDNN on GPU).

:class:`rnnkit.Recurrent` takes this path when ``backend`` is ``"auto"`` or ``"fused"`` and
every cell is exactly one of the standard cells below (not a subclass, which may change the
step). The kernels read the very parameters the cells own, so both paths compute the same
function and share one state_dict.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import _VF, Tensor

from rnnkit.cells.base import RecurrentCell
from rnnkit.cells.gru import GRUCell
from rnnkit.cells.lstm import LSTMCell
from rnnkit.cells.rnn import RNNCell
from rnnkit.layers.precision import fused_precision


def fused_kernel_name(cells: Sequence[RecurrentCell]) -> str | None:
    """Name of the torch kernel that computes these cells, or None when there is none."""
    kinds = {type(cell) for cell in cells}
    if len(kinds) != 1:
        return None
    kind = kinds.pop()
    if kind is LSTMCell:
        return "lstm"
    if kind is GRUCell:
        return "gru"
    if kind is RNNCell and len({cell.nonlinearity for cell in cells}) == 1:
        return f"rnn_{cells[0].nonlinearity}"
    return None


def run_fused(
    kernel: str,
    inputs: Tensor,
    batch_sizes: Tensor | None,
    initial_state: tuple[Tensor, ...],
    flat_weights: list[Tensor],
    has_biases: bool,
    num_layers: int,
    dropout: float,
    training: bool,
    bidirectional: bool,
) -> tuple[Tensor, tuple[Tensor, ...]]:
    """Run the fused kernel.

    Args:
        inputs: ``(L, N, H_in)`` time-major when ``batch_sizes`` is None, else packed data.
        initial_state: each state component as ``(D * num_layers, N, s)``.
        flat_weights: parameters in torch.nn's ``_flat_weights`` order.

    Under autocast it runs in the autocast dtype (:func:`rnnkit.layers.precision.fused_precision`).

    Returns:
        outputs (same layout as ``inputs``) and the final state, components as in
        ``initial_state``.
    """
    function = getattr(_VF, kernel)
    hx = initial_state if kernel == "lstm" else initial_state[0]
    with fused_precision(inputs, flat_weights) as weights:
        args = (weights, has_biases, num_layers, dropout, training, bidirectional)
        if batch_sizes is None:
            output, *final = function(inputs, hx, *args, False)
        else:
            output, *final = function(inputs, batch_sizes, hx, *args)
    return output, tuple(final)
