"""Sentence classification data (the sentiment task): SST-2, IMDB, any text table, the
long-range memory study and the built-in sentences."""
