"""rnnkit: recurrent sequence models for PyTorch.

>>> import rnnkit
>>> lstm = rnnkit.LSTM(8, 16, num_layers=2, bidirectional=True, batch_first=True)
"""

from rnnkit import cells
from rnnkit.cells import GRUCell, LSTMCell, RecurrentCell, RNNCell
from rnnkit.layers import GRU, LSTM, RNN, Recurrent

__version__ = "0.1.0"

__all__ = [
    "GRU",
    "GRUCell",
    "LSTM",
    "LSTMCell",
    "RNN",
    "RNNCell",
    "RecurrentCell",
    "Recurrent",
    "cells",
]
