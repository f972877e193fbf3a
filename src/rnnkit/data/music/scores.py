"""Scores (MusicXML, compressed ``.mxl``, ABC) to piano rolls, through ``music21`` (the
``rnnkit[music]`` extra).

Every part of a score is read: a note or chord sounds from its offset in the flattened score
for its quarter length (grace notes, of length 0, are skipped; tied notes join up), and the
roll samples which notes sound at each step's onset
(:func:`~rnnkit.data.music.piano_roll.sample_notes`). An ABC file may hold many tunes (an
opus): each is a piece of its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

from rnnkit.data.music.piano_roll import Pitches, sample_notes

SCORE_SUFFIXES = (".mxl", ".xml", ".musicxml", ".abc")


def _music21() -> Any:
    try:
        import music21
    except ImportError:  # pragma: no cover - the extra is part of [dev]
        raise ValueError(
            "MusicXML and ABC files need the music21 package: pip install 'rnnkit[music]'"
        ) from None
    return music21


def score_notes(score: Any) -> list[tuple[int, Fraction, Fraction]]:
    """``(pitch, start, end)`` in quarter notes of every pitched note and chord of a music21
    stream (all parts flattened)."""
    notes = []
    for element in score.flatten().notes:
        pitches = getattr(element, "pitches", ())
        length = Fraction(element.quarterLength)
        if not pitches or length <= 0:
            continue
        start = Fraction(element.offset)
        notes.extend((int(p.midi), start, start + length) for p in pitches)
    return notes


def select_parts(score: Any, names: Sequence[str] | None) -> Any:
    """``score`` with only the parts named (by prefix) in ``names``; the whole score when
    ``names`` is None or no part matches."""
    if not names or not hasattr(score, "parts"):
        return score
    prefixes = tuple(name.lower() for name in names)
    kept = [part for part in score.parts if str(part.partName or "").lower().startswith(prefixes)]
    if not kept or len(kept) == len(score.parts):
        return score
    for part in score.parts:
        if part not in kept:
            score.remove(part)
    return score


def read_score(
    path: str | Path, steps_per_beat: int = 1, parts: Sequence[str] | None = None
) -> list[tuple[str, Pitches]]:
    """``(name, time steps)`` of each piece of a MusicXML or ABC file (an ABC file may hold
    several tunes); a ValueError naming the file when it does not parse, has no notes or a
    pitch outside 21..108.

    ``parts``: read only the parts whose name starts with one of these (case-insensitive),
    e.g. the voices ``["Soprano", "Alto", "Tenor", "Bass"]`` of a chorale with instruments
    beside them; a score with no such part is read whole. None: every part."""
    music21 = _music21()
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(2, "No such file", str(path))
    try:
        parsed = music21.converter.parse(path)
    except Exception as error:  # music21 raises many kinds; all mean "not a score"
        message = " ".join(str(error).split())[:200] or type(error).__name__
        raise ValueError(f"{path}: not a readable score ({message})") from None
    if isinstance(parsed, music21.stream.Opus):
        scores = list(parsed.scores)
        names = [f"{path.stem}#{number}" for number in range(len(scores))]
    else:
        scores, names = [parsed], [path.stem]
    pieces = []
    for name, score in zip(names, scores):
        where = f"{path}" if len(scores) == 1 else f"{path} (tune {name.split('#')[1]})"
        chosen = select_parts(score, parts)
        pieces.append((name, sample_notes(score_notes(chosen), steps_per_beat, where)))
    if not pieces:
        raise ValueError(f"{path}: no notes")
    return pieces
