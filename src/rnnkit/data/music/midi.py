"""Standard MIDI files to piano rolls and back, through ``mido`` (the ``rnnkit[music]`` extra).

Reading measures time in quarter notes (ticks / ticks per beat), so tempo changes do not move
notes off the grid: a note is ``(pitch, start, end)`` from its note-on to its note-off (or a
note-on of velocity 0) on the same track and channel, and the roll samples which notes sound at
each step's onset (:func:`~rnnkit.data.music.piano_roll.sample_notes`). Channel 10 (index 9)
holds percussion, whose numbers are drums rather than pitches: it is skipped.

Writing makes a tempo track and one track per voice: each run of consecutive steps in which a
key is on becomes one note, so reading the file back at the same resolution gives the same roll.
"""

from __future__ import annotations

from collections import defaultdict, deque
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from rnnkit.data.music.piano_roll import (
    LOWEST_PITCH,
    NUM_KEYS,
    Pitches,
    check_pitches,
    roll_from_pitches,
    sample_notes,
)

MIDI_SUFFIXES = (".mid", ".midi")
PERCUSSION_CHANNEL = 9
TICKS_PER_BEAT = 480


def _mido() -> Any:
    try:
        import mido
    except ImportError:  # pragma: no cover - the extra is part of [dev]
        raise ValueError("MIDI files need the mido package: pip install 'rnnkit[music]'") from None
    return mido


def read_midi_notes(path: str | Path) -> list[tuple[int, Fraction, Fraction]]:
    """The notes ``(pitch, start, end)`` of a MIDI file, in quarter notes, ordered by start;
    a ValueError naming the file for one that is not a readable MIDI file."""
    mido = _mido()
    path = Path(path)
    try:
        midi = mido.MidiFile(path)
    except FileNotFoundError:
        raise
    except (OSError, EOFError, ValueError, KeyError, IndexError, TypeError) as error:
        raise ValueError(
            f"{path}: not a readable MIDI file ({error or type(error).__name__})"
        ) from None
    if midi.type == 2:
        raise ValueError(f"{path}: a type-2 MIDI file (independent sequences) is not supported")
    beat = midi.ticks_per_beat
    notes = []
    for track in midi.tracks:
        tick = 0
        sounding: dict[tuple[int, int], deque[int]] = defaultdict(deque)
        for message in track:
            tick += message.time
            if message.type not in ("note_on", "note_off") or message.channel == PERCUSSION_CHANNEL:
                continue
            key = (message.channel, message.note)
            if message.type == "note_on" and message.velocity > 0:
                sounding[key].append(tick)
            elif sounding[key]:
                start = sounding[key].popleft()
                if tick > start:
                    notes.append((message.note, Fraction(start, beat), Fraction(tick, beat)))
        # A note never switched off lasts to the end of its track.
        for (_, pitch), starts in sounding.items():
            notes.extend(
                (pitch, Fraction(s, beat), Fraction(tick, beat)) for s in starts if tick > s
            )
    notes.sort(key=lambda note: (note[1], note[0]))
    return notes


def read_midi(path: str | Path, steps_per_beat: int = 1) -> Pitches:
    """The time steps of a MIDI file at ``steps_per_beat`` steps per quarter note; a
    ValueError naming the file when it has no notes or a pitch outside 21..108."""
    return sample_notes(read_midi_notes(path), steps_per_beat, str(path))


def write_midi(
    roll: np.ndarray | Pitches,
    path: str | Path,
    steps_per_beat: int = 1,
    tempo_bpm: float = 100.0,
    velocity: int = 80,
) -> Path:
    """Write a roll ``(T, 88)`` (or its time steps of pitches) as a MIDI file, each run of
    consecutive on-steps of a key one note; returns ``path``.

    Notes are dealt to tracks (voices) so that none overlaps another in its track: a track per
    simultaneous note at the roll's busiest step, as a score has a part per voice (music21 reads
    a dense chord texture in one track into measures of the wrong length)."""
    mido = _mido()
    roll = _as_roll(roll)
    step_ticks = TICKS_PER_BEAT // steps_per_beat
    padded = np.vstack([np.zeros((1, NUM_KEYS)), roll, np.zeros((1, NUM_KEYS))]) > 0
    changes = np.diff(padded.astype(np.int8), axis=0)  # +1: starts at t, -1: ends at t
    starts = sorted(zip(*np.nonzero(changes > 0)))  # (step, key) by onset, then pitch
    notes = []  # (start, end, pitch)
    for t, key in starts:
        end = t + int(np.argmax(changes[t + 1 :, key] < 0)) + 1
        notes.append((int(t), end, LOWEST_PITCH + int(key)))
    voices: list[list[tuple[int, int, int]]] = []
    for note in notes:  # the first voice free at the note's onset (interval partitioning)
        voice = next((v for v in voices if v[-1][1] <= note[0]), None)
        if voice is None:
            voices.append([note])
        else:
            voice.append(note)
    midi = mido.MidiFile(type=1, ticks_per_beat=TICKS_PER_BEAT)
    conductor = mido.MidiTrack()
    conductor.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(tempo_bpm), time=0))
    conductor.append(mido.MetaMessage("time_signature", numerator=4, denominator=4, time=0))
    midi.tracks.append(conductor)
    for voice in voices:
        track = mido.MidiTrack()
        track.append(mido.Message("program_change", program=0, channel=0, time=0))
        now = 0
        for start, end, pitch in voice:
            track.append(
                mido.Message(
                    "note_on", note=pitch, velocity=velocity, time=start * step_ticks - now
                )
            )
            track.append(
                mido.Message("note_off", note=pitch, velocity=0, time=(end - start) * step_ticks)
            )
            now = end * step_ticks
        midi.tracks.append(track)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    midi.save(path)
    return path


def _as_roll(roll: np.ndarray | Pitches) -> np.ndarray:
    if isinstance(roll, np.ndarray):
        if roll.ndim != 2 or roll.shape[1] != NUM_KEYS:
            raise ValueError(f"roll: expected shape (T, {NUM_KEYS}), got {roll.shape}")
        return roll
    return roll_from_pitches(check_pitches(roll, "roll"))
