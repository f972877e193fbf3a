"""Shared data machinery: verified downloads, line-level reading, vocabularies, tokenizers and
the image cache. Knows no task."""
