"""Entity tag schemes (IOB1, BIO, BIOES) and lossless conversions between them.

An entity tag is ``O`` or ``<prefix>-<TYPE>`` (``B-PER``, ``I-LOC``...). The schemes differ in
where a chunk's first and last tokens are marked::

    tokens   anna  paris  visited  new  york  .
    IOB1     I-PER I-PER  O        I-LOC I-LOC O    B- only where two chunks of one type touch
    BIO      B-PER I-PER  O        B-LOC I-LOC O    every chunk starts with B- (alias IOB2)
    BIOES    B-PER E-PER  O        B-LOC E-LOC O    E- ends a chunk, S- is a one-token chunk

CoNLL-2003 is distributed in IOB1; most taggers are trained in BIO or BIOES. ``"none"`` means
plain labels (parts of speech...): no chunks, no conversion.

Conversions read a well-formed sequence of the source scheme and write the same chunks in the
target scheme; a tag that is not valid in the source scheme raises a ValueError naming it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

SCHEMES = ("IOB1", "BIO", "BIOES", "none")
ENTITY_SCHEMES = ("IOB1", "BIO", "BIOES")
ALIASES = {
    "IOB1": "IOB1",
    "BIO": "BIO",
    "IOB2": "BIO",
    "BIOES": "BIOES",
    "IOBES": "BIOES",
    "NONE": "none",
}
PREFIXES = {"IOB1": ("B", "I"), "BIO": ("B", "I"), "BIOES": ("B", "I", "E", "S")}
OUTSIDE = "O"
_BIOES_TO_BIO_PREFIX = {"S": "B", "E": "I"}


def normalize_scheme(scheme: str, name: str = "tag_scheme") -> str:
    """The canonical name of ``scheme`` (``"IOB2"`` -> ``"BIO"``, ``"IOBES"`` -> ``"BIOES"``)."""
    canonical = ALIASES.get(str(scheme).upper()) if isinstance(scheme, str) else None
    if canonical is None:
        raise ValueError(f"{name}: expected one of {SCHEMES} (or IOB2, IOBES), got {scheme!r}")
    return canonical


def split_tag(tag: str, scheme: str) -> tuple[str, str]:
    """``"B-PER"`` -> ``("B", "PER")``, ``"O"`` -> ``("O", "")``; ValueError if not in ``scheme``.

    The type is everything after the first ``-`` (``"B-MISC-X"`` has type ``"MISC-X"``).
    """
    if tag == OUTSIDE:
        return OUTSIDE, ""
    prefix, dash, entity = tag.partition("-")
    if not dash or not entity or prefix not in PREFIXES[scheme]:
        expected = ", ".join(f"{p}-TYPE" for p in PREFIXES[scheme])
        raise ValueError(f"tags: {tag!r} is not a {scheme} tag; expected 'O' or {expected}")
    return prefix, entity


def check_tags(tags: Iterable[str], scheme: str) -> None:
    """Raise a ValueError naming the first tag of ``tags`` that ``scheme`` does not allow."""
    scheme = normalize_scheme(scheme)
    if scheme == "none":
        return
    for tag in tags:
        split_tag(tag, scheme)


def iob1_to_bio(tags: Sequence[str]) -> list[str]:
    """IOB1 -> BIO: an ``I-X`` that does not continue an ``X`` chunk starts one (``B-X``)."""
    out, previous = [], ("O", "")
    for tag in tags:
        prefix, entity = split_tag(tag, "IOB1")
        if prefix == "I" and previous[1] != entity:
            prefix = "B"
        out.append(tag if prefix == "O" else f"{prefix}-{entity}")
        previous = (prefix, entity)
    return out


def bio_to_iob1(tags: Sequence[str]) -> list[str]:
    """BIO -> IOB1: ``B-X`` stays only right after another ``X`` chunk, else it becomes ``I-X``."""
    out, previous_entity = [], ""
    for tag in tags:
        prefix, entity = split_tag(tag, "BIO")
        if prefix == "B" and previous_entity != entity:
            prefix = "I"
        out.append(tag if prefix == "O" else f"{prefix}-{entity}")
        previous_entity = entity
    return out


def bio_to_bioes(tags: Sequence[str]) -> list[str]:
    """BIO -> BIOES: a chunk's last token gets ``E-`` (``S-`` for a one-token chunk).

    An ``I-X`` that starts a chunk (after ``O`` or another type, tolerated as conlleval does)
    is read as ``B-X``.
    """
    parsed = [split_tag(tag, "BIO") for tag in tags]
    starts = [
        prefix == "B" or (prefix == "I" and (i == 0 or parsed[i - 1][1] != entity))
        for i, (prefix, entity) in enumerate(parsed)
    ]
    out = []
    for i, (prefix, entity) in enumerate(parsed):
        if prefix == "O":
            out.append(OUTSIDE)
            continue
        continues = i + 1 < len(parsed) and not starts[i + 1] and parsed[i + 1][1] == entity
        if starts[i]:
            out.append(f"{'B' if continues else 'S'}-{entity}")
        else:
            out.append(f"{'I' if continues else 'E'}-{entity}")
    return out


def bioes_to_bio(tags: Sequence[str]) -> list[str]:
    """BIOES -> BIO: ``S-X`` -> ``B-X``, ``E-X`` -> ``I-X``."""
    out = []
    for tag in tags:
        prefix, entity = split_tag(tag, "BIOES")
        if prefix == "O":
            out.append(OUTSIDE)
        else:
            out.append(f"{_BIOES_TO_BIO_PREFIX.get(prefix, prefix)}-{entity}")
    return out


def convert_tags(tags: Sequence[str], source: str, target: str) -> list[str]:
    """Rewrite ``tags`` from scheme ``source`` to scheme ``target`` (through BIO).

    Any entity scheme converts to ``"none"`` (the tags are kept as plain labels); ``"none"``
    converts only to itself, since plain labels have no chunks.
    """
    source = normalize_scheme(source, "source scheme")
    target = normalize_scheme(target, "target scheme")
    if source == target or target == "none":
        check_tags(tags, source)
        return list(tags)
    if source == "none":
        raise ValueError(
            f"tag_scheme: cannot convert plain labels (scheme 'none') to {target!r}; the data "
            "has no entity chunks"
        )
    bio = {"IOB1": iob1_to_bio, "BIO": list, "BIOES": bioes_to_bio}[source](tags)
    if source == "BIO":
        check_tags(bio, "BIO")
    return {"IOB1": bio_to_iob1, "BIO": list, "BIOES": bio_to_bioes}[target](bio)
