"""Sequence layers: the one runner (`Recurrent`) and torch.nn's RNN, LSTM, GRU on top of it."""

from rnnkit.layers.recurrent import Recurrent
from rnnkit.layers.standard import GRU, LSTM, RNN

__all__ = ["GRU", "LSTM", "RNN", "Recurrent"]
