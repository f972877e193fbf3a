"""The built-in translation dataset: English number words to German (num2words)."""

from __future__ import annotations

from typing import Any

from rnnkit.data.builtin import translation
from rnnkit.data.translation import TranslationDataModule


class BuiltinTranslationDataModule(TranslationDataModule):
    """Generated offline (see :mod:`rnnkit.data.builtin.translation`): ``34`` is ``thirty - four``
    -> ``vier und dreißig``. The target is German number morphemes, joined with spaces for
    BLEU and display.

    Args:
        data_seed: which shuffle of the numbers; ``max_number``, ``num_val``, ``num_test``: the
            numbers 0..max_number, of which num_val and num_test are held out.
        **kwargs: the other :class:`TranslationDataModule` arguments (the tokenizers stay
            ``whitespace``: the examples come tokenised).
    """

    def __init__(
        self,
        data_seed: int = 0,
        max_number: int = 9999,
        num_val: int = 1000,
        num_test: int = 1000,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.data_seed = data_seed
        self.sizes = {"max_number": max_number, "num_val": num_val, "num_test": num_test}

    def load_split(self, split: str) -> list[dict[str, Any]]:
        return translation.load(split, seed=self.data_seed, **self.sizes)

    def source_tokens(self, example: dict[str, Any]) -> list[str]:
        source = example.get("source")
        if isinstance(source, str):  # raw input: English words, punctuation attached
            tokens = translation.tokenize_english(source.lower())
            if not tokens:
                raise ValueError(f"source: no English number words in {source!r}")
            return tokens
        return super().source_tokens(example)

    def parse_raw(self, raw: str) -> list[dict[str, Any]]:
        """English number words (``"one thousand, two hundred and thirty-four"``), a whole
        number in digits (``1234``, converted with num2words), or a path to a UTF-8 text file
        with one of these per line."""
        examples = super().parse_raw(raw)
        for example in examples:
            text = example["source"].replace("_", "")
            if text.isdigit():
                example["source"] = translation.english_words(int(text))
        return examples
