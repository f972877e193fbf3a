"""The rule-based tokenizers: round trips, punctuation, and the names they are chosen by."""

from __future__ import annotations

import re

import pytest

from rnnkit.data.io.tokenizers import (
    CharacterTokenizer,
    TreebankTokenizer,
    WhitespaceTokenizer,
    WordPunctTokenizer,
    make_tokenizer,
)
from shared_data import shared_dataset


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


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("John lives in New York.", ["John", "lives", "in", "New", "York", "."]),
        ('it\'s, "quoted" café', ["it", "'s", ",", '"', "quoted", '"', "café"]),
        (
            "The U.S. unit of Acme Inc. paid $1,000 at 10:30 (today)!",
            ["The", "U.S.", "unit", "of", "Acme", "Inc.", "paid", "$", "1,000", "at", "10:30"]
            + ["(", "today", ")", "!"],
        ),
        ("Germany's German-born rep don't", ["Germany", "'s", "German-born", "rep", "do", "n't"]),
        ("He said: 'no'...", ["He", "said", ":", "'", "no", "'", "..."]),
        ('"We won," said Rios."', ['"', "We", "won", ",", '"', "said", "Rios", ".", '"']),
        ("anna left paris .", ["anna", "left", "paris", "."]),
        ("  ", []),
    ],
)
def test_treebank_tokenizer_splits_punctuation_and_clitics_as_the_corpora_do(text, tokens):
    assert TreebankTokenizer().tokenize(text) == tokens


def conll_sentences(path):
    """The word column of a CoNLL file, one list per sentence."""
    words = []
    for line in path.read_text(encoding="utf-8").splitlines():
        fields = line.split()
        if not fields or fields[0] == "-DOCSTART-":
            if words:
                yield words
            words = []
        else:
            words.append(fields[0])
    if words:
        yield words


def as_written(tokens):
    """Tokens as running text: no space before closing punctuation and clitics, none after an
    opening bracket or currency sign."""
    text = " ".join(tokens)
    text = re.sub(r" ([,.;:!?)\]}]|'s|'S|n't|'re|'ve|'ll|'d|'m)(?= |$)", r"\1", text)
    return re.sub(r"([(\[{$]) ", r"\1", text)


@pytest.mark.slow
def test_treebank_tokenizer_gives_back_the_conll2003_tokens_of_running_text():
    """CoNLL-2003's dev sentences written as running text come back as the corpus tokenised
    them (measured: 99.8 %; splitting on whitespace: 24.2 %)."""
    sentences = list(conll_sentences(shared_dataset("conll2003", "eng.testa") / "eng.testa"))
    treebank, whitespace = TreebankTokenizer(), WhitespaceTokenizer()
    same = sum(treebank.tokenize(as_written(s)) == s for s in sentences) / len(sentences)
    by_space = sum(whitespace.tokenize(as_written(s)) == s for s in sentences) / len(sentences)
    assert same >= 0.995 and by_space < 0.3
