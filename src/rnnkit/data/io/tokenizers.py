"""Tokenizers: text <-> tokens, by name, for every text datamodule.

:class:`Tokenizer` is the interface (and the hook for learned subword tokenizers, such as
:class:`~rnnkit.data.io.sentencepiece_tokenizer.SentencePieceTokenizer`); the rule-based ones
here need no training.
"""

from __future__ import annotations

import re
from typing import Any


class Tokenizer:
    """Text <-> tokens. ``detokenize(tokenize(text))`` gives the text back (up to spacing).

    The hook for learned subword tokenizers (SentencePiece, BPE): override :meth:`fit` to train
    on the training texts, and :meth:`to_json` / :meth:`load_json` to store what was learned in
    the datamodule's artifacts (JSON, e.g. the model file as base64), then register the class in
    :data:`TOKENIZERS`.
    """

    name = ""
    word_separable = False
    """True when no token spans whitespace and a word's tokens do not depend on its neighbours:
    ``tokenize(text)`` is then ``tokenize(word)`` of each word of ``text.split()`` in turn, so a
    caller may tokenise (and count, and look up) each distinct word once."""

    def tokenize(self, text: str) -> list[str]:
        raise NotImplementedError

    def detokenize(self, tokens: list[str]) -> str:
        raise NotImplementedError

    def fit(self, texts: list[str]) -> None:
        """Learn from the training texts (nothing to learn for the rule-based ones)."""

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name}

    def load_json(self, data: dict[str, Any]) -> None:
        if data.get("name") != self.name:
            raise ValueError(
                f"tokenizer: the fitted tokenizer is {data.get('name')!r}, but this datamodule "
                f"uses {self.name!r}"
            )


class WhitespaceTokenizer(Tokenizer):
    """Words separated by whitespace; joined back with single spaces."""

    name = "whitespace"
    word_separable = True

    def tokenize(self, text: str) -> list[str]:
        return text.split()

    def detokenize(self, tokens: list[str]) -> str:
        return " ".join(tokens)


class CharacterTokenizer(Tokenizer):
    """Every character is a token (spaces included); joined back without separator."""

    name = "character"

    def tokenize(self, text: str) -> list[str]:
        return list(text.strip())

    def detokenize(self, tokens: list[str]) -> str:
        return "".join(tokens)


TOKENIZERS: dict[str, type[Tokenizer]] = {
    WhitespaceTokenizer.name: WhitespaceTokenizer,
    CharacterTokenizer.name: CharacterTokenizer,
}


def make_tokenizer(name: str, key: str = "tokenizer") -> Tokenizer:
    """A tokenizer by name (``"whitespace"`` or ``"character"``)."""
    if name not in TOKENIZERS:
        raise ValueError(f"{key}: expected one of {sorted(TOKENIZERS)}, got {name!r}")
    return TOKENIZERS[name]()


class WordPunctTokenizer(Tokenizer):
    """Words and punctuation marks, as a rule-based stand-in for spaCy's tokenizer.

    A token is a run of letters/digits/underscores (``\\w+``), a clitic glued to the word
    before it (``man's`` -> ``man``, ``'s``), or any other single non-space character
    (``"Mann, der"`` -> ``Mann``, ``,``, ``der``; ``t-shirt`` -> ``t``, ``-``, ``shirt``).
    Unicode-aware (``Straße``, ``Café``). :meth:`detokenize` joins the tokens with spaces, so
    BLEU and predictions see the tokenised text (``two men , one woman .``).
    """

    name = "word_punct"
    word_separable = True
    pattern = re.compile(r"(?<=\w)'\w+|\w+|[^\w\s]")

    def tokenize(self, text: str) -> list[str]:
        # No token spans whitespace, and a word of letters and digits only (``isalnum``: what
        # ``\w`` matches but ``_``) is one token: the regex runs on the other words only,
        # which gives ``pattern.findall(text)`` about twice as fast.
        tokens: list[str] = []
        findall = self.pattern.findall
        for word in text.split():
            if word.isalnum():
                tokens.append(word)
            else:
                tokens += findall(word)
        return tokens

    def detokenize(self, tokens: list[str]) -> str:
        return " ".join(tokens)


class TreebankTokenizer(Tokenizer):
    """Words split as the Penn Treebank and CoNLL-2003 split them, for raw text given to a
    model trained on such pre-tokenised corpora (after NLTK's ``TreebankWordTokenizer``).

    Punctuation becomes its own token (``"York."`` at the end -> ``York``, ``.``; ``(``,
    ``"``, ``,``, ``;``, ``?``, ``!``), but not inside a word or number (``U.S.``, ``Inc.``
    mid-sentence, ``1,000``, ``3.5``, ``10:30``, ``German-born``); clitics are split off
    (``Germany's`` -> ``Germany``, ``'s``; ``don't`` -> ``do``, ``n't``). Only the final period
    of the text is split from an abbreviation-like word, as in those corpora. :meth:`detokenize`
    joins with spaces.
    """

    name = "treebank"
    rules = [
        (re.compile(r"\.\.\."), r" ... "),
        (
            re.compile(r"([^.])(\.)([\s\]\)}>\"']*)$"),
            r"\1 \2\3",
        ),  # the final period, before quotes part
        (re.compile(r"[;@#$%&?!(){}\[\]<>\"]"), r" \g<0> "),
        (re.compile(r"([:,])([^\d])"), r" \1 \2"),  # not inside 1,000 or 10:30
        (re.compile(r"([:,])$"), r" \1 "),
        (re.compile(r"--"), r" -- "),
        (re.compile(r"(?<=\s)'(?=\S)|^'(?=\S)"), r"' "),  # an opening single quote
        (re.compile(r"(?i)(\S)('s|'m|'d|'ll|'re|'ve|n't)\b"), r"\1 \2"),
        (re.compile(r"(?<=\w)'(?=\s|$)"), r" '"),  # a closing single quote
    ]

    def tokenize(self, text: str) -> list[str]:
        text = text.strip()
        for pattern, replacement in self.rules:
            text = pattern.sub(replacement, text)
        return text.split()

    def detokenize(self, tokens: list[str]) -> str:
        return " ".join(tokens)
