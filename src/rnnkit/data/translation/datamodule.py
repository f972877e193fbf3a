"""Translation data (sequence to sequence): a source sentence and its target sentence."""

from __future__ import annotations

import json
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Subset

from rnnkit.data.datamodule import BASELINE_MAX_EXAMPLES, RnnkitDataModule, pad_sequences
from rnnkit.data.io.parallel_encoding import default_workers, map_chunks
from rnnkit.data.io.prepared_cache import narrowest_unsigned, sequence_lengths
from rnnkit.data.io.split_arrays import field_arrays
from rnnkit.data.io.tokenizers import Tokenizer, make_tokenizer
from rnnkit.data.io.vocabulary import BOS, DEFAULT_MAX_SIZE, EOS, PAD, UNK, Vocabulary
from rnnkit.data.translation.encoding import (
    SideEncoder,
    count_tokens,
    shifted_targets,
    split_unknown,
    token_strings,
    tokens_of,
    unknown_bytes,
)
from rnnkit.data.translation.word_table import WordTranslationTable


class TranslationDataModule(RnnkitDataModule):
    """Source and target sentences; subclasses say where raw examples come from.

    Raw examples are ``{"source": ..., "target": ...}`` where each side is a list of tokens or a
    raw string, tokenised by that side's tokenizer (``target`` is None or absent for prediction
    input). Separate source and target vocabularies are fitted on the training split; the
    target one has ``<bos>`` and ``<eos>``.

    Args:
        source_tokenizer, target_tokenizer: ``"whitespace"`` or ``"character"`` (see
            :class:`Tokenizer` for adding a learned one). The target tokenizer also turns
            predictions back into text (for BLEU and display).
        lowercase: lower-case both sides before tokenising (raw strings only).
        min_frequency: tokens seen fewer times on that side of the training data become
            ``<unk>``; ``max_source_vocab_size``, ``max_target_vocab_size``: size limits
            (specials included; default :data:`DEFAULT_MAX_SIZE`, None: no limit).
        max_source_length, max_target_length: training examples longer than this are dropped
            (None: keep all); val/test/prediction input is never dropped.
        cache_dir, rebuild_cache, prepare_workers: see :class:`RnnkitDataModule` (subclasses
            that read files are prepared once into ``cache_dir``).

    Encoded examples: ``{"source": ids, "target": ids, "unknown": bytes}``; ``unknown`` holds
    the tokens encoded as ``<unk>`` (see :mod:`~rnnkit.data.translation.encoding`, empty for
    most examples), so the token strings are rebuilt exactly from ids (``target`` is None for
    prediction input). Fitting counts the training tokens and encoding looks them up, each
    distinct word tokenised once per process with a word-separable tokenizer. Training pairs over
    the length limits stay in the prepared data and are left out of ``datasets["train"]``
    (counted as ``train_dropped_pairs``), a selection made from the stored lengths.

    Batches: ``source (N, S)`` long ids (0 = padding), ``source_lengths (N,)``,
    ``target_input (N, T)`` (``<bos> y``), ``target_output (N, T)`` (``y <eos>``), both padded
    with 0, and ``target_lengths (N,)`` (``len(y) + 1``); the target entries are absent for
    unlabelled input. ``source_tokens`` and ``target_tokens`` are the token strings (lists,
    for display and BLEU).
    """

    task = "translation"
    encoding_version = 1
    """Part of the prepared data's key: raise it when the encoded fields change, so data
    prepared by an older rnnkit is prepared again rather than misread."""

    def __init__(
        self,
        batch_size: int = 64,
        num_workers: int = 0,
        seed: int = 0,
        source_tokenizer: str = "whitespace",
        target_tokenizer: str = "whitespace",
        lowercase: bool = False,
        min_frequency: int = 1,
        max_source_vocab_size: int | None = DEFAULT_MAX_SIZE,
        max_target_vocab_size: int | None = DEFAULT_MAX_SIZE,
        max_source_length: int | None = None,
        max_target_length: int | None = None,
        cache_dir: str | None = None,
        rebuild_cache: bool = False,
        prepare_workers: int | None = None,
    ) -> None:
        super().__init__(batch_size, num_workers, seed, cache_dir, rebuild_cache, prepare_workers)
        self.source_tokenizer = make_tokenizer(source_tokenizer, "source_tokenizer")
        self.target_tokenizer = make_tokenizer(target_tokenizer, "target_tokenizer")
        self.lowercase = bool(lowercase)
        self.min_frequency = min_frequency
        self.max_source_vocab_size = max_source_vocab_size
        self.max_target_vocab_size = max_target_vocab_size
        for name, value in (
            ("max_source_length", max_source_length),
            ("max_target_length", max_target_length),
        ):
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 1
            ):
                raise ValueError(f"{name}: expected a positive integer or null, got {value!r}")
        self.max_source_length = max_source_length
        self.max_target_length = max_target_length
        self.source_vocab: Vocabulary | None = None
        self.target_vocab: Vocabulary | None = None
        self._encoders: tuple[SideEncoder, SideEncoder] | None = None

    # ---- tokens ------------------------------------------------------------------------

    def _tokens(self, value: Any, side: str, where: str) -> list[str]:
        tokenizer = self.source_tokenizer if side == "source" else self.target_tokenizer
        return tokens_of(value, tokenizer, self.lowercase, side, where)

    def source_tokens(self, example: dict[str, Any]) -> list[str]:
        return self._tokens(example.get("source"), "source", example.get("where", "the data"))

    def target_tokens(self, example: dict[str, Any]) -> list[str] | None:
        target = example.get("target")
        if target is None:
            return None
        return self._tokens(target, "target", example.get("where", "the data"))

    def detokenize_target(self, tokens: list[str]) -> str:
        """Target tokens as text (what BLEU compares and what predictions print)."""
        return self.target_tokenizer.detokenize(tokens)

    def detokenize_source(self, tokens: list[str]) -> str:
        return self.source_tokenizer.detokenize(tokens)

    def _fits(self, source_lengths: np.ndarray, target_lengths: np.ndarray) -> np.ndarray:
        """``(N,)`` bool: which pairs of these token counts are within the length limits."""
        fits = np.ones(len(source_lengths), dtype=bool)
        if self.max_source_length is not None:
            fits &= source_lengths <= self.max_source_length
        if self.max_target_length is not None:
            fits &= target_lengths <= self.max_target_length
        return fits

    # ---- the datamodule contract -------------------------------------------------------

    def preparation_settings(self) -> dict[str, Any]:
        """The plain settings, the tokenizers' names and options (not the batching)."""
        settings = super().preparation_settings()
        for batching in ("bucket_by_length", "seed"):  # batches and their order, not the arrays
            settings.pop(batching, None)
        for fitted in ("source_vocab", "target_vocab"):  # None until fitted; "artifacts" then
            settings.pop(fitted, None)
        settings["encoding"] = self.encoding_version
        for side in ("source", "target"):
            tokenizer = getattr(self, f"{side}_tokenizer")
            options = {
                name: value
                for name, value in sorted(vars(tokenizer).items())
                if isinstance(value, (bool, int, float, str))
            }
            settings[f"{side}_tokenizer"] = {"name": tokenizer.name, **options}
        return settings

    def setup(self, stage: str | None = None) -> None:
        super().setup(stage)
        self._drop_long_training_pairs()

    def _drop_long_training_pairs(self) -> None:
        """Leave the training pairs over the length limits out of ``datasets["train"]``,
        selected from the stored lengths (a MappedSplit is not read)."""
        train = self.datasets.get("train")
        if train is None or (self.max_source_length is None and self.max_target_length is None):
            return
        fits = self._fits(sequence_lengths(train, "source"), sequence_lengths(train, "target"))
        if fits.all():
            return
        kept = np.flatnonzero(fits)
        if isinstance(train, list):
            self.datasets["train"] = [train[i] for i in kept]
        else:
            self.datasets["train"] = Subset(train, kept)
        counts = self.preparation.setdefault("counts", {})
        counts["train_dropped_pairs"] = int(len(fits) - len(kept))

    tokenizer_option = "tokenizer"
    """The config key that errors of a learned tokenizer's fitting are reported under."""

    def learned_tokenizers(self) -> bool:
        """Whether a side's tokenizer learns from the training text (SentencePiece)."""
        return any(
            type(tokenizer).fit is not Tokenizer.fit
            for tokenizer in (self.source_tokenizer, self.target_tokenizer)
        )

    def fit_tokenizers(self, train_examples: Iterable[dict[str, Any]]) -> None:
        """Fit learned tokenizers (SentencePiece) on the raw training text of each side, before
        anything is tokenised with them (rule tokenizers learn nothing). ``train_examples`` is
        read once per side, so it must be re-iterable (a list, or spooled examples)."""
        for side, tokenizer in (
            ("source", self.source_tokenizer),
            ("target", self.target_tokenizer),
        ):
            try:
                tokenizer.fit(self._texts(train_examples, side))
            except ValueError as error:
                message = str(error).removeprefix("vocab_size: ")
                raise ValueError(f"{self.tokenizer_option}: {side} side: {message}") from None

    def _texts(self, examples: Iterable[dict[str, Any]], side: str) -> Iterator[str]:
        for example in examples:
            value = example.get(side)
            if isinstance(value, (list, tuple)) and all(isinstance(t, str) for t in value):
                value = " ".join(value)
            if isinstance(value, str):  # anything else is reported when it is tokenised
                yield value.lower() if self.lowercase else value

    def fit_artifacts(self, train_examples: Iterable[dict[str, Any]]) -> None:
        """Vocabularies of the training pairs within the length limits, in one pass over
        ``train_examples`` (counted in ``prepare_workers`` processes when preparing into a
        cache). A learned tokenizer is trained first: a stream of examples is then spooled to
        a temporary file (under ``cache_dir``), which trains it and is then counted."""
        with ExitStack() as stack:
            if self.learned_tokenizers():
                if not isinstance(train_examples, (list, tuple)):  # a stream: read it once
                    if self.cache_dir is not None:
                        self.cache_dir.mkdir(parents=True, exist_ok=True)
                    folder = stack.enter_context(
                        tempfile.TemporaryDirectory(prefix="translation-fit-", dir=self.cache_dir)
                    )
                    train_examples = SpooledExamples.write(train_examples, Path(folder) / "train")
                self.fit_tokenizers(train_examples)
            source_counts, target_counts = self._count_tokens(train_examples)
        self.source_vocab = Vocabulary.from_counts(
            source_counts,
            specials=(PAD, UNK),
            min_frequency=self.min_frequency,
            max_size=self.max_source_vocab_size,
        )
        self.target_vocab = Vocabulary.from_counts(
            target_counts,
            specials=(PAD, UNK, BOS, EOS),
            min_frequency=self.min_frequency,
            max_size=self.max_target_vocab_size,
        )

    def _count_tokens(self, train_examples: Iterable[dict[str, Any]]) -> tuple[Counter, Counter]:
        """Source and target token counts of the training pairs within the length limits."""
        workers = 1  # in memory: small data, no worker processes
        if self.cache_dir is not None:
            workers = default_workers() if self.prepare_workers is None else self.prepare_workers
        source_counts: Counter = Counter()
        target_counts: Counter = Counter()
        pairs = kept = 0
        for sources, targets, chunk_pairs, chunk_kept in map_chunks(
            self._count_chunk, train_examples, self.prepare_chunk, workers
        ):
            source_counts.update(sources)
            target_counts.update(targets)
            pairs += chunk_pairs
            kept += chunk_kept
        if not pairs:
            raise ValueError("train: expected at least one training example, got none")
        if not kept:
            raise ValueError(
                f"max_source_length: no training example fits max_source_length="
                f"{self.max_source_length} and max_target_length={self.max_target_length}"
            )
        return source_counts, target_counts

    def _count_chunk(self, examples: list[dict[str, Any]]) -> tuple[Counter, Counter, int, int]:
        """Token counts of a chunk's pairs within the length limits, the pairs, those kept.

        Text pairs without length limits are counted all at once (:func:`count_tokens`);
        anything else (token lists, length limits, an example to report) pair by pair."""
        sources = [example.get("source") for example in examples]
        targets = [example.get("target") for example in examples]
        if (
            self.max_source_length is not None
            or self.max_target_length is not None
            or set(map(type, sources)) != {str}
            or set(map(type, targets)) != {str}
            or not all(map(str.strip, sources))
            or not all(map(str.strip, targets))
        ):
            return self._count_pairs(examples)
        return (
            count_tokens(self.source_tokenizer, sources, self.lowercase),
            count_tokens(self.target_tokenizer, targets, self.lowercase),
            len(examples),
            len(examples),
        )

    def _count_pairs(self, examples: list[dict[str, Any]]) -> tuple[Counter, Counter, int, int]:
        """:meth:`_count_chunk` pair by pair: each pair checked, tokenised, measured."""
        sources: list[str] = []
        targets: list[str] = []
        kept = 0
        max_source = self.max_source_length or float("inf")
        max_target = self.max_target_length or float("inf")
        for example in examples:
            target = self.target_tokens(example)
            if target is None:
                raise ValueError(f"target: missing in a training example: {example!r:.100}")
            source = self.source_tokens(example)
            if len(source) > max_source or len(target) > max_target:
                continue
            sources += source
            targets += target
            kept += 1
        return Counter(sources), Counter(targets), len(examples), kept

    def artifacts(self) -> dict[str, Any]:
        return {
            "source_vocab": self.source_vocab.to_json(),
            "target_vocab": self.target_vocab.to_json(),
            "source_tokenizer": self.source_tokenizer.to_json(),
            "target_tokenizer": self.target_tokenizer.to_json(),
        }

    def load_artifacts(self, artifacts: dict[str, Any]) -> None:
        self.source_tokenizer.load_json(artifacts["source_tokenizer"])
        self.target_tokenizer.load_json(artifacts["target_tokenizer"])
        self.source_vocab = Vocabulary.from_json(artifacts["source_vocab"])
        self.target_vocab = Vocabulary.from_json(artifacts["target_vocab"])

    def encoded_fields(self) -> dict[str, tuple[Any, bool]]:
        return {
            "source": (narrowest_unsigned(len(self.source_vocab) - 1), True),
            "target": (narrowest_unsigned(len(self.target_vocab) - 1), True),
            "unknown": (np.uint8, True),
        }

    def encode(self, example: dict[str, Any]) -> dict[str, Any]:
        return self._encode(example, Counter())

    def encode_counts(self, example: dict[str, Any], counts: Counter) -> dict[str, Any]:
        if example.get("target") is None:
            raise ValueError(
                f"target: missing in {example.get('where', 'an example')}; every prepared "
                "example needs a target sentence"
            )
        return self._encode(example, counts)

    def _encode(self, example: dict[str, Any], counts: Counter) -> dict[str, Any]:
        """``encode``, adding ``{side}_tokens`` and ``{side}_unknown_tokens`` to ``counts``."""
        source_encoder, target_encoder = self._side_encoders()
        where = example.get("where", "the data")
        source, unseen, source_unknown = source_encoder.encode(example.get("source"), where)
        counts["source_tokens"] += len(source)
        counts["source_unknown_tokens"] += unseen
        if example.get("target") is None:
            return {"source": source, "target": None, "unknown": unknown_bytes(source_unknown)}
        target, unseen, target_unknown = target_encoder.encode(example["target"], where)
        counts["target_tokens"] += len(target)
        counts["target_unknown_tokens"] += unseen
        unknown = unknown_bytes(source_unknown, target_unknown)
        return {"source": source, "target": target, "unknown": unknown}

    def _side_encoders(self) -> tuple[SideEncoder, SideEncoder]:
        """The source and target :class:`SideEncoder` of the current vocabularies."""
        encoders = self._encoders
        if (
            encoders is None
            or encoders[0].vocab is not self.source_vocab
            or encoders[1].vocab is not self.target_vocab
            or encoders[0].tokenizer is not self.source_tokenizer
            or encoders[1].tokenizer is not self.target_tokenizer
        ):
            self._encoders = encoders = (
                SideEncoder("source", self.source_tokenizer, self.source_vocab, self.lowercase),
                SideEncoder("target", self.target_tokenizer, self.target_vocab, self.lowercase),
            )
        return encoders

    def collate(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        source, source_lengths = pad_sequences(
            [e["source"] for e in examples], self.source_vocab.pad_index
        )
        unknown = [split_unknown(e["unknown"]) for e in examples]
        batch: dict[str, Any] = {
            "source": source,
            "source_lengths": source_lengths,
            "source_tokens": [
                token_strings(self.source_vocab, e["source"], parts[0])
                for e, parts in zip(examples, unknown)
            ],
        }
        if all(e.get("target") is not None for e in examples):
            targets = [e["target"] for e in examples]
            target_input, target_output, target_lengths = shifted_targets(
                targets,
                self.target_vocab.id(BOS),
                self.target_vocab.id(EOS),
                self.target_vocab.pad_index,
            )
            batch.update(
                target_input=target_input,
                target_output=target_output,
                target_lengths=target_lengths,
                target_tokens=[
                    token_strings(self.target_vocab, e["target"], parts[1])
                    for e, parts in zip(examples, unknown)
                ],
            )
        return batch

    @property
    def spec(self) -> dict[str, Any]:
        return {
            "source_vocab_size": len(self.source_vocab),
            "target_vocab_size": len(self.target_vocab),
            "pad_index": self.target_vocab.pad_index,
            "bos_index": self.target_vocab.id(BOS),
            "eos_index": self.target_vocab.id(EOS),
        }

    def parse_raw(self, raw: str) -> list[dict[str, Any]]:
        """A source sentence (tokenised by ``source_tokenizer``), or a path to a UTF-8 text file
        with one source sentence per line."""
        path = Path(raw)
        lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else [raw]
        examples = [
            {"source": line.strip(), "target": None, "where": "input"}
            for line in lines
            if line.strip()
        ]
        if not examples:
            raise ValueError(f"input: expected a sentence or a file of sentences, got {raw!r}")
        return examples

    def word_table(self) -> WordTranslationTable | None:
        """IBM Model 1 word translation table of the training pairs
        (:mod:`~rnnkit.data.translation.word_table`), fitted on first use from their arrays;
        None when the split streams from an export."""

        def fit(train: Any) -> WordTranslationTable:
            source, source_offsets = field_arrays(train, "source")
            target, target_offsets = field_arrays(train, "target")
            table = WordTranslationTable(len(self.source_vocab), len(self.target_vocab))
            return table.fit(source, source_offsets, target, target_offsets)

        return self.fitted_baseline("word_table", fit, BASELINE_MAX_EXAMPLES)

    def decode_target(self, ids: torch.Tensor | list[int]) -> list[str]:
        """Target tokens of generated ids: specials dropped, cut at ``<eos>``."""
        values = ids.tolist() if isinstance(ids, torch.Tensor) else list(ids)
        return self.target_vocab.decode(values, strip=(PAD, BOS, EOS))


# ---- prepared splits and spooled examples ------------------------------------------------


class SpooledExamples:
    """Raw examples written once to a JSON-lines file and read back on every iteration: what
    a learned tokenizer trains on and the vocabularies are then counted from, without holding
    the training split in memory."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def write(cls, examples: Iterable[dict[str, Any]], path: Path) -> SpooledExamples:
        with open(path, "w", encoding="utf-8") as handle:
            for example in examples:
                handle.write(json.dumps(example, ensure_ascii=False, default=str))
                handle.write("\n")
        return cls(path)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        with open(self.path, encoding="utf-8") as handle:
            for line in handle:
                yield json.loads(line)
