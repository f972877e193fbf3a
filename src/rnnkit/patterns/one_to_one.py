"""One-to-one: a single input, one recurrent step from the zero state, a single output."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import Tensor, nn

from rnnkit.cells.base import RecurrentCell
from rnnkit.cells.gru import GRUCell
from rnnkit.cells.lstm import LSTMCell
from rnnkit.cells.rnn import RNNCell
from rnnkit.patterns._sequence import check_dropout, check_input_layer, check_positive_int

CELLS: dict[str, type[RecurrentCell]] = {"rnn": RNNCell, "lstm": LSTMCell, "gru": GRUCell}


class OneToOne(nn.Module):
    r"""The degenerate recurrent pattern: one input, one step from :math:`h_0 = 0`, one output.

    ::

        x ─▶ [input_layer] ─▶ cell.advance(x, zero state) ─▶ dropout ─▶ Linear ─▶ (N, num_outputs)

    It completes the five input/output patterns of the seed diagrams (one-to-one,
    one-to-many, many-to-one, aligned and unaligned many-to-many) so they can be compared.
    Since :math:`h_0 = 0`, the recurrent term :math:`W_{hh} h_0` vanishes and the step is a
    feed-forward layer: for an :class:`~rnnkit.cells.RNNCell`

    .. math::  h_1 = \sigma(W_{ih} x + b_{ih} + W_{hh} \cdot 0 + b_{hh}) = \sigma(W_{ih} x + b)

    with :math:`b = b_{ih} + b_{hh}`, i.e. ``activation(nn.Linear(F, H)(x))``. For an LSTM it
    is a gated layer :math:`h = o \odot \tanh(i \odot g)` (the forget gate multiplies
    :math:`c_0 = 0`), for a GRU :math:`h = (1 - z) \odot n`. ``weight_hh`` is multiplied by
    zero and never receives a gradient; nothing here is recurrent but the name.

    Args:
        cell: a built :class:`~rnnkit.cells.RecurrentCell`, or ``"rnn"``, ``"lstm"``,
            ``"gru"``, or a cell factory called as ``cell(input_size, hidden_size,
            **cell_kwargs)`` (then ``input_size`` and ``hidden_size`` are required).
        num_outputs: size of the output.
        input_size, hidden_size: the cell's sizes when it is built here.
        input_layer: optional module applied first (e.g. ``nn.Embedding`` for ``(N,)`` ids).
        dropout: dropout probability on the cell output, before the output layer.
        **cell_kwargs: passed to the cell factory (``nonlinearity="relu"``, ``bias=False``).

    Shapes: inputs ``(N, F)`` float, or whatever ``input_layer`` maps to ``(N, F)``;
    output ``(N, num_outputs)``.
    """

    def __init__(
        self,
        cell: RecurrentCell | str | Callable[..., RecurrentCell] = "rnn",
        num_outputs: int = 1,
        input_size: int | None = None,
        hidden_size: int | None = None,
        input_layer: nn.Module | None = None,
        dropout: float = 0.0,
        **cell_kwargs: Any,
    ) -> None:
        super().__init__()
        check_positive_int("num_outputs", num_outputs)
        cell = _build_cell(cell, input_size, hidden_size, cell_kwargs)
        check_input_layer(input_layer, cell.input_size)
        self.input_layer = input_layer
        self.cell = cell
        self.num_outputs = num_outputs
        self.dropout = nn.Dropout(check_dropout(dropout))
        self.output_layer = nn.Linear(cell.output_size, num_outputs)

    def forward(self, inputs: Tensor) -> Tensor:
        """``(N, F)`` (or the input layer's input) to ``(N, num_outputs)``."""
        features = inputs if self.input_layer is None else self.input_layer(inputs)
        if (
            not isinstance(features, Tensor)
            or features.dim() != 2
            or features.shape[-1] != self.cell.input_size
            or not features.dtype.is_floating_point
        ):
            source = "inputs" if self.input_layer is None else "input_layer(inputs)"
            shape = tuple(features.shape) if isinstance(features, Tensor) else type(features)
            raise ValueError(
                f"inputs: expected {source} to be float (N, {self.cell.input_size}) = "
                f"(N, input_size), got {getattr(features, 'dtype', None)} of shape {shape}"
            )
        zero_state = self.cell.initial_state(
            features.shape[0], dtype=features.dtype, device=features.device
        )
        output, _ = self.cell.advance(features, zero_state)  # rnnkit's step, for any cell
        return self.output_layer(self.dropout(output))

    def extra_repr(self) -> str:
        return f"num_outputs={self.num_outputs}"


def _build_cell(
    cell: RecurrentCell | str | Callable[..., RecurrentCell],
    input_size: int | None,
    hidden_size: int | None,
    cell_kwargs: dict[str, Any],
) -> RecurrentCell:
    if isinstance(cell, RecurrentCell):
        if input_size is not None or hidden_size is not None or cell_kwargs:
            raise ValueError(
                "cell: a built cell carries its own sizes and options; expected no "
                f"input_size, hidden_size or cell kwargs, got input_size={input_size!r}, "
                f"hidden_size={hidden_size!r}, {sorted(cell_kwargs)}"
            )
        return cell
    if isinstance(cell, str):
        if cell not in CELLS:
            raise ValueError(
                f"cell: expected one of {', '.join(CELLS)}, a cell factory or a RecurrentCell, "
                f"got {cell!r}"
            )
        cell = CELLS[cell]
    if not callable(cell):
        raise ValueError(
            f"cell: expected a RecurrentCell, a cell name or factory, got {type(cell).__name__}"
        )
    check_positive_int("input_size", input_size)
    check_positive_int("hidden_size", hidden_size)
    built = cell(input_size, hidden_size, **cell_kwargs)
    if not isinstance(built, RecurrentCell):
        raise ValueError(
            f"cell: expected a factory of rnnkit.cells.RecurrentCell, got {type(built).__name__}"
        )
    return built
