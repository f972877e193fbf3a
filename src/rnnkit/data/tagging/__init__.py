"""Sequence tagging data (POS, NER): CoNLL-2003, CoNLL-U, tag schemes and the built-in
sentences."""
