"""Piano rolls: pitches <-> rolls, sampling notes at step onsets, transposition, range checks."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from rnnkit.data.music.piano_roll import (
    NUM_KEYS,
    check_pitches,
    pitches_from_roll,
    roll_from_pitches,
    sample_notes,
    steps_per_quarter,
    transpose,
)


def test_roll_and_pitches_round_trip():
    steps = [[60, 64, 67], [], [21], [108, 21]]
    checked = check_pitches(steps, "piece")
    assert checked == [[60, 64, 67], [], [21], [21, 108]]
    roll = roll_from_pitches(checked)
    assert roll.shape == (4, NUM_KEYS) and roll.dtype == np.float32
    assert roll.sum() == 6 and roll[0, 60 - 21] == 1 and roll[3, 87] == 1
    assert pitches_from_roll(roll) == checked


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ([[60], [109]], "time step 1: pitch 109 is outside the piano's range 21-108"),
        ([[20]], "pitch 20 is outside"),
        ([[60.0]], "expected integer MIDI pitches, got 60.0"),
        ([["C4"]], "expected integer MIDI pitches"),
        ([60, 62], "time step 0: expected a list of MIDI pitch numbers, got int"),
        ([], "a piece with no time steps"),
        ("C E G", "expected a piece as a list of time steps, got str"),
    ],
)
def test_bad_pieces_name_the_piece_and_step(steps, message):
    with pytest.raises(ValueError, match=r"^song\.mid[,:] ") as error:
        check_pitches(steps, "song.mid")
    assert message in str(error.value)


def test_notes_are_sampled_at_each_step_onset():
    # A half note C, then a quarter E; an eighth D between the two onsets; a tie-free G held on.
    notes = [
        (60, Fraction(0), Fraction(2)),
        (64, Fraction(2), Fraction(3)),
        (62, Fraction(3, 2), Fraction(2)),
        (67, Fraction(0), Fraction(4)),
    ]
    assert sample_notes(notes, 1, "x") == [[60, 67], [60, 67], [64, 67], [67]]
    assert sample_notes(notes, 2, "x") == [
        [60, 67],
        [60, 67],
        [60, 67],
        [60, 62, 67],
        [64, 67],
        [64, 67],
        [67],
        [67],
    ]


def test_leading_silence_is_dropped_and_rests_inside_kept():
    notes = [(60, Fraction(4), Fraction(5)), (62, Fraction(7), Fraction(8))]
    assert sample_notes(notes, 1, "x") == [[60], [], [], [62]]


def test_sampling_refuses_no_notes_and_notes_between_onsets():
    with pytest.raises(ValueError, match="^a.mid: no notes$"):
        sample_notes([], 1, "a.mid")
    with pytest.raises(ValueError, match="no note sounds at any time step"):
        sample_notes([(60, Fraction(1, 4), Fraction(3, 4))], 1, "a.mid")
    with pytest.raises(ValueError, match="pitch 12 is outside"):
        sample_notes([(12, Fraction(0), Fraction(1))], 1, "a.mid")


def test_transpose_keeps_the_range():
    assert transpose([[60, 64], []], 3) == [[63, 67], []]
    assert transpose([[106]], 3) is None
    assert transpose([[22]], -2) is None
    steps = [[60]]
    assert transpose(steps, 0) is steps


def test_resolutions():
    assert [steps_per_quarter(r) for r in ("quarter", "eighth", "sixteenth")] == [1, 2, 4]
    with pytest.raises(ValueError, match="resolution: expected one of"):
        steps_per_quarter("half")
