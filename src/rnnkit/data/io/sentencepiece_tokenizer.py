"""A learned subword :class:`~rnnkit.data.io.tokenizers.Tokenizer`: SentencePiece (Kudo &
Richardson 2018), trained on the training split only and stored as JSON (base64 model)."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterable, Iterator
from itertools import chain
from typing import Any

from rnnkit.data.io.tokenizers import Tokenizer

MODEL_TYPES = ("unigram", "bpe", "char", "word")


def _sentencepiece():
    try:
        import sentencepiece
    except ImportError:  # pragma: no cover - the package is a dependency
        raise ValueError(
            "tokenizer: 'sentencepiece' needs the sentencepiece package (pip install sentencepiece)"
        ) from None
    return sentencepiece


MAX_TRAINING_SENTENCES = 2_000_000
"""The default sample a tokenizer learns from: a few hundred MB of the trainer's memory for
sentences of a usual length, and more than SentencePiece needs for a stable vocabulary."""


class SentencePieceTokenizer(Tokenizer):
    """Subword pieces learned from the training texts (``"▁two", "▁young", ","``).

    :meth:`fit` trains a SentencePiece model in memory on the texts it is given (the
    datamodules give it the training split only; at most ``max_training_sentences`` of them,
    sampled, are held); :meth:`to_json` stores the serialized model
    as base64 text in the datamodule's artifacts, so a checkpoint restores the exact tokenizer
    without pickles. :meth:`detokenize` is SentencePiece's lossless decoding (``▁`` marks a
    space).

    Args:
        vocab_size: pieces in the model. SentencePiece refuses a size larger than the texts
            allow (reported as a ValueError naming ``vocab_size``).
        model_type: ``"unigram"`` (default), ``"bpe"``, ``"char"`` or ``"word"``.
        character_coverage: share of the characters the model must cover (1.0 keeps all;
            0.9995 is the usual choice for large alphabets).
        num_threads: trainer threads (the result does not depend on them).
        max_training_sentences: the most sentences the trainer holds: a larger training split
            is streamed through once and a uniform sample of this many is learned from
            (SentencePiece's ``input_sentence_size``), so memory stays bounded whatever its
            size; None holds them all.
    """

    name = "sentencepiece"

    def __init__(
        self,
        vocab_size: int = 8000,
        model_type: str = "unigram",
        character_coverage: float = 1.0,
        num_threads: int = 1,
        max_training_sentences: int | None = MAX_TRAINING_SENTENCES,
    ) -> None:
        if max_training_sentences is not None and (
            isinstance(max_training_sentences, bool)
            or not isinstance(max_training_sentences, int)
            or max_training_sentences <= 100  # SentencePiece's own lower bound
        ):
            raise ValueError(
                "max_training_sentences: expected an integer above 100 or null, got "
                f"{max_training_sentences!r}"
            )
        if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < 2:
            raise ValueError(f"vocab_size: expected an integer >= 2, got {vocab_size!r}")
        if model_type not in MODEL_TYPES:
            raise ValueError(f"model_type: expected one of {MODEL_TYPES}, got {model_type!r}")
        if (
            isinstance(character_coverage, bool)
            or not isinstance(character_coverage, (int, float))
            or not 0 < character_coverage <= 1
        ):
            raise ValueError(
                f"character_coverage: expected a number in (0, 1], got {character_coverage!r}"
            )
        self.vocab_size = vocab_size
        self.model_type = model_type
        self.character_coverage = float(character_coverage)
        self.num_threads = num_threads
        self.max_training_sentences = max_training_sentences
        self.processor = None
        self.model: bytes | None = None

    # ---- learning ----------------------------------------------------------------------

    def fit(self, texts: Iterable[str]) -> None:
        """Train the model on ``texts`` (the training split's sentences), streamed once: any
        iterable, such as the lines of a file, and never held here as a list."""
        sentences = (text for text in texts if text.strip())
        first = next(sentences, None)
        if first is None:
            raise ValueError("texts: expected training sentences to learn pieces from, got none")
        seen = 0

        def counted() -> Iterator[str]:
            nonlocal seen
            for text in chain((first,), sentences):
                seen += 1
                yield text

        sentencepiece = _sentencepiece()
        model = io.BytesIO()
        try:
            sentencepiece.SentencePieceTrainer.train(
                sentence_iterator=counted(),
                model_writer=model,
                vocab_size=self.vocab_size,
                model_type=self.model_type,
                character_coverage=self.character_coverage,
                num_threads=self.num_threads,
                input_sentence_size=self.max_training_sentences or 0,
                shuffle_input_sentence=True,
                minloglevel=2,
            )
        except RuntimeError as error:
            message = str(error).split("] ", 1)[-1]
            raise ValueError(
                f"vocab_size: SentencePiece cannot learn {self.vocab_size} pieces from "
                f"{seen} training sentences ({message})"
            ) from None
        self._load(model.getvalue())

    def _load(self, model: bytes) -> None:
        self.processor = _sentencepiece().SentencePieceProcessor(model_proto=model)
        self.model = model

    def _fitted(self):
        if self.processor is None:
            raise ValueError(
                "tokenizer: the sentencepiece tokenizer is not trained yet; fit it on the "
                "training texts first (the datamodule does it in fit_artifacts)"
            )
        return self.processor

    # ---- the Tokenizer interface -------------------------------------------------------

    def tokenize(self, text: str) -> list[str]:
        return self._fitted().encode(text, out_type=str)

    def detokenize(self, tokens: list[str]) -> str:
        return self._fitted().decode_pieces(list(tokens))

    def to_json(self) -> dict[str, Any]:
        self._fitted()
        return {
            "name": self.name,
            "vocab_size": self.vocab_size,
            "model_type": self.model_type,
            "model": base64.b64encode(self.model).decode("ascii"),
        }

    def load_json(self, data: dict[str, Any]) -> None:
        super().load_json(data)
        if not isinstance(data.get("model"), str):
            raise ValueError(
                "tokenizer: the stored sentencepiece tokenizer has no model (expected base64 "
                "text under 'model')"
            )
        self._load(base64.b64decode(data["model"]))
        self.vocab_size = int(data.get("vocab_size", self.vocab_size))
        self.model_type = data.get("model_type", self.model_type)
