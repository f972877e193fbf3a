"""Piano rolls: a piece as the set of MIDI pitches sounding at each time step.

The benchmarks of Boulanger-Lewandowski et al. (2012) store a piece as a list of time steps,
each a list of MIDI pitch numbers (``[[60, 64, 67], [62, 65], [], ...]``); a model sees it as a
binary roll ``(T, 88)`` over the piano's keys, MIDI 21 (A0) to 108 (C8), key ``k`` being pitch
``21 + k``. This module converts between the two and checks pitches against that range, naming
the piece when one is out of it. Time steps are a fixed fraction of a quarter note
(:data:`RESOLUTIONS`): the readers sample which notes sound at each step's onset.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from fractions import Fraction

import numpy as np

LOWEST_PITCH = 21
"""MIDI pitch of the piano's lowest key, A0."""
HIGHEST_PITCH = 108
"""MIDI pitch of the piano's highest key, C8."""
NUM_KEYS = HIGHEST_PITCH - LOWEST_PITCH + 1
"""88 keys: the width of a roll."""

RESOLUTIONS = {"quarter": 1, "eighth": 2, "sixteenth": 4}
"""``data.resolution`` -> time steps per quarter note."""

Pitches = list[list[int]]
"""A piece as time steps of MIDI pitch numbers (the benchmarks' format)."""


def steps_per_quarter(resolution: str) -> int:
    """Time steps per quarter note of ``resolution`` (``quarter``, ``eighth``, ``sixteenth``)."""
    if resolution not in RESOLUTIONS:
        raise ValueError(f"resolution: expected one of {list(RESOLUTIONS)}, got {resolution!r}")
    return RESOLUTIONS[resolution]


def check_pitches(steps: Sequence[Sequence[int]], where: str) -> Pitches:
    """``steps`` as a list of sorted, duplicate-free lists of ints, every pitch in 21..108;
    otherwise a ValueError naming ``where`` (the file and piece) and the first bad step."""
    if not isinstance(steps, (list, tuple)):
        raise ValueError(
            f"{where}: expected a piece as a list of time steps, got {type(steps).__name__}"
        )
    checked: Pitches = []
    for number, step in enumerate(steps):
        if not isinstance(step, (list, tuple)):
            raise ValueError(
                f"{where}, time step {number}: expected a list of MIDI pitch numbers, got "
                f"{type(step).__name__} {step!r}"
            )
        for pitch in step:
            if isinstance(pitch, bool) or not isinstance(pitch, (int, np.integer)):
                raise ValueError(
                    f"{where}, time step {number}: expected integer MIDI pitches, got {pitch!r}"
                )
            if not LOWEST_PITCH <= pitch <= HIGHEST_PITCH:
                raise ValueError(
                    f"{where}, time step {number}: pitch {int(pitch)} is outside the piano's "
                    f"range {LOWEST_PITCH}-{HIGHEST_PITCH} (A0-C8)"
                )
        checked.append(sorted({int(pitch) for pitch in step}))
    if not checked:
        raise ValueError(f"{where}: a piece with no time steps")
    return checked


def roll_from_pitches(steps: Sequence[Sequence[int]]) -> np.ndarray:
    """A binary roll ``(T, 88)`` (float32, 1 where pitch ``21 + k`` sounds at step ``t``) of
    checked time steps (:func:`check_pitches`)."""
    roll = np.zeros((len(steps), NUM_KEYS), dtype=np.float32)
    for t, step in enumerate(steps):
        for pitch in step:
            roll[t, pitch - LOWEST_PITCH] = 1.0
    return roll


def pitches_from_roll(roll: np.ndarray | Sequence[Sequence[float]]) -> Pitches:
    """The time steps of a roll ``(T, 88)``: the pitches of its non-zero keys, ascending."""
    roll = np.asarray(roll)
    if roll.ndim != 2 or roll.shape[1] != NUM_KEYS:
        raise ValueError(f"roll: expected shape (T, {NUM_KEYS}), got {roll.shape}")
    return [(np.flatnonzero(row) + LOWEST_PITCH).tolist() for row in roll]


def transpose(steps: Pitches, semitones: int) -> Pitches | None:
    """``steps`` moved by ``semitones``; None when a pitch would leave 21..108."""
    if not semitones:
        return steps
    moved = [[pitch + semitones for pitch in step] for step in steps]
    if any(p < LOWEST_PITCH or p > HIGHEST_PITCH for step in moved for p in step):
        return None
    return moved


def sample_notes(
    notes: Iterable[tuple[int, Fraction | float, Fraction | float]],
    steps_per_beat: int,
    where: str,
) -> Pitches:
    """Time steps of ``notes`` ``(pitch, start, end)`` in quarter notes: step ``t`` holds the
    pitches sounding at its onset ``t / steps_per_beat`` (``start <= onset < end``), as the
    benchmarks were quantised. A note shorter than a step that spans no onset is dropped;
    every pitch is checked (:func:`check_pitches`). A ValueError names ``where`` when no note
    sounds at any onset."""
    notes = list(notes)
    if not notes:
        raise ValueError(f"{where}: no notes")
    for pitch, _, _ in notes:
        if not LOWEST_PITCH <= pitch <= HIGHEST_PITCH:
            raise ValueError(
                f"{where}: pitch {pitch} is outside the piano's range {LOWEST_PITCH}-"
                f"{HIGHEST_PITCH} (A0-C8)"
            )
    # Onsets and ends in steps, as exact fractions (ticks and music21 offsets are exact).
    scale = Fraction(steps_per_beat)
    length = max(_ceil(Fraction(end) * scale) for _, _, end in notes)
    steps: list[set[int]] = [set() for _ in range(max(length, 0))]
    for pitch, start, end in notes:
        first = _ceil(Fraction(start) * scale)
        last = _ceil(Fraction(end) * scale)  # onsets t with start <= t < end
        for t in range(max(first, 0), last):
            steps[t].add(pitch)
    start_step = min(_ceil(Fraction(start) * scale) for _, start, _ in notes)
    steps = steps[max(start_step, 0) :]
    if not any(steps):
        raise ValueError(
            f"{where}: no note sounds at any time step (all notes are shorter than a "
            f"{1 / steps_per_beat:g}-quarter step; try a finer data.resolution)"
        )
    return [sorted(step) for step in steps]


def _ceil(value: Fraction) -> int:
    return -((-value.numerator) // value.denominator)
