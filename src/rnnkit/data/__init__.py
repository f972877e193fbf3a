"""Data: one package per task, each holding its datamodule, its file readers and its built-in data.

- ``sentiment``: sentence classification. ``datamodule`` (the base), ``text_table`` (CSV, TSV,
  JSONL), ``sst2``, ``imdb``, ``long_range`` (the memory-over-a-lag study), ``builtin``.
- ``tagging``: sequence labelling. ``datamodule``, ``tag_schemes`` (IOB1/BIO/BIOES), ``conll``
  (CoNLL-2003), ``conllu`` (CoNLL-U), ``builtin``.
- ``translation``: sequence to sequence. ``datamodule``, ``parallel_text`` (Multi30k),
  ``tatoeba``, ``builtin``.
- ``captioning``: image to text. ``datamodule``, ``caption_files`` (folders of images),
  ``flickr8k``, ``coco_captions``, ``constant_caption`` (the baseline), ``builtin``.
- ``forecasting``: time series. ``datamodule`` (windows), ``csv_series``, ``ett``, ``builtin``.
- ``language_modeling``: token streams. ``datamodule``, ``text_files`` (tiny-shakespeare, PTB),
  ``builtin``.
- ``speech``: audio to text. ``datamodule`` (log-mel features, character labels), ``audio``
  (reading and resampling, soundfile imported lazily), ``features`` (log-mel), ``fsdd``
  (connected digits from FSDD-named recordings), ``manifest`` (CSV/TSV), ``librispeech``.
- ``io``: what every task shares. ``download`` (verified, cached, atomic), ``reading``
  (line-level reading with a bad-line policy), ``vocabulary``, ``tokenizers``,
  ``sentencepiece_tokenizer``, ``image_cache``.

At the top level, :mod:`~rnnkit.data.datamodule` is the base class every datamodule extends
(splits, loaders, fitted artifacts) and :mod:`~rnnkit.data.builtin` finds the built-in datasets
by name. Each datamodule has one ``data=<name>`` config in ``src/rnnkit/configs/data/``.
Imports flow from the task packages to ``io`` and the top level, never between task packages,
and ``data`` never imports models: sizes (vocabulary, labels, features) reach the model through
the task.
"""
