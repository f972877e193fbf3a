"""Shared data machinery: verified downloads, line-level reading, vocabularies, tokenizers, the
image cache, the prepared-data cache and its Parquet export and streaming reader. Knows no
task."""
