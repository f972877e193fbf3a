"""Sequence tagging data (POS, NER): sentences with one tag per token."""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rnnkit.data.datamodule import RnnkitDataModule, pad_sequences
from rnnkit.data.io.parallel_encoding import chunks
from rnnkit.data.io.prepared_cache import Columns, narrowest_unsigned
from rnnkit.data.io.split_arrays import field_arrays
from rnnkit.data.io.tokenizers import Tokenizer, TreebankTokenizer, WhitespaceTokenizer
from rnnkit.data.io.vocabulary import DEFAULT_MAX_SIZE, UNK, Vocabulary
from rnnkit.data.tagging.majority_baseline import MajorityTagger
from rnnkit.data.tagging.tag_schemes import OUTSIDE, PREFIXES, convert_tags, normalize_scheme

_DIGIT = re.compile(r"\d")


@dataclass
class TrainingCounts:
    """What fitting counts in the training split (of a chunk, or added up over chunks): word
    counts, the raw tags seen, the sentences, and character counts (None unless character
    features count them)."""

    words: Counter = field(default_factory=Counter)
    raw_tags: set[str] = field(default_factory=set)
    examples: int = 0
    characters: Counter | None = None

    def add(self, other: TrainingCounts) -> None:
        self.words.update(other.words)
        self.raw_tags.update(other.raw_tags)
        self.examples += other.examples
        if other.characters is not None:
            if self.characters is None:
                self.characters = Counter()
            self.characters.update(other.characters)


PADDING_TAG = -100
"""Tag id of padded steps (and of unlabelled input): torch's ``ignore_index`` default."""

MAX_WORD_LENGTH = int(np.iinfo(np.uint16).max)
"""The longest word (in characters) an encoded example may hold (``word_lengths`` is uint16)."""

# Converted runs of entity tags kept for reuse (see TaggingDataModule.tag_ids); the memo is
# emptied when it reaches this many distinct runs.
TAG_MEMO_SIZE = 65_536

RAW_TOKENIZERS: dict[str, type[Tokenizer]] = {
    TreebankTokenizer.name: TreebankTokenizer,
    WhitespaceTokenizer.name: WhitespaceTokenizer,
}
"""How ``tokenizer`` splits prediction input into words (the corpora come tokenised)."""


class TaggingDataModule(RnnkitDataModule):
    """Tokenised sentences and their tags; subclasses say where raw examples come from.

    Raw examples are ``{"tokens": list[str], "tags": list[str]}`` (``tags`` is None or absent for
    prediction input), returned by :meth:`load_split`. The word vocabulary and the tag list are
    fitted on the training split; words seen fewer than ``min_frequency`` times there become
    ``<unk>``. With entity tags, the tag list is ``O`` and every prefix of the scheme for each
    entity type seen in training.

    Args:
        lowercase: lower-case words before looking them up (the displayed words keep their case).
        normalize_digits: write every digit as ``0`` before looking words up (``"1996"`` and
            ``"2001"`` share one entry, as in Lample et al. 2016); the characters the character
            features read keep their digits.
        tag_scheme: scheme the model learns and predicts: ``"IOB1"``, ``"BIO"`` (alias
            ``"IOB2"``), ``"BIOES"`` (alias ``"IOBES"``) or ``"none"`` for plain labels such as
            parts of speech. Entity F1 is reported for the three entity schemes.
        source_tag_scheme: scheme of the raw tags (None: the same as ``tag_scheme``). Tags are
            converted on the fly, e.g. CoNLL-2003's IOB1 to BIOES; see
            :mod:`rnnkit.data.tagging.tag_schemes`.
        tokenizer: how raw text given for prediction is split into words, as the training
            corpus was: ``"treebank"`` (default: punctuation and clitics split off as in the
            Penn Treebank and CoNLL corpora, ``"New York."`` -> ``New``, ``York``, ``.``) or
            ``"whitespace"`` (the text is already tokenised). Training files are read as
            they are tokenised.
        min_frequency, max_vocab_size: word vocabulary limits (``max_vocab_size`` counts the
            specials; None: no cap).
        cache_dir, rebuild_cache, prepare_workers: where file-based subclasses prepare their
            splits once (see :class:`~rnnkit.data.datamodule.RnnkitDataModule`).

    Encoded examples (:meth:`encode`) are flat fields, the same whether kept in memory or
    prepared once and memory-mapped: ``tokens`` (word ids), ``tags`` (tag ids; empty for
    unlabelled input), ``text`` (the UTF-8 bytes of the sentence's words, concatenated) and
    ``word_lengths`` (characters per word, which cut ``text`` back into words).

    Batches: ``tokens (N, L)`` long word ids (0 = padding), ``lengths (N,)``, ``tags (N, L)``
    long tag ids padded with :data:`PADDING_TAG` (-100; absent for unlabelled input) and
    ``words``, the original token strings (a list of lists, for display).
    """

    task = "tagging"

    def __init__(
        self,
        batch_size: int = 32,
        num_workers: int = 0,
        seed: int = 0,
        lowercase: bool = False,
        normalize_digits: bool = False,
        tag_scheme: str = "none",
        source_tag_scheme: str | None = None,
        min_frequency: int = 1,
        max_vocab_size: int | None = DEFAULT_MAX_SIZE,
        tokenizer: str = TreebankTokenizer.name,
        cache_dir: str | os.PathLike | None = None,
        rebuild_cache: bool = False,
        prepare_workers: int | None = None,
    ) -> None:
        super().__init__(batch_size, num_workers, seed, cache_dir, rebuild_cache, prepare_workers)
        for name, value in (("lowercase", lowercase), ("normalize_digits", normalize_digits)):
            if not isinstance(value, bool):
                raise ValueError(f"{name}: expected true or false, got {value!r}")
        self.lowercase = lowercase
        self.normalize_digits = normalize_digits
        self.tag_scheme = normalize_scheme(tag_scheme, "tag_scheme")
        self.source_tag_scheme = normalize_scheme(
            self.tag_scheme if source_tag_scheme is None else source_tag_scheme,
            "source_tag_scheme",
        )
        if self.source_tag_scheme == "none" and self.tag_scheme != "none":
            raise ValueError(
                f"tag_scheme: {self.tag_scheme!r} needs entity tags, but source_tag_scheme is "
                "'none' (plain labels); use tag_scheme='none'"
            )
        self.min_frequency = min_frequency
        self.max_vocab_size = max_vocab_size
        if tokenizer not in RAW_TOKENIZERS:
            raise ValueError(
                f"tokenizer: expected one of {sorted(RAW_TOKENIZERS)}, got {tokenizer!r}"
            )
        # Private: prediction input only, so not a setting of the prepared data.
        self._tokenizer = RAW_TOKENIZERS[tokenizer]()
        self.vocab: Vocabulary | None = None
        self.tags: list[str] = []
        self._use_tags([])

    # ---- words and tags ----------------------------------------------------------------

    @property
    def normalizes_words(self) -> bool:
        """Whether :meth:`normalize_word` changes any word."""
        return self.lowercase or self.normalize_digits

    def normalize_word(self, word: str) -> str:
        """The form ``word`` is looked up by in the vocabulary."""
        if self.lowercase:
            word = word.lower()
        if self.normalize_digits:
            word = _DIGIT.sub("0", word)
        return word

    def convert(self, tags: list[str], where: str = "the data") -> list[str]:
        """Raw tags (``source_tag_scheme``) in the model's ``tag_scheme``."""
        try:
            return convert_tags(tags, self.source_tag_scheme, self.tag_scheme)
        except ValueError as error:
            raise ValueError(
                f"{error} (in {where}, source_tag_scheme={self.source_tag_scheme!r})"
            ) from None

    def _checked(self, example: dict[str, Any]) -> tuple[Sequence[str], Sequence[str] | None]:
        """The example's tokens and raw tags (not yet converted), checked for shape (not
        copied)."""
        tokens, tags = example.get("tokens"), example.get("tags")
        if not isinstance(tokens, (list, tuple)) or not tokens:
            where = example.get("source", "the data")
            raise ValueError(
                f"tokens: expected a non-empty list of words in {where}, got {tokens!r}"
            )
        if tags is not None and len(tags) != len(tokens):
            raise ValueError(
                f"tags: expected one tag per token in {example.get('source', 'the data')}, got "
                f"{len(tags)} tags for {len(tokens)} tokens: {list(tokens)[:8]}"
            )
        return tokens, tags

    def tag_ids(self, tags: Sequence[str], where: str = "the data") -> list[int]:
        """Ids of raw tags (``source_tag_scheme``) converted to ``tag_scheme``.

        Conversion never looks across an ``O``, so a sentence converts as its ``O`` tags and
        its maximal runs of entity tags, each run converted once and remembered (runs repeat:
        ``I-PER I-PER``, ``I-LOC``...); where tags convert one by one (the same scheme, or plain
        labels) each distinct tag is looked up once.
        """
        if self.source_tag_scheme == self.tag_scheme or self.tag_scheme == "none":
            memo = self._tag_memo
            try:
                return [memo[tag] for tag in tags]
            except KeyError:
                for tag in tags:
                    if tag not in memo:
                        memo[tag] = self._run_ids((tag,), where)[0]
                return [memo[tag] for tag in tags]
        ids: list[int] = []
        start = outside = None
        for position, tag in enumerate(tags):
            if tag == OUTSIDE:
                if start is not None:
                    ids += self._run_ids(tuple(tags[start:position]), where)
                    start = None
                if outside is None:
                    outside = self._run_ids((OUTSIDE,), where)[0]
                ids.append(outside)
            elif start is None:
                start = position
        if start is not None:
            ids += self._run_ids(tuple(tags[start:]), where)
        return ids

    def _run_ids(self, run: tuple[str, ...], where: str) -> list[int]:
        ids = self._run_memo.get(run)
        if ids is None:
            index = self._tag_index
            converted = self.convert(list(run), where)
            unknown = [tag for tag in converted if tag not in index]
            if unknown:
                raise ValueError(
                    f"tags: {unknown[0]!r} in {where} is not one of the training tags {self.tags}"
                )
            ids = [index[tag] for tag in converted]
            if len(self._run_memo) >= TAG_MEMO_SIZE:
                self._run_memo.clear()
            self._run_memo[run] = ids
        return ids

    def _use_tags(self, tags: list[str]) -> None:
        self.tags = tags
        self._tag_index = {tag: i for i, tag in enumerate(tags)}
        self._tag_memo, self._run_memo = {}, {}

    # ---- the datamodule contract -------------------------------------------------------

    def fit_artifacts(self, train_examples: Iterable[dict[str, Any]]) -> None:
        """One pass over the training examples: word counts and the raw tags seen
        (:meth:`count_chunk` of consecutive chunks), then :meth:`set_fitted`."""
        counts = TrainingCounts()
        for chunk in chunks(train_examples, self.prepare_chunk):
            counts.add(self.count_chunk(chunk))
        self.set_fitted(counts)

    def fit_prepared(self, workers: int) -> None:
        """:meth:`fit_artifacts` with the chunks counted in ``workers`` processes
        (:meth:`map_split`: a file format that workers parse themselves is read there too)."""
        counts = TrainingCounts()
        with self._progress_bar("fit train") as bar:
            for chunk_counts in self.map_split("train", self.count_chunk, workers):
                counts.add(chunk_counts)
                bar.update(chunk_counts.examples)
        self.set_fitted(counts)

    def count_chunk(self, examples: list[dict[str, Any]]) -> TrainingCounts:
        """The word counts and raw tags of a chunk of training examples (a sentence with a tag
        not seen before in the chunk is converted, so a tag invalid in ``source_tag_scheme``
        is named with its sentence)."""
        counts = TrainingCounts(examples=len(examples))
        raw_tags = counts.raw_tags
        for example in examples:
            tokens, tags = self._checked(example)
            if tags is None:
                raise ValueError(f"tags: missing in a training example: {list(tokens)[:8]}")
            seen = len(raw_tags)
            raw_tags.update(tags)
            if len(raw_tags) != seen:
                self.convert(tags, example.get("source", "the data"))
        words = chain.from_iterable(example["tokens"] for example in examples)
        counts.words.update(words if not self.normalizes_words else map(self.normalize_word, words))
        return counts

    def set_fitted(self, counts: TrainingCounts) -> None:
        """The word vocabulary and the tag list from the training split's ``counts``."""
        if not counts.examples:
            raise ValueError("train: expected at least one training sentence, got none")
        self.vocab = Vocabulary.from_counts(
            counts.words, min_frequency=self.min_frequency, max_size=self.max_vocab_size
        )
        raw_tags = counts.raw_tags
        if self.tag_scheme == "none":
            # Plain labels as they are (an entity scheme converts to "none" unchanged).
            self._use_tags(sorted(raw_tags))
        else:
            # "O", then every prefix of the scheme for each entity type seen in training (S-PER
            # exists even if training has only multi-token PER chunks), grouped by type;
            # converting between schemes keeps the types.
            types = sorted({tag.partition("-")[2] for tag in raw_tags} - {""})
            self._use_tags(
                [OUTSIDE]
                + [f"{prefix}-{kind}" for kind in types for prefix in PREFIXES[self.tag_scheme]]
            )

    def artifacts(self) -> dict[str, Any]:
        return {"vocab": self.vocab.to_json(), "tags": self.tags, "tag_scheme": self.tag_scheme}

    def load_artifacts(self, artifacts: dict[str, Any]) -> None:
        scheme = normalize_scheme(artifacts["tag_scheme"], "tag_scheme")
        if scheme != self.tag_scheme:
            raise ValueError(
                f"tag_scheme: the fitted tags are in {scheme!r}, but this datamodule converts "
                f"to {self.tag_scheme!r}"
            )
        self.vocab = Vocabulary.from_json(artifacts["vocab"])
        self._use_tags(list(artifacts["tags"]))

    def preparation_settings(self) -> dict[str, Any]:
        """The default settings without ``tags`` (fitted state) and ``seed`` (the shuffling
        order only)."""
        settings = super().preparation_settings()
        settings.pop("tags", None)
        settings.pop("seed", None)
        return settings

    def encoded_fields(self) -> dict[str, tuple[Any, bool]]:
        return {
            "tokens": (narrowest_unsigned(len(self.vocab) - 1), True),
            "tags": (narrowest_unsigned(max(len(self.tags) - 1, 0)), True),
            "text": (np.uint8, True),
            "word_lengths": (np.uint16, True),
        }

    def encode(self, example: dict[str, Any]) -> dict[str, Any]:
        """``{"tokens", "tags", "text", "word_lengths"}`` (see the class docstring)."""
        return self.encode_counts(example, Counter())

    def encode_counts(self, example: dict[str, Any], counts: Counter) -> dict[str, Any]:
        """:meth:`encode`, counting ``tokens`` and ``unknown_tokens`` (words outside the
        vocabulary) into ``counts``."""
        tokens, tags = self._checked(example)
        words = tokens if not self.normalizes_words else [self.normalize_word(t) for t in tokens]
        ids, unknown = self.vocab.encode_counting(words)
        counts["tokens"] += len(ids)
        counts["unknown_tokens"] += unknown
        joined = "".join(tokens)
        if len(joined) > MAX_WORD_LENGTH and max(map(len, tokens)) > MAX_WORD_LENGTH:
            raise ValueError(
                f"tokens: a word of {max(map(len, tokens))} characters in "
                f"{example.get('source', 'the data')}; expected at most {MAX_WORD_LENGTH}"
            )
        return {
            "tokens": ids,
            "tags": [] if tags is None else self.tag_ids(tags, example.get("source", "the data")),
            "text": np.frombuffer(joined.encode("utf-8"), dtype=np.uint8),
            "word_lengths": list(map(len, tokens)),
        }

    def encode_chunk(self, examples: list[dict[str, Any]]) -> tuple[Columns, int, Counter]:
        """:meth:`encode_counts` of a chunk of labelled sentences (lists of words and tags) at
        once, field by field over the chunk's words; anything else (unlabelled input, a
        sentence to report) sentence by sentence."""
        tokens = [example.get("tokens") for example in examples]
        tags = [example.get("tags") for example in examples]
        if not examples or set(map(type, tokens)) != {list} or set(map(type, tags)) != {list}:
            return super().encode_chunk(examples)
        lengths = np.fromiter(map(len, tokens), np.int64, len(tokens))
        if not lengths.all() or not np.array_equal(
            lengths, np.fromiter(map(len, tags), np.int64, len(tags))
        ):
            return super().encode_chunk(examples)
        words = list(chain.from_iterable(tokens))
        word_lengths = np.fromiter(map(len, words), np.int64, len(words))
        if word_lengths.max() > MAX_WORD_LENGTH:
            return super().encode_chunk(examples)
        ids, unknown = self.vocab.encode_counting(
            words if not self.normalizes_words else list(map(self.normalize_word, words))
        )
        tag_ids = chain.from_iterable(
            self.tag_ids(sentence_tags, example.get("source", "the data"))
            for sentence_tags, example in zip(tags, examples)
        )
        joined = "".join(words)
        text = np.frombuffer(joined.encode("utf-8"), dtype=np.uint8)
        characters = np.add.reduceat(word_lengths, np.cumsum(lengths) - lengths)
        text_lengths = characters  # UTF-8 bytes per sentence: characters, when all are ASCII
        if len(text) != len(joined):
            text_lengths = np.fromiter(
                (len("".join(sentence).encode("utf-8")) for sentence in tokens),
                np.int64,
                len(tokens),
            )
        fields = self.encoded_fields()
        columns: Columns = {
            "tokens": (np.asarray(ids, dtype=fields["tokens"][0]), lengths),
            "tags": (np.fromiter(tag_ids, fields["tags"][0], len(words)), lengths),
            "text": (text, text_lengths),
            "word_lengths": (word_lengths.astype(np.uint16), lengths),
        }
        self.add_chunk_columns(columns, joined, characters)
        return columns, len(examples), Counter(tokens=len(ids), unknown_tokens=unknown)

    def add_chunk_columns(self, columns: Columns, text: str, characters: np.ndarray) -> None:
        """Add to :meth:`encode_chunk`'s ``columns`` the fields a subclass encodes from the
        chunk's words joined (``text``) and the characters per sentence (``characters``)."""

    def collate(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        tokens, lengths = pad_sequences([e["tokens"] for e in examples], self.vocab.pad_index)
        batch: dict[str, Any] = {
            "tokens": tokens,
            "lengths": lengths,
            "words": [split_words(e["text"], e["word_lengths"]) for e in examples],
        }
        if any(len(e["tags"]) for e in examples):
            padded = np.full(tuple(tokens.shape), PADDING_TAG, dtype=np.int64)
            for row, example in enumerate(examples):
                padded[row, : len(example["tags"])] = example["tags"]
            batch["tags"] = torch.from_numpy(padded)
        return batch

    def majority_baseline(self) -> MajorityTagger | None:
        """Each word's most frequent training tag (:mod:`~rnnkit.data.tagging.majority_baseline`),
        counted on first use from the training split's arrays; None when the split streams from
        an export (no process holds its arrays) or has no tags."""

        def fit(train: Any) -> MajorityTagger | None:
            tokens, _ = field_arrays(train, "tokens")
            tags, _ = field_arrays(train, "tags")
            if len(tags) != len(tokens) or not len(tags):
                return None
            tagger = MajorityTagger(len(self.vocab), len(self.tags), self.vocab.index[UNK])
            return tagger.fit(tokens, tags)

        return self.fitted_baseline("majority_baseline", fit)

    @property
    def spec(self) -> dict[str, Any]:
        return {
            "vocab_size": len(self.vocab),
            "pad_index": self.vocab.pad_index,
            "num_tags": len(self.tags),
            "tag_names": self.tags,
            "tag_scheme": self.tag_scheme,
        }

    def parse_raw(self, raw: str) -> list[dict[str, Any]]:
        """A sentence (``"New York is big."``, split into words by ``tokenizer``), or a path to
        a UTF-8 text file with one such sentence per line."""
        path = Path(raw)
        lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else [raw]
        examples = [
            {"tokens": self._tokenizer.tokenize(line), "tags": None, "source": "input"}
            for line in lines
            if line.strip()
        ]
        if not examples:
            raise ValueError(f"input: expected a sentence or a file of sentences, got {raw!r}")
        return examples

    def decode_tags(self, ids: torch.Tensor | np.ndarray | list[int]) -> list[str]:
        """Tag names of ``ids``, skipping padding (-100)."""
        values = ids.tolist() if isinstance(ids, (torch.Tensor, np.ndarray)) else ids
        return [self.tags[i] for i in values if i != PADDING_TAG]


def split_words(text: np.ndarray | bytes, word_lengths: Iterable[int]) -> list[str]:
    """The words of an encoded sentence: its UTF-8 ``text`` cut at ``word_lengths``
    (characters per word)."""
    sentence = bytes(text).decode("utf-8")
    lengths = word_lengths.tolist() if isinstance(word_lengths, np.ndarray) else word_lengths
    return list(_cut(sentence, lengths))


def _cut(sentence: str, lengths: Iterable[int]) -> Iterator[str]:
    start = 0
    for length in lengths:
        yield sentence[start : start + length]
        start += length
