"""Recurrent cells: each defines one time step (see :class:`RecurrentCell`)."""

from rnnkit.cells.base import RecurrentCell, State
from rnnkit.cells.feedforward import FeedForwardCell
from rnnkit.cells.gru import GRUCell
from rnnkit.cells.layer_norm_lstm import LayerNormLSTMCell
from rnnkit.cells.lstm import LSTMCell
from rnnkit.cells.peephole_lstm import PeepholeLSTMCell
from rnnkit.cells.rnn import RNNCell

__all__ = [
    "FeedForwardCell",
    "GRUCell",
    "LayerNormLSTMCell",
    "LSTMCell",
    "PeepholeLSTMCell",
    "RNNCell",
    "RecurrentCell",
    "State",
]
