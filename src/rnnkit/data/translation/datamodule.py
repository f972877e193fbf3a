"""Translation data (sequence to sequence): a source sentence and its target sentence."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from rnnkit.data.datamodule import RnnkitDataModule, pad_sequences
from rnnkit.data.io.tokenizers import make_tokenizer
from rnnkit.data.io.vocabulary import BOS, EOS, PAD, UNK, Vocabulary


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
            ``<unk>``; ``max_source_vocab_size``, ``max_target_vocab_size``: size limits.
        max_source_length, max_target_length: training examples longer than this are dropped
            (None: keep all); val/test/prediction input is never dropped.

    Batches: ``source (N, S)`` long ids (0 = padding), ``source_lengths (N,)``,
    ``target_input (N, T)`` (``<bos> y``), ``target_output (N, T)`` (``y <eos>``), both padded
    with 0, and ``target_lengths (N,)`` (``len(y) + 1``); the target entries are absent for
    unlabelled input. ``source_tokens`` and ``target_tokens`` keep the token strings (lists,
    for display and BLEU).
    """

    task = "translation"

    def __init__(
        self,
        batch_size: int = 64,
        num_workers: int = 0,
        seed: int = 0,
        source_tokenizer: str = "whitespace",
        target_tokenizer: str = "whitespace",
        lowercase: bool = False,
        min_frequency: int = 1,
        max_source_vocab_size: int | None = None,
        max_target_vocab_size: int | None = None,
        max_source_length: int | None = None,
        max_target_length: int | None = None,
    ) -> None:
        super().__init__(batch_size, num_workers, seed)
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

    # ---- tokens ------------------------------------------------------------------------

    def _tokens(self, value: Any, side: str, where: str) -> list[str]:
        tokenizer = self.source_tokenizer if side == "source" else self.target_tokenizer
        if isinstance(value, str):
            tokens = tokenizer.tokenize(value.lower() if self.lowercase else value)
        elif isinstance(value, (list, tuple)) and all(isinstance(t, str) for t in value):
            tokens = list(value)
        else:
            raise ValueError(
                f"{side}: expected a string or a list of tokens in {where}, got "
                f"{type(value).__name__}"
            )
        if not tokens:
            raise ValueError(f"{side}: empty {side} sentence in {where}")
        return tokens

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

    def _fits(self, source: list[str], target: list[str]) -> bool:
        return (self.max_source_length is None or len(source) <= self.max_source_length) and (
            self.max_target_length is None or len(target) <= self.max_target_length
        )

    # ---- the datamodule contract -------------------------------------------------------

    def setup(self, stage: str | None = None) -> None:
        super().setup(stage)
        if self.max_source_length is not None or self.max_target_length is not None:
            self.datasets["train"] = [e for e in self.datasets["train"] if self._fits(e[2], e[3])]

    tokenizer_option = "tokenizer"
    """The config key that errors of a learned tokenizer's fitting are reported under."""

    def fit_tokenizers(self, train_examples: list[dict[str, Any]]) -> None:
        """Fit learned tokenizers (SentencePiece) on the raw training text of each side, before
        anything is tokenised with them (rule tokenizers learn nothing)."""
        for side, tokenizer in (
            ("source", self.source_tokenizer),
            ("target", self.target_tokenizer),
        ):
            texts = []
            for example in train_examples:
                value = example.get(side)
                if isinstance(value, (list, tuple)) and all(isinstance(t, str) for t in value):
                    value = " ".join(value)
                if isinstance(value, str):  # anything else is reported when it is tokenised
                    texts.append(value.lower() if self.lowercase else value)
            try:
                tokenizer.fit(texts)
            except ValueError as error:
                message = str(error).removeprefix("vocab_size: ")
                raise ValueError(f"{self.tokenizer_option}: {side} side: {message}") from None

    def fit_artifacts(self, train_examples: list[dict[str, Any]]) -> None:
        self.fit_tokenizers(train_examples)
        pairs = []
        for example in train_examples:
            target = self.target_tokens(example)
            if target is None:
                raise ValueError(f"target: missing in a training example: {example!r:.100}")
            pairs.append((self.source_tokens(example), target))
        if not pairs:
            raise ValueError("train: expected at least one training example, got none")
        pairs = [(s, t) for s, t in pairs if self._fits(s, t)]
        if not pairs:
            raise ValueError(
                f"max_source_length: no training example fits max_source_length="
                f"{self.max_source_length} and max_target_length={self.max_target_length}"
            )
        self.source_vocab = Vocabulary.fit(
            (s for s, _ in pairs),
            specials=(PAD, UNK),
            min_frequency=self.min_frequency,
            max_size=self.max_source_vocab_size,
        )
        self.target_vocab = Vocabulary.fit(
            (t for _, t in pairs),
            specials=(PAD, UNK, BOS, EOS),
            min_frequency=self.min_frequency,
            max_size=self.max_target_vocab_size,
        )

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

    def encode(
        self, example: dict[str, Any]
    ) -> tuple[list[int], list[int] | None, list[str], list[str] | None]:
        source = self.source_tokens(example)
        target = self.target_tokens(example)
        target_ids = None if target is None else self.target_vocab.encode(target)
        return self.source_vocab.encode(source), target_ids, source, target

    def collate(self, examples: list[tuple]) -> dict[str, Any]:
        source, source_lengths = pad_sequences(
            [e[0] for e in examples], self.source_vocab.pad_index
        )
        batch: dict[str, Any] = {
            "source": source,
            "source_lengths": source_lengths,
            "source_tokens": [e[2] for e in examples],
        }
        if all(e[1] is not None for e in examples):
            bos, eos = self.target_vocab.id(BOS), self.target_vocab.id(EOS)
            pad = self.target_vocab.pad_index
            target_input, target_lengths = pad_sequences([[bos, *e[1]] for e in examples], pad)
            target_output, _ = pad_sequences([[*e[1], eos] for e in examples], pad)
            batch.update(
                target_input=target_input,
                target_output=target_output,
                target_lengths=target_lengths,
                target_tokens=[e[3] for e in examples],
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

    def decode_target(self, ids: torch.Tensor | list[int]) -> list[str]:
        """Target tokens of generated ids: specials dropped, cut at ``<eos>``."""
        values = ids.tolist() if isinstance(ids, torch.Tensor) else list(ids)
        return self.target_vocab.decode(values, strip=(PAD, BOS, EOS))
