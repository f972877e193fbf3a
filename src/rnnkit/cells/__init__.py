"""Recurrent cells: each defines one time step (see :class:`RecurrentCell`)."""

from rnnkit.cells.base import RecurrentCell, State
from rnnkit.cells.gru import GRUCell
from rnnkit.cells.lstm import LSTMCell
from rnnkit.cells.rnn import RNNCell

__all__ = ["GRUCell", "LSTMCell", "RNNCell", "RecurrentCell", "State"]
