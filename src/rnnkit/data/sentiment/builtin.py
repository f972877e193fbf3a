"""Sentiment of generated movie-review sentences where word order, not word choice, decides.

Task: a lower-cased, space-tokenised sentence -> ``"negative"`` or ``"positive"``.

Sentences come from nine construction families built on word lists (16 positive, 16 negative
and 12 neutral adjectives, 16 aspects of a film, strong and weak intensifiers); what decides
the label is in brackets:

* ``plain``: ``it is not true that the plot was not dull`` (the adjective and the negations);
* ``but``: ``the acting was not good but the plot was not bad`` (the clause after "but");
* ``although``: ``although the music was dull , the film was great`` (the main clause, last);
* ``although_after``: ``the film was great although the music was dull`` (main clause, first);
* ``expected``: ``i expected it to be bad but it was great`` (what it turned out to be);
* ``despite``: ``the film was great despite the dull music`` (the main clause);
* ``corrective``: ``the plot was not good , it was bad`` / ``good , not bad`` (the affirmed
  adjective);
* ``scope``: ``the plot was not good and the music was loud`` (which adjective "not" hits:
  a polar or a neutral one);
* ``intensity``: ``the plot was extremely good and the cast was slightly dull`` (the adjective
  under the strong adverb).

Negations are "not", "never" and double negations ("i would not say ... was not good",
"it is not true that ...", "nobody could say ..."); an even number cancels.

Why order matters: every family except ``plain`` (10% of the data) is generated as a pair of
*twins* with the same multiset of tokens and opposite labels (``good but dull`` / ``dull but
good``; "not" before the polar or before the neutral adjective; the two adjectives swapped
between the strong and the weak intensifier), and which twin is emitted is the label itself,
drawn uniformly. So P(label | bag of words) = 1/2 for 90% of the sentences: the best any
order-blind classifier can do (bag of words, with any non-linearity and infinite data) is
``0.9 * 0.5 + 0.1 * 1.0 = 0.55`` accuracy in expectation. Measured on test (seed 0, see
``tests/data/sentiment/test_builtin_sentiment.py``): bag-of-words logistic regression 0.47, the
same with bigrams (a little order) 0.81; a small BiLSTM (64-d embeddings, 96 hidden units)
reached 0.92 after one epoch and 0.998 after two.

Labels are exactly balanced in every split; sentences are unique across the three splits of
one seed (no test sentence appears in train). Sizes: 6,000 train / 1,000 val / 1,000 test by
default (``num_train``, ``num_val``, ``num_test``); a vocabulary of ~110 words, 3 to ~20
tokens per sentence (62k tokens in train). Generation of all splits takes ~0.3 s.

:class:`BuiltinSentimentDataModule` at the end of this file serves these examples to the task
(``data=sentiment_builtin``).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any, TypedDict

from rnnkit.data.builtin import check_split, word_list
from rnnkit.data.sentiment.datamodule import TextClassificationDataModule

LABELS = ("negative", "positive")


POSITIVE = word_list(
    "good great excellent wonderful brilliant enjoyable charming superb delightful clever "
    "moving beautiful fantastic lovely gripping fresh"
)
NEGATIVE = word_list(
    "bad dull boring awful terrible weak poor tedious bland clumsy messy painful dreadful "
    "lifeless forgettable annoying"
)
NEUTRAL = word_list("long short loud quiet old modern simple dark slow familiar unusual serious")
ASPECTS = word_list(
    "movie film plot acting story script ending music cast dialogue pacing soundtrack "
    "direction humour editing villain"
)
STRONG = word_list("very really truly extremely incredibly remarkably")
WEAK = ("slightly", "somewhat", "mildly", "a bit", "fairly")

# Family name -> share of the data; see the module docstring.
FAMILY_WEIGHTS = {
    "plain": 0.10,
    "but": 0.16,
    "although": 0.10,
    "although_after": 0.08,
    "expected": 0.10,
    "despite": 0.10,
    "corrective": 0.12,
    "scope": 0.12,
    "intensity": 0.12,
}

_DOUBLE_NEGATIONS = (
    "i would not say {subject} was not {adjective}",
    "it is not true that {subject} was not {adjective}",
    "nobody could say {subject} was not {adjective}",
)
_SINGLE_NEGATIONS = (
    "{subject} was not {adjective}",
    "{subject} was never {adjective}",
    "{subject} was not {adjective} at all",
)


class SentimentExample(TypedDict):
    text: str
    label: str


def _polarity(adjective: str) -> int:
    return 1 if adjective in POSITIVE else -1


def _label(polarity: int) -> str:
    return LABELS[polarity > 0]


def _subject(rng: random.Random, avoid: str = "") -> str:
    aspect = rng.choice([a for a in ASPECTS if a != avoid])
    return rng.choice(("the", "the", "this")) + " " + aspect


def _clause(rng: random.Random, subject: str, negations: int) -> str:
    """A template for ``subject was ADJ`` with ``negations`` negations; ``{adjective}`` open."""
    if negations == 0:
        adverb = rng.choice(("",) * 3 + STRONG)
        return f"{subject} was {adverb} {{adjective}}".replace("  ", " ")
    templates = _SINGLE_NEGATIONS if negations == 1 else _DOUBLE_NEGATIONS
    return rng.choice(templates).replace("{subject}", subject)


def _opposite_pair(rng: random.Random) -> tuple[str, str]:
    """(positive adjective, negative adjective) — the two adjectives a twin pair swaps."""
    return rng.choice(POSITIVE), rng.choice(NEGATIVE)


def _swap_twins(
    template: str, first_slot_decides: bool, sign: int, rng: random.Random
) -> list[tuple[str, int]]:
    """Fill ``{a}``/``{b}`` of ``template`` both ways with a (positive, negative) pair.

    The deciding slot's adjective polarity times ``sign`` (-1 for an odd number of negations
    around it) gives the label; the two fillings have the same bag of words and opposite labels.
    """
    positive, negative = _opposite_pair(rng)
    twins = []
    for a, b in ((positive, negative), (negative, positive)):
        deciding = a if first_slot_decides else b
        twins.append((template.format(a=a, b=b), sign * _polarity(deciding)))
    return twins


def _same_parity_negations(rng: random.Random) -> tuple[int, int]:
    """Negation counts of two contrasted clauses: same parity, so they really do contrast."""
    return rng.choice(((0, 0), (0, 0), (1, 1), (0, 2), (2, 0), (1, 1)))


def _plain(rng: random.Random) -> list[tuple[str, int]]:
    negations = rng.choice((0, 0, 1, 1, 2))
    template = _clause(rng, _subject(rng), negations)
    sign = (-1) ** negations
    positive, negative = _opposite_pair(rng)
    return [(template.format(adjective=adj), sign * _polarity(adj)) for adj in (positive, negative)]


def _but(rng: random.Random) -> list[tuple[str, int]]:
    if rng.random() < 0.25:  # fragments: "good but dull", "very clumsy but charming"
        first, second = rng.choice(("",) + STRONG), rng.choice(("",) + STRONG)
        template = f"{first} {{a}} but {second} {{b}}".strip().replace("  ", " ")
        return _swap_twins(template, first_slot_decides=False, sign=1, rng=rng)
    k1, k2 = _same_parity_negations(rng)
    s1 = _subject(rng)
    s2 = _subject(rng, avoid=s1.split()[-1])
    c1 = _clause(rng, s1, k1).replace("{adjective}", "{a}")
    c2 = _clause(rng, s2, k2).replace("{adjective}", "{b}")
    return _swap_twins(f"{c1} but {c2}", first_slot_decides=False, sign=(-1) ** k2, rng=rng)


def _although(rng: random.Random, main_first: bool) -> list[tuple[str, int]]:
    k_sub, k_main = _same_parity_negations(rng)
    s_main = _subject(rng)
    s_sub = _subject(rng, avoid=s_main.split()[-1])
    main = _clause(rng, s_main, k_main).replace("{adjective}", "{a}")
    sub = _clause(rng, s_sub, k_sub).replace("{adjective}", "{b}")
    if main_first:
        conjunction = rng.choice(("although", "even though", ", even though", "though"))
        template = f"{main} {conjunction} {sub}"
    else:
        template = f"{rng.choice(('although', 'even though', 'while'))} {sub} , {main}"
    return _swap_twins(template, first_slot_decides=True, sign=(-1) ** k_main, rng=rng)


def _expected(rng: random.Random) -> list[tuple[str, int]]:
    aspect = rng.choice(ASPECTS)
    expectation = rng.choice(
        (
            "i expected it to be {a}",
            f"i expected the {aspect} to be {{a}}",
            f"i thought the {aspect} would be {{a}} ,",
            "everyone said it was {a} ,",
            "the trailer looked {a} ,",
            "i was told it would be {a} ,",
        )
    )
    outcome = rng.choice(("but it was", "but it was actually", "but in the end it was"))
    adverb = rng.choice(("",) * 3 + STRONG)
    template = f"{expectation} {outcome} {adverb} {{b}}".replace("  ", " ")
    return _swap_twins(template, first_slot_decides=False, sign=1, rng=rng)


def _despite(rng: random.Random) -> list[tuple[str, int]]:
    s_main = _subject(rng)
    aspect = rng.choice([a for a in ASPECTS if a != s_main.split()[-1]])
    k_main = rng.choice((0, 0, 1, 2))
    main = _clause(rng, s_main, k_main).replace("{adjective}", "{a}")
    phrase = f"{rng.choice(('despite', 'in spite of'))} the {{b}} {aspect}"
    template = f"{phrase} , {main}" if rng.random() < 0.5 else f"{main} {phrase}"
    return _swap_twins(template, first_slot_decides=True, sign=(-1) ** k_main, rng=rng)


def _corrective(rng: random.Random) -> list[tuple[str, int]]:
    subject = _subject(rng) if rng.random() < 0.6 else "it"
    template, first_decides = rng.choice(
        (
            (f"{subject} was not {{a}} , it was {{b}}", False),
            (f"{subject} was {{a}} , not {{b}}", True),
            (f"{subject} was not {{a}} but {{b}}", False),
            ("not {a} , {b}", False),
            ("{a} , not {b}", True),
            ("not {a} at all , {b}", False),
        )
    )
    return _swap_twins(template, first_slot_decides=first_decides, sign=1, rng=rng)


def _scope(rng: random.Random) -> list[tuple[str, int]]:
    """One "not" in front of the polar or of the neutral adjective: same words, opposite label."""
    polar = rng.choice(POSITIVE + NEGATIVE)
    neutral = rng.choice(NEUTRAL)
    s1 = _subject(rng)
    s2 = _subject(rng, avoid=s1.split()[-1])
    polar_first = rng.random() < 0.5
    conjunction = rng.choice(("and", "and", ", and", "while"))
    twins = []
    for negate_polar in (True, False):
        polar_clause = f"{s1 if polar_first else s2} was {'not ' if negate_polar else ''}{polar}"
        neutral_clause = f"{s2 if polar_first else s1} was {'' if negate_polar else 'not '}"
        neutral_clause += neutral
        clauses = (polar_clause, neutral_clause) if polar_first else (neutral_clause, polar_clause)
        sign = -1 if negate_polar else 1
        twins.append((f"{clauses[0]} {conjunction} {clauses[1]}", sign * _polarity(polar)))
    return twins


def _intensity(rng: random.Random) -> list[tuple[str, int]]:
    """The adjective under the strong adverb outweighs the one under the weak adverb."""
    s1 = _subject(rng)
    s2 = _subject(rng, avoid=s1.split()[-1])
    strong, weak = rng.choice(STRONG), rng.choice(WEAK)
    strong_first = rng.random() < 0.5
    first, second = (strong, weak) if strong_first else (weak, strong)
    template = f"{s1} was {first} {{a}} and {s2} was {second} {{b}}"
    return _swap_twins(template, first_slot_decides=strong_first, sign=1, rng=rng)


_FAMILIES: dict[str, Callable[[random.Random], list[tuple[str, int]]]] = {
    "plain": _plain,
    "but": _but,
    "although": lambda rng: _although(rng, main_first=False),
    "although_after": lambda rng: _although(rng, main_first=True),
    "expected": _expected,
    "despite": _despite,
    "corrective": _corrective,
    "scope": _scope,
    "intensity": _intensity,
}


def _normalise(text: str) -> str:
    return " ".join(text.split())


def _check_size(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name}: expected a positive integer, got {value!r}")
    return value


def _generate(seed: int, sizes: dict[str, int]) -> dict[str, list[SentimentExample]]:
    rng = random.Random(seed + 7_919)
    names, weights = list(FAMILY_WEIGHTS), list(FAMILY_WEIGHTS.values())
    seen: set[str] = set()
    splits: dict[str, list[SentimentExample]] = {}
    for split, size in sizes.items():
        targets = [1] * (size // 2) + [-1] * (size - size // 2)
        rng.shuffle(targets)
        examples = []
        for target in targets:
            while True:
                family = rng.choices(names, weights)[0]
                text, polarity = next(t for t in _FAMILIES[family](rng) if t[1] == target)
                text = _normalise(text)
                if text not in seen:
                    break
            seen.add(text)
            examples.append(SentimentExample(text=text, label=_label(polarity)))
        splits[split] = examples
    return splits


def load(
    split: str, seed: int = 0, num_train: int = 6000, num_val: int = 1000, num_test: int = 1000
) -> list[SentimentExample]:
    """The ``split`` of the dataset for ``seed``: ``[{"text": str, "label": str}, ...]``.

    All three splits are generated together (so they are disjoint) and the requested one is
    returned; labels are balanced exactly (one more "negative" for an odd size).
    """
    check_split(split)
    sizes = {
        "train": _check_size("num_train", num_train),
        "val": _check_size("num_val", num_val),
        "test": _check_size("num_test", num_test),
    }
    return _generate(seed, sizes)[split]


# ---- the datamodule ---------------------------------------------------------------------------


class BuiltinSentimentDataModule(TextClassificationDataModule):
    """Generated offline (see the generator above); ``data_seed`` picks it."""

    def __init__(self, data_seed: int = 0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.data_seed = data_seed

    def load_split(self, split: str) -> list[dict[str, Any]]:
        return load(split, seed=self.data_seed)
