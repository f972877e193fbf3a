"""Parallel plain-text files (Multi30k, WMT, IWSLT style): line i of ``train.de`` translates
line i of ``train.en``. Also what every sentence-pair datamodule shares: tokenizers by name,
including learned ones (SentencePiece) fitted on the training split only."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from itertools import zip_longest
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Sampler

from rnnkit.data.datamodule import SPLITS
from rnnkit.data.io.prepared_cache import sequence_lengths
from rnnkit.data.io.reading import (
    BadLinePolicy,
    check_data_folder,
    check_fraction,
    check_on_bad_line,
    read_lines,
    split_off,
)
from rnnkit.data.io.sentencepiece_tokenizer import SentencePieceTokenizer
from rnnkit.data.io.sharded_batches import sorted_pools
from rnnkit.data.io.tokenizers import TOKENIZERS, WordPunctTokenizer, make_tokenizer
from rnnkit.data.translation.datamodule import TranslationDataModule

TEXT_TOKENIZERS = (*sorted(TOKENIZERS), WordPunctTokenizer.name, SentencePieceTokenizer.name)
"""Tokenizer names of the datamodules in this module."""


def build_tokenizer(name: str, key: str = "tokenizer", sentencepiece_vocab_size: int = 8000):
    """A tokenizer by name: ``whitespace``, ``character``, ``word_punct`` or ``sentencepiece``
    (trained later, by :meth:`Tokenizer.fit`, with ``sentencepiece_vocab_size`` pieces)."""
    if name == WordPunctTokenizer.name:
        return WordPunctTokenizer()
    if name == SentencePieceTokenizer.name:
        return SentencePieceTokenizer(vocab_size=sentencepiece_vocab_size)
    if name not in TOKENIZERS:
        raise ValueError(f"{key}: expected one of {list(TEXT_TOKENIZERS)}, got {name!r}")
    return make_tokenizer(name, key)


class LengthBucketSampler(Sampler[list[int]]):
    """Training batches of sentences of similar lengths, as torchtext's ``BucketIterator``.

    Every epoch: shuffle the examples, cut them into pools of ``pool_batches`` batches, sort
    each pool by length (stably), cut it into batches and shuffle the batches. Padding, and so
    the steps a recurrent decoder runs, shrink to about the pool's typical length, while batches
    stay random. Deterministic for a given ``seed`` (epoch ``e`` uses ``seed + e``). The order
    is computed with numpy: a few arrays of ``N`` integers, whatever the dataset's size.

    Args:
        lengths: a sortable length per example, ``(N,)`` or ``(N, K)`` integers compared column
            by column, e.g. ``(target length, source length)`` rows.
        batch_size: examples per batch (the last batch of a pool may be smaller).
        seed: the shuffling seed; ``pool_batches``: batches per sorted pool.
    """

    def __init__(
        self, lengths: Any, batch_size: int, seed: int = 0, pool_batches: int = 50
    ) -> None:
        self.keys = sort_keys(lengths)
        self.batch_size = batch_size
        self.seed = seed
        self.pool_size = batch_size * pool_batches
        self.epoch = 0

    def __iter__(self) -> Iterator[list[int]]:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        self.epoch += 1
        order = torch.randperm(len(self.keys), generator=generator).numpy()
        # Pools hold whole batches: cutting the sorted order cuts each pool into its batches.
        order = sorted_pools(order, self.keys, self.pool_size)
        batches = [order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        for index in torch.randperm(len(batches), generator=generator).tolist():
            yield batches[index].tolist()

    def __len__(self) -> int:
        pools, rest = divmod(len(self.keys), self.pool_size)
        per_pool = -(-self.pool_size // self.batch_size)
        return pools * per_pool + -(-rest // self.batch_size)


def sort_keys(lengths: Any) -> np.ndarray:
    """``(N,)`` int64 keys that sort as the ``(N,)`` or ``(N, K)`` non-negative integer
    ``lengths`` do, row by row (column 0 first): one number per example."""
    lengths = np.asarray(lengths, dtype=np.int64)
    columns = lengths.reshape(len(lengths), -1).T
    if not len(lengths):
        return np.zeros(0, dtype=np.int64)
    keys = columns[0].copy()
    for column in columns[1:]:
        keys *= int(column.max()) + 1
        keys += column
    return keys


class TextPairDataModule(TranslationDataModule):
    """A :class:`TranslationDataModule` whose raw examples are text pairs read from files.

    Adds the ``word_punct`` and ``sentencepiece`` tokenizers (learned ones are fitted on the
    raw training sentences, :meth:`TranslationDataModule.fit_tokenizers`).

    Args:
        source_tokenizer, target_tokenizer: ``whitespace``, ``character``, ``word_punct``
            (words and punctuation, spaCy-like; see :class:`WordPunctTokenizer`) or
            ``sentencepiece`` (subwords learned on the training split).
        sentencepiece_vocab_size: pieces per side with ``sentencepiece``.
        bucket_by_length: draw training batches of similar target lengths
            (:class:`LengthBucketSampler`): far less padding, so a step-by-step decoder runs
            fewer steps (about twice as fast on Multi30k); false: plain shuffled batches.
            Single-process training only (with DDP, keep it false).
        on_bad_line: ``"error"`` or ``"skip"`` (see :mod:`rnnkit.data.io.reading`).
        **kwargs: :class:`TranslationDataModule`'s (``lowercase``, ``min_frequency``,
            ``max_source_length``, ``batch_size``...).
    """

    tokenizer_option = "sentencepiece_vocab_size"

    def __init__(
        self,
        source_tokenizer: str = "whitespace",
        target_tokenizer: str = "whitespace",
        sentencepiece_vocab_size: int = 8000,
        bucket_by_length: bool = False,
        on_bad_line: str = "error",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not isinstance(bucket_by_length, bool):
            raise ValueError(f"bucket_by_length: expected true or false, got {bucket_by_length!r}")
        self.bucket_by_length = bucket_by_length
        # Built here: the base class only knows the rule-based tokenizers by name.
        self.source_tokenizer = build_tokenizer(
            source_tokenizer, "source_tokenizer", sentencepiece_vocab_size
        )
        self.target_tokenizer = build_tokenizer(
            target_tokenizer, "target_tokenizer", sentencepiece_vocab_size
        )
        self.on_bad_line = check_on_bad_line(on_bad_line)

    def train_dataloader(self) -> DataLoader:
        if not self.bucket_by_length:
            return super().train_dataloader()
        examples = self.datasets["train"]
        keys = sequence_lengths(examples, "target")  # by target length, then source length
        source = sequence_lengths(examples, "source")
        keys *= int(source.max()) + 1
        keys += source
        return DataLoader(
            examples,
            batch_sampler=LengthBucketSampler(keys, self.batch_size, self.seed),
            collate_fn=self.collate,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )


def read_parallel_files(
    source_file: Path, target_file: Path, on_bad_line: str = "error"
) -> Iterator[dict[str, Any]]:
    """Pairs ``{"source", "target", "where"}`` from two line-aligned UTF-8 files, streamed: both
    files are read line by line, in step.

    Blank lines at the end of a file are ignored; then both files must have the same number
    of lines: else, at the end, a ValueError naming both files and their counts, or with
    ``on_bad_line="skip"`` the longer file's extra lines are dropped as bad lines (one warning
    naming both files and the counts). A pair with an empty side (or bytes that are not UTF-8)
    is a bad line: an error naming the file and line, or, with ``"skip"``, the pair is dropped
    and counted.
    An empty line is reported once a later line of both files has text (until then it may be
    one of the trailing blank lines).
    """
    with BadLinePolicy(source_file, on_bad_line) as policy:
        files = (source_file, target_file)
        lines = zip_longest(*(read_lines(file, policy, keep_bad=True) for file in files))
        where = f"{source_file}, line "
        last = [0, 0]  # per file, the last line with text (or bytes that are not UTF-8)
        pending: deque[tuple[int, int]] = deque()  # (line, side) of empty sides not reported
        for number, (source_line, target_line) in enumerate(lines, start=1):
            # A line's text, stripped: "" when blank or past the end, None when not UTF-8.
            source = "" if source_line is None else source_line[1]
            target = "" if target_line is None else target_line[1]
            source = source if source is None else source.strip()
            target = target if target is None else target.strip()
            if source and target and not pending:  # the usual pair: text on both sides
                last[0] = last[1] = number
                yield {"source": source, "target": target, "where": f"{where}{number}"}
                continue
            texts = (source, target)
            for side, text in enumerate(texts):
                if text is None or text:
                    last[side] = number
            if "" in texts and None not in texts:
                pending.append((number, texts.index("")))
            while pending and pending[0][0] <= min(last):  # inside both files: a bad line
                line, side = pending.popleft()
                name = ("source", "target")[side]
                policy.report(
                    f"empty {name} sentence (expected text on every line)", line, files[side]
                )
            if source and target:  # text on both sides, after the reports above
                yield {"source": source, "target": target, "where": f"{where}{number}"}
        if last[0] != last[1]:
            mismatch = (
                f"{source_file} has {last[0]} lines but {target_file} has {last[1]}; line i "
                "of one must translate line i of the other"
            )
            if policy.on_bad_line == "error":
                raise ValueError(mismatch)
            # skip: the longer file's tail has no translation; drop it, counted in the warning.
            longer, shorter = (0, 1) if last[0] > last[1] else (1, 0)
            for line in range(last[shorter] + 1, last[longer] + 1):
                policy.report(
                    f"no line {line} in {files[shorter]} ({mismatch}; the pairs before may be "
                    "misaligned too)",
                    line,
                    files[longer],
                )


class ParallelTextDataModule(TextPairDataModule):
    """Sentence pairs from ``<prefix>.<language>`` files: Multi30k's ``train.de`` /
    ``train.en``, ``val.*``, ``test_2016_flickr.*``.

    Line i of ``<prefix>.<source_language>`` translates line i of
    ``<prefix>.<target_language>`` (see :func:`read_parallel_files` for the checks). Text is
    raw (untokenised, cased); ``lowercase`` and the tokenizers turn it into tokens.

    Args:
        path: the folder of the files.
        source_language, target_language: the file suffixes (``de``, ``en``).
        train_prefix, val_prefix, test_prefix: the split files' names before the suffix.
            ``val_prefix=None`` carves ``val_ratio`` of the training pairs (``split_seed``) for
            validation; ``test_prefix=None`` means no test split.
        **kwargs: :class:`TextPairDataModule`'s (tokenizers, ``on_bad_line``) and
            :class:`TranslationDataModule`'s (``lowercase``, ``min_frequency``...).

    Raw examples: ``{"source": str, "target": str, "where": "<source file>, line <n>"}``.
    """

    def __init__(
        self,
        path: str | None,
        source_language: str = "de",
        target_language: str = "en",
        train_prefix: str = "train",
        val_prefix: str | None = "val",
        test_prefix: str | None = "test_2016_flickr",
        val_ratio: float = 0.1,
        split_seed: int = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        for name, value in (
            ("source_language", source_language),
            ("target_language", target_language),
        ):
            if not isinstance(value, str) or not value:
                raise ValueError(f"{name}: expected a file suffix such as 'de', got {value!r}")
        if source_language == target_language:
            raise ValueError(
                f"target_language: expected another language than source_language, got "
                f"{target_language!r} for both"
            )
        if not isinstance(train_prefix, str) or not train_prefix:
            raise ValueError(f"train_prefix: expected a file name prefix, got {train_prefix!r}")
        self.path = Path(str(path)).expanduser() if path is not None else Path(".")
        self.source_language, self.target_language = source_language, target_language
        self.prefixes = {"train": train_prefix, "val": val_prefix, "test": test_prefix}
        self.val_ratio = check_fraction(val_ratio, "val_ratio")
        self.split_seed = split_seed
        self._carved: np.ndarray | None = None

    def files(self, prefix: str) -> tuple[Path, Path]:
        """The source and target files of a split prefix."""
        return (
            self.path / f"{prefix}.{self.source_language}",
            self.path / f"{prefix}.{self.target_language}",
        )

    def _files_of(self, split: str) -> tuple[Path, Path]:
        """The split's two files, which must exist."""
        files = self.files(self.prefixes[split])
        for file in files:
            if not file.is_file():
                check_data_folder(self.path, f"{split}_prefix={self.prefixes[split]!r}")
                raise FileNotFoundError(
                    f"{file}: not found ({split}_prefix={self.prefixes[split]!r}); put the file "
                    "there or point data.path at its folder"
                )
        return files

    def source_files(self) -> list[Path]:
        splits = [split for split in SPLITS if self.prefixes[split] is not None]
        return [file for split in splits for file in self._files_of(split)]

    def _read(self, split: str) -> Iterator[dict[str, Any]]:
        source_file, target_file = self._files_of(split)
        empty = True
        for pair in read_parallel_files(source_file, target_file, self.on_bad_line):
            empty = False
            yield pair
        if split == "train" and empty:
            raise ValueError(f"{source_file}: expected at least one training pair, found none")

    def _carved_mask(self) -> np.ndarray:
        """``(N,)`` bool over the training file's pairs: those carved for validation
        (``val_prefix=None``), as :func:`split_off` carves them; counted in one pass."""
        if self._carved is None:
            size = sum(1 for _ in self._read("train"))
            _, carved = split_off(range(size), self.val_ratio, self.split_seed)
            self._carved = np.zeros(size, dtype=bool)
            self._carved[carved] = True
        return self._carved

    def load_split(self, split: str) -> Iterator[dict[str, Any]]:
        """The split's pairs, streamed from its files (a generator)."""
        if split not in SPLITS:
            raise ValueError(f"split: expected one of {list(SPLITS)}, got {split!r}")
        if split in ("train", "val") and self.prefixes["val"] is None:
            return self._carve(split == "val")
        return iter(()) if self.prefixes[split] is None else self._read(split)

    def _carve(self, carved: bool) -> Iterator[dict[str, Any]]:
        mask = self._carved_mask()
        for index, pair in enumerate(self._read("train")):
            if mask[index] == carved:
                yield pair
