"""Initialisations for long memory, applied in place to every layer and direction of a
:class:`~rnnkit.layers.recurrent.Recurrent` layer after it is built.

* :func:`chrono_init`: LSTM gate biases that open the forget gate (Tallec & Ollivier 2018,
  "Can recurrent neural networks warp time?").
* :func:`rescale_spectral_radius`: a square recurrent weight scaled to a chosen spectral radius
  (above 1, the state and the gradient grow along the leading eigenvector at every step).
"""

from __future__ import annotations

import torch
from torch import Tensor

from rnnkit.cells.lstm import LSTMCell
from rnnkit.cells.peephole_lstm import PeepholeLSTMCell
from rnnkit.layers.recurrent import Recurrent

CHRONO_CELLS = (LSTMCell, PeepholeLSTMCell)
"""Cells with gate biases ``bias_ih``/``bias_hh (4H)`` in the order i, f, g, o."""


def chrono_init(layer: Recurrent, max_timescale: float) -> None:
    """Chrono initialisation of every LSTM cell of ``layer``, in place.

    Per unit, ``u ~ U(1, max_timescale - 1)``, forget bias ``log(u)`` and input bias
    ``-log(u)``: the forget gate starts between 0.5 and ``1 - 1/max_timescale``, so memory
    lasts from about 1 to ``max_timescale`` steps. The values go into ``bias_ih`` (gates i and
    f of ``bias_hh`` become 0, so the summed biases are exactly these); the g and o gates and
    every weight are untouched. One draw of ``hidden_size`` values per layer and direction,
    from torch's global generator.

    Raises ValueError unless every cell is an :class:`~rnnkit.cells.LSTMCell` or
    :class:`~rnnkit.cells.PeepholeLSTMCell` with biases, or if ``max_timescale <= 2``.
    """
    if not max_timescale > 2:
        raise ValueError(f"max_timescale: expected a number above 2, got {max_timescale!r}")
    for suffix, cell in layer.cells.items():
        if not isinstance(cell, CHRONO_CELLS) or cell.bias_ih is None:
            received = type(cell).__name__
            if isinstance(cell, CHRONO_CELLS):
                received += " with bias=False"
            raise ValueError(
                f"layer: chrono_init needs LSTM cells with gate biases (LSTMCell or "
                f"PeepholeLSTMCell, bias=True); cell '{suffix}' is {received}"
            )
    hidden = layer.hidden_size
    with torch.no_grad():
        for suffix in layer.cells:
            bias_ih: Tensor = getattr(layer, f"bias_ih_{suffix}")
            bias_hh: Tensor = getattr(layer, f"bias_hh_{suffix}")
            forget = torch.empty(hidden).uniform_(1, max_timescale - 1).log()
            bias_ih[hidden : 2 * hidden] = forget
            bias_ih[:hidden] = -forget
            bias_hh[: 2 * hidden] = 0.0


def rescale_spectral_radius(layer: Recurrent, radius: float) -> None:
    """Scale every recurrent weight ``weight_hh (H, H)`` of ``layer`` to spectral radius
    ``radius`` (largest eigenvalue modulus), in place, for every layer and direction.

    Raises ValueError if a cell has no square ``weight_hh`` (gated cells stack their gates,
    ``(4H, H)`` or ``(3H, H)``), or if ``radius`` is not positive.
    """
    if not radius > 0:
        raise ValueError(f"radius: expected a positive number, got {radius!r}")
    weights = []
    for suffix, cell in layer.cells.items():
        weight = getattr(layer, f"weight_hh_{suffix}", None)
        if weight is None or weight.dim() != 2 or weight.shape[0] != weight.shape[1]:
            shape = "none" if weight is None else tuple(weight.shape)
            raise ValueError(
                f"layer: rescale_spectral_radius needs a square recurrent weight weight_hh "
                f"(H, H), as RNNCell has; cell '{suffix}' is {type(cell).__name__} with "
                f"weight_hh {shape}"
            )
        weights.append(weight)
    with torch.no_grad():
        for weight in weights:
            weight.mul_(radius / torch.linalg.eigvals(weight).abs().max())
