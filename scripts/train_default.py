"""Placeholder until the training framework lands: trains a tiny LSTM classifier offline."""
