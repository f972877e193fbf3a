"""MIDI files (mido): MIDI -> roll -> MIDI round trips, timing in beats, bad files."""

from __future__ import annotations

import mido
import music21
import numpy as np
import pytest

from rnnkit.data.music.midi import read_midi, read_midi_notes, write_midi
from rnnkit.data.music.piano_roll import roll_from_pitches
from rnnkit.data.music.scores import score_notes


def write_messages(path, tracks, ticks_per_beat=96, file_type=1):
    """A MIDI file of ``tracks``: lists of ``(delta ticks, message type, channel, note,
    velocity)`` or ``(delta ticks, "tempo", bpm)``."""
    midi = mido.MidiFile(type=file_type, ticks_per_beat=ticks_per_beat)
    for events in tracks:
        track = mido.MidiTrack()
        for event in events:
            if event[1] == "tempo":
                track.append(
                    mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(event[2]), time=event[0])
                )
            else:
                delta, kind, channel, note, velocity = event
                track.append(
                    mido.Message(kind, channel=channel, note=note, velocity=velocity, time=delta)
                )
        midi.tracks.append(track)
    midi.save(path)
    return path


def test_notes_in_beats_across_tracks_tempi_and_note_off_conventions(tmp_path):
    beat = 96
    path = write_messages(
        tmp_path / "two.mid",
        [
            # Track 0: a tempo change mid-way does not move notes (time is in beats).
            [
                (0, "tempo", 120),
                (0, "note_on", 0, 60, 90),
                (2 * beat, "tempo", 60),
                (0, "note_on", 0, 60, 0),  # velocity 0: a note-off
                (0, "note_on", 0, 64, 90),
                (beat, "note_off", 0, 64, 0),
            ],
            # Track 1: a held G; drums on channel 10 are not pitches and are skipped.
            [
                (0, "note_on", 1, 67, 70),
                (0, "note_on", 9, 36, 100),
                (3 * beat, "note_off", 1, 67, 0),
            ],
        ],
        ticks_per_beat=beat,
    )
    notes = read_midi_notes(path)
    assert [(p, float(s), float(e)) for p, s, e in notes] == [
        (60, 0.0, 2.0),
        (67, 0.0, 3.0),
        (64, 2.0, 3.0),
    ]
    assert read_midi(path) == [[60, 67], [60, 67], [64, 67]]
    assert read_midi(path, steps_per_beat=2) == [[60, 67]] * 4 + [[64, 67]] * 2


@pytest.mark.parametrize("steps_per_beat", [1, 2, 4])
def test_roll_midi_roll_round_trip(tmp_path, steps_per_beat):
    rng = np.random.default_rng(steps_per_beat)
    roll = (rng.random((40, 88)) < 0.04).astype(np.float32)
    roll[0, 39] = roll[-1, 50] = 1  # sound at the first and last step (no silence trimmed)
    path = write_midi(roll, tmp_path / "r.mid", steps_per_beat)
    back = roll_from_pitches(read_midi(path, steps_per_beat))
    np.testing.assert_array_equal(back, roll)


def test_midi_roll_midi_round_trip_keeps_the_notes(tmp_path):
    beat = 96
    original = write_messages(
        tmp_path / "in.mid",
        [
            [
                (0, "note_on", 0, 48, 80),
                (0, "note_on", 0, 55, 80),
                (beat, "note_off", 0, 55, 0),
                (0, "note_on", 0, 59, 80),
                (beat, "note_off", 0, 48, 0),
                (0, "note_off", 0, 59, 0),
            ]
        ],
        ticks_per_beat=beat,
    )
    steps = read_midi(original)
    rewritten = write_midi(steps, tmp_path / "out.mid")
    assert [(p, s, e) for p, s, e in read_midi_notes(rewritten)] == [
        (p, s, e) for p, s, e in read_midi_notes(original)
    ]
    assert read_midi(rewritten) == steps == [[48, 55], [48, 59]]


def test_midi_with_no_notes_is_named(tmp_path):
    path = write_messages(tmp_path / "empty.mid", [[(0, "tempo", 100)]])
    with pytest.raises(ValueError, match=r"empty\.mid: no notes$"):
        read_midi(path)
    drums = write_messages(
        tmp_path / "drums.mid", [[(0, "note_on", 9, 36, 100), (96, "note_off", 9, 36, 0)]]
    )
    with pytest.raises(ValueError, match=r"drums\.mid: no notes$"):
        read_midi(drums)


@pytest.mark.parametrize("pitch", [12, 20, 109, 127])
def test_midi_pitch_outside_the_piano_is_named(tmp_path, pitch):
    path = write_messages(
        tmp_path / "low.mid", [[(0, "note_on", 0, pitch, 80), (96, "note_off", 0, pitch, 0)]]
    )
    with pytest.raises(
        ValueError, match=rf"low\.mid: pitch {pitch} is outside the piano's range 21-108"
    ):
        read_midi(path)


@pytest.mark.parametrize(
    "content", [b"", b"not a midi file at all", b"MThd\x00\x00\x00\x06\x00\x01"]
)
def test_not_a_midi_file_is_named(tmp_path, content):
    path = tmp_path / "broken.mid"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=r"broken\.mid: not a readable MIDI file"):
        read_midi(path)


def test_dense_chords_are_written_one_voice_per_track_and_music21_reads_them(tmp_path):
    rng = np.random.default_rng(5)
    roll = (rng.random((24, 88)) < 0.08).astype(np.float32)  # about 7 keys per step
    path = write_midi(roll, tmp_path / "dense.mid")
    midi = mido.MidiFile(path)
    assert len(midi.tracks) - 1 == int(roll.sum(axis=1).max())  # a tempo track, then voices
    for track in midi.tracks[1:]:  # no two notes overlap within a voice
        sounding = 0
        for message in track:
            if message.type == "note_on" and message.velocity:
                sounding += 1
                assert sounding == 1
            elif message.type in ("note_on", "note_off"):
                sounding -= 1
    score = music21.converter.parse(path).stripTies()
    assert score.highestTime == 24
    assert sorted(score_notes(score)) == sorted(read_midi_notes(path))
