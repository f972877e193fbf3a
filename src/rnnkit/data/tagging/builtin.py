"""Sequence labelling on generated sentences whose ambiguous words need context on both sides.

Task: ``tokens`` (lower-cased words) -> one tag per token. Two schemes (``tag_scheme``):

``"pos"`` (default): UPOS-like parts of speech, :data:`POS_TAGS`. Many words are both nouns and
verbs, or adjectives and verbs, with the same spelling:

* decided by the LEFT context: ``the paint dried`` (NOUN) / ``they paint the fence`` (VERB);
  ``we can paint`` (AUX) / ``the can vanished`` (NOUN); ``to watch`` / ``the watch``.
* decided only by the RIGHT context: sentence-initial ``paint dried on the wall .`` (NOUN) /
  ``paint the wall .`` (VERB); ``dry towels arrived .`` (ADJ) / ``dry the towels .`` (VERB);
  ``salt and pepper spilled .`` / ``salt and pepper the soup .`` (both words, two tokens before
  the evidence); ``they bought salt and paint .`` (NOUN) / ``... salt and paint the door .``.
  About 60% of the sentences have such a word, drawn 50/50 between its readings.

``"ner"``: entity spans in BIO, :data:`NER_TAGS` (PER, LOC, ORG). Names of places double as
first names, surnames and the first words of organisations: ``paris`` is B-LOC alone, B-PER in
``paris khan``, I-PER in ``anna paris``, B-ORG in ``paris university``; ``new york`` is
B-LOC I-LOC, but B-ORG I-ORG I-ORG in ``new york times``. The sentence frames around the
entities are neutral, so the words after the name decide.

Why order matters: an order-blind tagger (a word's tag from its identity alone, i.e. the
per-word majority tag) gets the unambiguous words right and few of the ambiguous ones:
measured on test (seed 0, ``tests/data/tagging/test_builtin_tagging.py``) it is 0.906 per-token
accuracy for ``pos`` (0.60 on ambiguous words) and 0.883 for ``ner`` (0.34 on words seen with
several tags). A left-to-right tagger cannot resolve the right-context cases: an upper bound on
any causal tagger's accuracy on test (the best tag per *prefix*, chosen with the test labels)
is 0.966 for ``pos`` and 0.970 for ``ner`` (far lower in entity F1), while the whole sentence
always determines the tags (the bidirectional ceiling is 1.0; the grammar is unambiguous, which
a test checks). A one-layer LSTM tagger trained 6 epochs measured 0.93 (both schemes), the same
model made bidirectional 1.00.

Sizes: 4,000 train / 1,000 val / 1,000 test sentences by default (``num_train``, ``num_val``,
``num_test``), 3 to 13 tokens each, unique across the splits of one seed; ~0.3 s.

:class:`BuiltinTaggingDataModule` at the end of this file serves these examples to the task
(``data=tagging_builtin``).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any, TypedDict

from rnnkit.data.builtin import check_split, word_list
from rnnkit.data.tagging.datamodule import TaggingDataModule

POS_TAGS = ("ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "NOUN", "PART", "PRON", "PUNCT", "VERB")
NER_TAGS = ("O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG")
TAG_SCHEMES = ("pos", "ner")


# ---- pos lexicon ------------------------------------------------------------------------------
# Mass nouns that are also verbs with the same spelling ("water" the noun, "water" the plants).
MASS_OR_VERB = word_list(
    "water paint salt oil iron dust glue butter ice wax tape light smoke pepper sugar powder"
)
# Adjectives that are also verbs ("dry towels", "dry the towels").
ADJECTIVE_OR_VERB = word_list(
    "clean dry empty warm open clear smooth cool wet calm dim tidy free slow"
)
# Count nouns that are also verbs ("the watch", "they watch").
COUNT_OR_VERB = word_list(
    "duck watch book ring train park play fish walk cook guide dance shop can cover store"
)
OBJECT_NOUNS = word_list(
    "fence soup shirt shelf bread cake car box door window table boat floor wall plants "
    "dishes towels chairs windows floors"
)
PLURAL_NOUNS = word_list("towels rooms floors shirts windows bottles chairs cups")
PAST_VERBS = word_list(
    "dripped spilled melted vanished arrived helped lasted appeared changed returned "
    "disappeared moved stopped fell"
)
TRANSITIVE_VERBS = word_list("bought sold found needed ordered wanted brought used")
PRONOUNS = word_list("i we they you")
MODALS = word_list("can will should must might")
TAILS: tuple[tuple[tuple[str, str], ...], ...] = (
    (("quickly", "ADV"),),
    (("today", "ADV"),),
    (("again", "ADV"),),
    (("in", "ADP"), ("the", "DET"), ("kitchen", "NOUN")),
    (("on", "ADP"), ("the", "DET"), ("table", "NOUN")),
    (("near", "ADP"), ("the", "DET"), ("door", "NOUN")),
)

# ---- ner lexicon ------------------------------------------------------------------------------
FIRST_NAMES = word_list("michael anna tom maria david sarah john emma peter laura")
SURNAMES = word_list("smith brown miller lopez khan meyer garcia novak silva ito")
# One-word places that are also first names and surnames.
PLACES = word_list(
    "paris georgia victoria chelsea jordan austin sydney florence madison charlotte dallas "
    "lincoln washington houston phoenix savannah"
)
MULTIWORD_PLACES = (
    ("new", "york"),
    ("los", "angeles"),
    ("san", "diego"),
    ("hong", "kong"),
    ("cape", "town"),
    ("new", "jersey"),
    ("buenos", "aires"),
    ("santa", "clara"),
)
ORGANISATION_SUFFIXES = word_list(
    "university times post bank united college airlines press institute energy"
)
NER_FRAMES = (
    "{e} was in the news again .",
    "we talked about {e} yesterday .",
    "{e} is well known here .",
    "i read a long article about {e} .",
    "everyone is talking about {e} now .",
    "the report mentioned {e} twice .",
    "{e} and {e} were both mentioned .",
    "the story compared {e} with {e} .",
    "after the meeting , {e} made headlines .",
    "nobody expected {e} to appear .",
    "she wrote about {e} and {e} last year .",
    "there was a photo of {e} .",
)

Tagged = list[tuple[str, str]]


class TaggingExample(TypedDict):
    tokens: list[str]
    tags: list[str]


def _words(words: str, tags: str) -> Tagged:
    return list(zip(words.split(), tags.split(), strict=True))


def _noun_phrase(rng: random.Random) -> Tagged:
    return [("the", "DET"), (rng.choice(OBJECT_NOUNS), "NOUN")]


def _end(rng: random.Random) -> Tagged:
    """An optional adverb or prepositional phrase (40% of the time), then a full stop."""
    return (list(rng.choice(TAILS)) if rng.random() < 0.4 else []) + [(".", "PUNCT")]


# Each construction returns a tagged sentence; `reading` picks between two readings 50/50.
def _initial_mass(rng: random.Random) -> Tagged:  # paint dried ... / paint the wall .
    word = rng.choice(MASS_OR_VERB)
    if rng.random() < 0.5:
        return [(word, "NOUN"), (rng.choice(PAST_VERBS), "VERB"), *_end(rng)]
    return [(word, "VERB"), *_noun_phrase(rng), *_end(rng)]


def _initial_adjective(rng: random.Random) -> Tagged:  # dry towels arrived / dry the towels
    word = rng.choice(ADJECTIVE_OR_VERB)
    if rng.random() < 0.5:
        verb = rng.choice(PAST_VERBS)
        return [(word, "ADJ"), (rng.choice(PLURAL_NOUNS), "NOUN"), (verb, "VERB"), *_end(rng)]
    return [(word, "VERB"), *_noun_phrase(rng), *_end(rng)]


def _initial_coordination(rng: random.Random) -> Tagged:  # salt and pepper spilled / ... the soup
    first, second = rng.sample(MASS_OR_VERB, 2)
    tag = "NOUN" if rng.random() < 0.5 else "VERB"
    head = [(first, tag), ("and", "CCONJ"), (second, tag)]
    if tag == "NOUN":
        return [*head, (rng.choice(PAST_VERBS), "VERB"), *_end(rng)]
    return [*head, *_noun_phrase(rng), *_end(rng)]


def _object_coordination(rng: random.Random) -> Tagged:  # they bought salt and paint (the door) .
    first, second = rng.sample(MASS_OR_VERB, 2)
    head = [
        (rng.choice(PRONOUNS), "PRON"),
        (rng.choice(TRANSITIVE_VERBS), "VERB"),
        (first, "NOUN"),
        ("and", "CCONJ"),
    ]
    if rng.random() < 0.5:
        return [*head, (second, "NOUN"), (".", "PUNCT")]
    return [*head, (second, "VERB"), *_noun_phrase(rng), (".", "PUNCT")]


def _ambiguous_word(rng: random.Random) -> str:
    return rng.choice(COUNT_OR_VERB + MASS_OR_VERB)


def _determiner_subject(rng: random.Random) -> Tagged:  # the watch vanished .
    word = _ambiguous_word(rng)
    return [("the", "DET"), (word, "NOUN"), (rng.choice(PAST_VERBS), "VERB"), *_end(rng)]


def _pronoun_subject(rng: random.Random) -> Tagged:  # they watch the boat . / we can watch ...
    word = _ambiguous_word(rng)
    head: Tagged = [(rng.choice(PRONOUNS), "PRON")]
    choice = rng.random()
    if choice < 0.35:
        head.append((rng.choice(MODALS), "AUX"))
    elif choice < 0.6:
        head += _words(f"{rng.choice(('want', 'need', 'like'))} to", "VERB PART")
    return [*head, (word, "VERB"), *_noun_phrase(rng), *_end(rng)]


def _object_noun(rng: random.Random) -> Tagged:  # we bought the book today .
    word = _ambiguous_word(rng)
    head = [(rng.choice(PRONOUNS), "PRON"), (rng.choice(TRANSITIVE_VERBS), "VERB"), ("the", "DET")]
    if rng.random() < 0.3:
        head.append((rng.choice(ADJECTIVE_OR_VERB), "ADJ"))
    return [*head, (word, "NOUN"), *_end(rng)]


def _predicate_adjective(rng: random.Random) -> Tagged:  # the towels were dry .
    subject = rng.choice(PLURAL_NOUNS)
    adverb = [("very", "ADV")] if rng.random() < 0.3 else []
    return [
        ("the", "DET"),
        (subject, "NOUN"),
        ("were", "AUX"),
        *adverb,
        (rng.choice(ADJECTIVE_OR_VERB), "ADJ"),
        (".", "PUNCT"),
    ]


_POS_CONSTRUCTIONS: tuple[tuple[Callable[[random.Random], Tagged], float], ...] = (
    (_initial_mass, 0.18),
    (_initial_adjective, 0.15),
    (_initial_coordination, 0.14),
    (_object_coordination, 0.15),
    (_determiner_subject, 0.10),
    (_pronoun_subject, 0.14),
    (_object_noun, 0.08),
    (_predicate_adjective, 0.06),
)


def _pos_sentence(rng: random.Random) -> Tagged:
    constructions, weights = zip(*_POS_CONSTRUCTIONS)
    return rng.choices(constructions, weights)[0](rng)


def _entity(rng: random.Random) -> Tagged:
    kind = rng.random()
    place = list(rng.choice(MULTIWORD_PLACES)) if rng.random() < 0.3 else [rng.choice(PLACES)]

    def span(words: list[str], label: str) -> Tagged:
        return [(w, ("B-" if i == 0 else "I-") + label) for i, w in enumerate(words)]

    if kind < 0.3:
        return span(place, "LOC")
    if kind < 0.55:
        return span([*place, rng.choice(ORGANISATION_SUFFIXES)], "ORG")
    single = rng.choice(PLACES)
    if kind < 0.72:
        return span([single, rng.choice(SURNAMES)], "PER")
    if kind < 0.89:
        return span([rng.choice(FIRST_NAMES), single], "PER")
    return span([rng.choice(FIRST_NAMES), rng.choice(SURNAMES)], "PER")


def _ner_sentence(rng: random.Random) -> Tagged:
    frame = rng.choice(NER_FRAMES)
    sentence: Tagged = []
    for word in frame.split():
        sentence += _entity(rng) if word == "{e}" else [(word, "O")]
    return sentence


def _check_size(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name}: expected a positive integer, got {value!r}")
    return value


def _generate(seed: int, tag_scheme: str, sizes: dict[str, int]) -> dict[str, list[TaggingExample]]:
    rng = random.Random(seed + (104_729 if tag_scheme == "pos" else 130_363))
    sentence = _pos_sentence if tag_scheme == "pos" else _ner_sentence
    seen: set[tuple[str, ...]] = set()
    splits: dict[str, list[TaggingExample]] = {}
    for split, size in sizes.items():
        examples = []
        while len(examples) < size:
            tagged = sentence(rng)
            tokens = tuple(word for word, _ in tagged)
            if tokens in seen:
                continue
            seen.add(tokens)
            examples.append(TaggingExample(tokens=list(tokens), tags=[tag for _, tag in tagged]))
        splits[split] = examples
    return splits


def load(
    split: str,
    seed: int = 0,
    tag_scheme: str = "pos",
    num_train: int = 4000,
    num_val: int = 1000,
    num_test: int = 1000,
) -> list[TaggingExample]:
    """The ``split`` for ``seed``: ``[{"tokens": list[str], "tags": list[str]}, ...]``.

    ``tag_scheme`` is ``"pos"`` (tags in :data:`POS_TAGS`) or ``"ner"`` (BIO tags in
    :data:`NER_TAGS`). The three splits are generated together and are disjoint.
    """
    check_split(split)
    if tag_scheme not in TAG_SCHEMES:
        raise ValueError(f"tag_scheme: expected one of {TAG_SCHEMES}, got {tag_scheme!r}")
    sizes = {
        "train": _check_size("num_train", num_train),
        "val": _check_size("num_val", num_val),
        "test": _check_size("num_test", num_test),
    }
    return _generate(seed, tag_scheme, sizes)[split]


# ---- the datamodule ---------------------------------------------------------------------------


TAGSETS = {"pos": "none", "ner": "BIO"}
"""The built-in tag sets and the scheme their raw tags are in."""


class BuiltinTaggingDataModule(TaggingDataModule):
    """Generated offline (see the generator above).

    Args:
        tagset: ``"ner"`` (PER/LOC/ORG entities, raw tags in BIO) or ``"pos"`` (parts of speech,
            plain labels).
        tag_scheme: scheme to train in; None keeps the data's own (BIO for ``ner``, ``none`` for
            ``pos``); ``ner`` also converts to ``"IOB1"`` or ``"BIOES"``.
        data_seed: which generated dataset; ``num_train``, ``num_val``, ``num_test``: its sizes.
        **kwargs: the other :class:`TaggingDataModule` arguments.
    """

    def __init__(
        self,
        tagset: str = "ner",
        tag_scheme: str | None = None,
        data_seed: int = 0,
        num_train: int = 4000,
        num_val: int = 1000,
        num_test: int = 1000,
        **kwargs: Any,
    ) -> None:
        if tagset not in TAGSETS:
            raise ValueError(f"tagset: expected one of {sorted(TAGSETS)}, got {tagset!r}")
        if "source_tag_scheme" in kwargs:
            raise ValueError(
                f"source_tag_scheme: fixed by tagset={tagset!r} ({TAGSETS[tagset]!r}), got "
                f"{kwargs['source_tag_scheme']!r}"
            )
        super().__init__(
            tag_scheme=TAGSETS[tagset] if tag_scheme is None else tag_scheme,
            source_tag_scheme=TAGSETS[tagset],
            **kwargs,
        )
        self.tagset = tagset
        self.data_seed = data_seed
        self.sizes = {"num_train": num_train, "num_val": num_val, "num_test": num_test}

    def load_split(self, split: str) -> list[dict[str, Any]]:
        return load(split, seed=self.data_seed, tag_scheme=self.tagset, **self.sizes)
