"""Parallel plain-text files (Multi30k, WMT, IWSLT style): line i of ``train.de`` translates
line i of ``train.en``. Also what every sentence-pair datamodule shares: tokenizers by name,
including learned ones (SentencePiece) fitted on the training split only."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Sampler

from rnnkit.data.datamodule import SPLITS
from rnnkit.data.io.reading import (
    BadLinePolicy,
    check_fraction,
    check_on_bad_line,
    read_lines,
    split_off,
)
from rnnkit.data.io.sentencepiece_tokenizer import SentencePieceTokenizer
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
    each pool by length, cut it into batches and shuffle the batches. Padding, and so the
    steps a recurrent decoder runs, shrink to about the pool's typical length, while batches
    stay random. Deterministic for a given ``seed`` (epoch ``e`` uses ``seed + e``).

    Args:
        lengths: a sortable length per example, e.g. ``(target length, source length)``.
        batch_size: examples per batch (the last batch of a pool may be smaller).
        seed: the shuffling seed; ``pool_batches``: batches per sorted pool.
    """

    def __init__(
        self, lengths: list[Any], batch_size: int, seed: int = 0, pool_batches: int = 50
    ) -> None:
        self.lengths = list(lengths)
        self.batch_size = batch_size
        self.seed = seed
        self.pool_size = batch_size * pool_batches
        self.epoch = 0

    def __iter__(self) -> Iterator[list[int]]:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        self.epoch += 1
        order = torch.randperm(len(self.lengths), generator=generator).tolist()
        batches = []
        for start in range(0, len(order), self.pool_size):
            pool = sorted(order[start : start + self.pool_size], key=self.lengths.__getitem__)
            batches += [pool[i : i + self.batch_size] for i in range(0, len(pool), self.batch_size)]
        for index in torch.randperm(len(batches), generator=generator).tolist():
            yield batches[index]

    def __len__(self) -> int:
        pools, rest = divmod(len(self.lengths), self.pool_size)
        per_pool = -(-self.pool_size // self.batch_size)
        return pools * per_pool + -(-rest // self.batch_size)


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
        examples = self.datasets["train"]  # encoded: (source ids, target ids, ...)
        lengths = [(len(e[1]), len(e[0])) for e in examples]
        return DataLoader(
            examples,
            batch_sampler=LengthBucketSampler(lengths, self.batch_size, self.seed),
            collate_fn=self.collate,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )


def read_parallel_files(
    source_file: Path, target_file: Path, on_bad_line: str = "error"
) -> list[dict[str, Any]]:
    """Pairs ``{"source", "target", "where"}`` from two line-aligned UTF-8 files.

    Blank lines at the end of a file are ignored; then both files must have the same number
    of lines (else a ValueError naming both files and their counts, whatever
    ``on_bad_line``). A pair with an empty side (or bytes that are not UTF-8) is a bad line:
    an error naming the file and line, or, with ``"skip"``, the pair is dropped and counted.
    """
    with BadLinePolicy(source_file, on_bad_line) as policy:
        lines, counts = [], []
        for file in (source_file, target_file):
            texts = dict(read_lines(file, policy))
            count = _line_count(file)
            while count and not texts.get(count, "x").strip():
                count -= 1  # trailing blank lines
            lines.append(texts)
            counts.append(count)
        if counts[0] != counts[1]:
            raise ValueError(
                f"{source_file} has {counts[0]} lines but {target_file} has {counts[1]}; line i "
                "of one must translate line i of the other"
            )
        pairs = []
        for number in range(1, counts[0] + 1):
            source, target = lines[0].get(number), lines[1].get(number)
            if source is None or target is None:
                continue  # not UTF-8: already reported (skipped) by read_lines
            for side, text, file in (
                ("source", source, source_file),
                ("target", target, target_file),
            ):
                if not text.strip():
                    policy.report(
                        f"empty {side} sentence (expected text on every line)", number, file
                    )
                    break
            else:
                where = f"{source_file}, line {number}"
                pairs.append({"source": source.strip(), "target": target.strip(), "where": where})
    return pairs


def _line_count(file: Path) -> int:
    data = file.read_bytes()
    return data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)


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
        self._carved: tuple[list[dict[str, Any]], list[dict[str, Any]]] | None = None

    def files(self, prefix: str) -> tuple[Path, Path]:
        """The source and target files of a split prefix."""
        return (
            self.path / f"{prefix}.{self.source_language}",
            self.path / f"{prefix}.{self.target_language}",
        )

    def _read(self, split: str) -> list[dict[str, Any]]:
        source_file, target_file = self.files(self.prefixes[split])
        for file in (source_file, target_file):
            if not file.is_file():
                raise FileNotFoundError(
                    f"{file}: not found ({split}_prefix={self.prefixes[split]!r}); put the file "
                    "there or point data.path at its folder"
                )
        pairs = read_parallel_files(source_file, target_file, self.on_bad_line)
        if split == "train" and not pairs:
            raise ValueError(f"{source_file}: expected at least one training pair, found none")
        return pairs

    def load_split(self, split: str) -> list[dict[str, Any]]:
        if split not in SPLITS:
            raise ValueError(f"split: expected one of {list(SPLITS)}, got {split!r}")
        if split in ("train", "val") and self.prefixes["val"] is None:
            if self._carved is None:
                self._carved = split_off(self._read("train"), self.val_ratio, self.split_seed)
            return self._carved[0] if split == "train" else self._carved[1]
        return [] if self.prefixes[split] is None else self._read(split)
