"""The rule-based tokenizers: round trips, punctuation, and the names they are chosen by."""

from __future__ import annotations

import pytest

from rnnkit.data.io.tokenizers import (
    CharacterTokenizer,
    WhitespaceTokenizer,
    WordPunctTokenizer,
    make_tokenizer,
)


@pytest.mark.parametrize(
    ("tokenizer", "text", "tokens", "back"),
    [
        (WhitespaceTokenizer(), " a  b c ", ["a", "b", "c"], "a b c"),
        (CharacterTokenizer(), "ab c", ["a", "b", " ", "c"], "ab c"),
    ],
)
def test_tokenizers_round_trip(tokenizer, text, tokens, back):
    assert tokenizer.tokenize(text) == tokens
    assert tokenizer.detokenize(tokens) == back


def test_make_tokenizer_names_the_choices():
    with pytest.raises(ValueError, match=r"tokenizer: expected one of \['character', 'whi"):
        make_tokenizer("sentencepiece")


def test_word_punct_tokenizer_splits_punctuation_like_spacy():
    tokenize = WordPunctTokenizer().tokenize
    assert tokenize("Two young, White males are outside.") == [
        "Two",
        "young",
        ",",
        "White",
        "males",
        "are",
        "outside",
        ".",
    ]
    assert tokenize("A man's t-shirt (red)!") == [
        "A",
        "man",
        "'s",
        "t",
        "-",
        "shirt",
        "(",
        "red",
        ")",
        "!",
    ]
    assert tokenize('Straße, Café "Größe"') == ["Straße", ",", "Café", '"', "Größe", '"']
    assert tokenize("   ") == []


@pytest.mark.parametrize(
    "text",
    [
        "snake_case words_ _x and __init__",
        "it's 'quoted' and rock'n'roll's 3'4\" o'",
        "Ⅻ chapters, ٣ digits² ½ and x²",
        "tabs\tand\u00a0no-break\u2003spaces\x1cseparators\u3000here",
        "Ünïcödé…¿qué? ——dashes—and «guillemets»",
        "",
    ],
)
def test_word_punct_tokenizer_is_its_regex_on_the_whole_text(text):
    tokenizer = WordPunctTokenizer()
    assert tokenizer.tokenize(text) == tokenizer.pattern.findall(text)


@pytest.mark.parametrize("tokenizer", [WordPunctTokenizer(), make_tokenizer("whitespace")])
def test_word_separable_tokenizers_tokenize_word_by_word(tokenizer):
    assert tokenizer.word_separable
    text = "A man's t-shirt (red)!  it's 'quoted'\tand_so\u00a0on... Straße, x²"
    by_word = [token for word in text.split() for token in tokenizer.tokenize(word)]
    assert tokenizer.tokenize(text) == by_word
    assert not make_tokenizer("character").word_separable  # spaces are tokens there
