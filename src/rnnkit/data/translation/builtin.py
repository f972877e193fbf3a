"""Translation of English number words into German number words (``num2words``).

Task: ``source`` (English tokens) -> ``target`` (German tokens), for whole numbers 0..9,999
(``max_number``, at most 999,999)::

    34    thirty - four                              -> vier und dreißig
    1234  one thousand , two hundred and thirty - four
          -> ein tausend zwei hundert vier und dreißig
    17    seventeen                                  -> siebzehn

Tokenisation. English: num2words' words split on spaces, with "-" and "," kept as tokens (33
source types). German: num2words writes one long compound; it is cut into the 27 number
morphemes of :data:`GERMAN_MORPHEMES` by greedy longest match, so ``"".join(target)`` gives the
German word back exactly (``target_text`` carries it too). Sequences are short (at most 9 source
and 7 target tokens for 0..9,999): a small GRU encoder-decoder with attention (96 hidden
units) reached 0.98 exact match on test after one epoch, ~12 s on one CPU thread.

Why order matters: German says units before tens ("four and thirty"), so the alignment crosses
inside every two-digit tail. And the source order carries the value: "two thousand , three
hundred" and "three thousand , two hundred" have the same bag of words. The best any
order-blind model can do (one output per distinct bag of source tokens) is an exact match of
``distinct bags / numbers`` = 0.359 over 0..9,999 (``order_blind_ceiling``; 0.362 on the test
numbers of seed 0). Translating word by word without reordering ("dreißig und vier") is right
only on the numbers without a tens-and-units tail, about a quarter of them.

Splits: the numbers 0..``max_number`` are shuffled with the seed; ``num_val`` (1,000) and
``num_test`` (1,000) of them go to val and test, the rest (8,000) to train, so no test number is
seen in training. The German and English words of 1,000 and more are assembled from num2words'
words below 1,000 exactly as num2words does it (checked by the tests), which keeps generation
near 0.3 s instead of 3 s.

:class:`BuiltinTranslationDataModule` at the end of this file serves these examples to the task
(``data=translation_builtin``).
"""

from __future__ import annotations

import random
import re
from collections import Counter
from functools import lru_cache
from typing import Any, TypedDict

from rnnkit.data.builtin import check_split, word_list
from rnnkit.data.translation.datamodule import TranslationDataModule

GERMAN_MORPHEMES = word_list(
    "null ein eins zwei drei vier fünf sechs sieben acht neun zehn elf zwölf sechzehn "
    "siebzehn zwanzig dreißig vierzig fünfzig sechzig siebzig achtzig neunzig hundert "
    "tausend und"
)
MAX_SUPPORTED = 999_999

_ENGLISH_TOKEN = re.compile(r"[a-z]+|[-,]")
# Alternatives longest first, so that "sechzehn" wins over "sechs" and "eins" over "ein".
_GERMAN_MORPHEME = re.compile("|".join(sorted(GERMAN_MORPHEMES, key=len, reverse=True)))


class TranslationExample(TypedDict):
    source: list[str]
    target: list[str]
    number: int
    source_text: str
    target_text: str


@lru_cache(maxsize=1)
def _below_thousand() -> tuple[tuple[str, ...], tuple[str, ...]]:
    from num2words import CONVERTER_CLASSES

    english, german = CONVERTER_CLASSES["en"], CONVERTER_CLASSES["de"]
    return (
        tuple(english.to_cardinal(n) for n in range(1000)),
        tuple(german.to_cardinal(n) for n in range(1000)),
    )


def english_words(number: int) -> str:
    """``num2words(number)`` for 0 <= number <= 999,999, e.g. 1234 -> "one thousand, two ..."."""
    _check_number(number)
    below, _ = _below_thousand()
    thousands, rest = divmod(number, 1000)
    if not thousands:
        return below[rest]
    head = f"{below[thousands]} thousand"
    if not rest:
        return head
    return f"{head}{' and ' if rest < 100 else ', '}{below[rest]}"


def german_words(number: int) -> str:
    """``num2words(number, lang="de")`` for 0 <= number <= 999,999, e.g. 34 -> "vierunddreißig"."""
    _check_number(number)
    _, below = _below_thousand()
    thousands, rest = divmod(number, 1000)
    if not thousands:
        return below[rest]
    head = ("ein" if thousands == 1 else below[thousands]) + "tausend"
    return head + (below[rest] if rest else "")


def tokenize_english(words: str) -> list[str]:
    """Split English number words: "thirty-four" -> ["thirty", "-", "four"]."""
    return _ENGLISH_TOKEN.findall(words)


def segment_german(word: str) -> list[str]:
    """Cut a German number word into morphemes by greedy longest match.

    "vierunddreißig" -> ["vier", "und", "dreißig"]; a ValueError names ``word`` if a part is
    not a number morpheme.
    """
    morphemes, position = [], 0
    while position < len(word):
        match = _GERMAN_MORPHEME.match(word, position)
        if match is None:
            raise ValueError(f"word: expected German number morphemes, got {word!r}")
        morphemes.append(match.group())
        position = match.end()
    return morphemes


def _bag(number: int) -> tuple[str, ...]:
    return tuple(sorted(tokenize_english(english_words(number))))


def order_blind_ceiling(numbers: list[int], max_number: int = 9999) -> float:
    """Best expected exact match on ``numbers`` of a model that sees only the source bag.

    Such a model gives one translation per bag of English tokens; for a number drawn from
    0..``max_number`` it is right with probability 1 / (numbers sharing its bag) at best, the
    mean of which over ``numbers`` is returned. Over all numbers it is ``bags / numbers``.
    """
    bag_sizes = Counter(_bag(n) for n in range(max_number + 1))
    return sum(1 / bag_sizes[_bag(n)] for n in numbers) / len(numbers)


def _check_number(number: int) -> None:
    if isinstance(number, bool) or not isinstance(number, int) or not 0 <= number <= MAX_SUPPORTED:
        raise ValueError(f"number: expected an integer in [0, {MAX_SUPPORTED}], got {number!r}")


def _check_count(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name}: expected a positive integer, got {value!r}")
    return value


def example(number: int) -> TranslationExample:
    """The example of one number."""
    english, german = english_words(number), german_words(number)
    return TranslationExample(
        source=tokenize_english(english),
        target=segment_german(german),
        number=number,
        source_text=english,
        target_text=german,
    )


def load(
    split: str, seed: int = 0, max_number: int = 9999, num_val: int = 1000, num_test: int = 1000
) -> list[TranslationExample]:
    """The ``split`` for ``seed``: ``[{"source", "target", "number", ...}, ...]``.

    The numbers 0..``max_number`` are shuffled; the first ``num_val`` are val, the next
    ``num_test`` test and the rest train (in shuffled order).
    """
    check_split(split)
    _check_count("num_val", num_val)
    _check_count("num_test", num_test)
    if (
        isinstance(max_number, bool)
        or not isinstance(max_number, int)
        or not num_val + num_test < max_number <= MAX_SUPPORTED
    ):
        raise ValueError(
            f"max_number: expected an integer in ({num_val + num_test}, {MAX_SUPPORTED}] "
            f"(more numbers than val + test), got {max_number!r}"
        )
    numbers = list(range(max_number + 1))
    random.Random(seed + 15_485_863).shuffle(numbers)
    chosen = {
        "val": numbers[:num_val],
        "test": numbers[num_val : num_val + num_test],
        "train": numbers[num_val + num_test :],
    }[split]
    return [example(n) for n in chosen]


# ---- the datamodule ---------------------------------------------------------------------------


class BuiltinTranslationDataModule(TranslationDataModule):
    """Generated offline (see the generator above): ``34`` is ``thirty - four``
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
        for fixed in ("source_tokenizer", "target_tokenizer", "lowercase"):
            if fixed in kwargs:
                raise ValueError(
                    f"{fixed}: the built-in number words come tokenised and lower-cased, so it "
                    f"cannot apply, got {kwargs[fixed]!r} (data=tatoeba or data=multi30k "
                    "tokenise raw text)"
                )
        super().__init__(**kwargs)
        self.data_seed = data_seed
        self.sizes = {"max_number": max_number, "num_val": num_val, "num_test": num_test}

    def load_split(self, split: str) -> list[dict[str, Any]]:
        return load(split, seed=self.data_seed, **self.sizes)

    def parse_raw(self, raw: str) -> list[dict[str, Any]]:
        """English number words (``"one thousand, two hundred and thirty-four"``), a whole
        number in digits (``1234``, converted with num2words), or a path to a UTF-8 text file
        with one of these per line; each becomes the English tokens (punctuation split off)."""
        examples = super().parse_raw(raw)
        for example in examples:
            text = example["source"].replace("_", "")
            if text.isdigit():
                text = english_words(int(text))
            tokens = tokenize_english(text.lower())
            if not tokens:
                raise ValueError(f"source: no English number words in {example['source']!r}")
            example["source"] = tokens
        return examples
