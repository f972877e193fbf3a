"""`RNN`, `LSTM`, `GRU`: drop-in replacements for torch.nn's layers, built on `Recurrent`."""

from __future__ import annotations

from typing import Any

from rnnkit.cells.gru import GRUCell
from rnnkit.cells.lstm import LSTMCell
from rnnkit.cells.rnn import RNNCell
from rnnkit.cells.validation import reject_layer_options
from rnnkit.layers.recurrent import Recurrent


class _TorchNNLayer(Recurrent):
    """What RNN, LSTM and GRU share as torch.nn.RNNBase's subclasses: ``proj_size`` is 0
    unless an LSTM projects, also in a state pickled without it (torch < 1.8 LSTMs)."""

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        if "proj_size" not in state:
            self.proj_size = 0


class RNN(_TorchNNLayer):
    """Drop-in for :class:`torch.nn.RNN` (same arguments, shapes, parameter names).

    Each layer and direction is an :class:`~rnnkit.cells.RNNCell`. Extra arguments:
    ``backend`` (see :class:`Recurrent`) and ``lengths`` in ``forward``. Arguments and inputs
    are checked as torch.nn checks them (:mod:`rnnkit.cells.validation`); like torch.nn.RNN
    it takes ``**kwargs`` only to refuse ``proj_size`` with a ValueError.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device=None,
        dtype=None,
        backend: str = "auto",
        weight_dropout: float = 0.0,
        variational_dropout: bool = False,
        **unsupported,
    ) -> None:
        reject_layer_options("RNN", unsupported)
        super().__init__(
            RNNCell,
            input_size,
            hidden_size,
            num_layers,
            batch_first,
            dropout,
            bidirectional,
            backend,
            weight_dropout,
            variational_dropout,
            bias=bias,
            nonlinearity=nonlinearity,
            device=device,
            dtype=dtype,
        )
        self.nonlinearity = nonlinearity
        self.bias = bias
        self.proj_size = 0
        self.mode = "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU"


class LSTM(_TorchNNLayer):
    """Drop-in for :class:`torch.nn.LSTM`, including ``proj_size``.

    Each layer and direction is an :class:`~rnnkit.cells.LSTMCell`; ``hx`` and ``h_n`` are
    ``(h, c)`` tuples of ``(D * num_layers, N, H_out)`` and ``(D * num_layers, N, H)``.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device=None,
        dtype=None,
        backend: str = "auto",
        weight_dropout: float = 0.0,
        variational_dropout: bool = False,
    ) -> None:
        super().__init__(
            LSTMCell,
            input_size,
            hidden_size,
            num_layers,
            batch_first,
            dropout,
            bidirectional,
            backend,
            weight_dropout,
            variational_dropout,
            bias=bias,
            proj_size=proj_size,
            device=device,
            dtype=dtype,
        )
        self.bias = bias
        self.proj_size = proj_size
        self.mode = "LSTM"


class GRU(_TorchNNLayer):
    """Drop-in for :class:`torch.nn.GRU`; each layer and direction is a
    :class:`~rnnkit.cells.GRUCell`. Like torch.nn.GRU it refuses ``proj_size`` (ValueError)."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device=None,
        dtype=None,
        backend: str = "auto",
        weight_dropout: float = 0.0,
        variational_dropout: bool = False,
        **unsupported,
    ) -> None:
        reject_layer_options("GRU", unsupported)
        super().__init__(
            GRUCell,
            input_size,
            hidden_size,
            num_layers,
            batch_first,
            dropout,
            bidirectional,
            backend,
            weight_dropout,
            variational_dropout,
            bias=bias,
            device=device,
            dtype=dtype,
        )
        self.bias = bias
        self.proj_size = 0
        self.mode = "GRU"
