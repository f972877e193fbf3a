"""The piano-roll figure: notes over time and pitch, cropped to the pitches used, with the
model's probabilities below and the seed's end marked."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure

from rnnkit.figures.piano_roll import piano_roll_figure, pitch_name


def test_pitch_names():
    assert [pitch_name(p) for p in (21, 60, 61, 108)] == ["A0", "C4", "C#4", "C8"]


def test_notes_drawn_at_their_pitches_and_cropped():
    roll = np.zeros((16, 88))
    roll[0, 60 - 21] = roll[5, 72 - 21] = 1
    figure = piano_roll_figure(roll, title="a piece")
    assert isinstance(figure, Figure)
    (axes,) = figure.axes
    assert axes.get_title() == "a piece"
    (image,) = axes.get_images()
    low, high = 60 - 21 - 3, 72 - 21 + 3
    shown = np.asarray(image.get_array())
    np.testing.assert_array_equal(shown, roll[:, low : high + 1].T)
    left, right, bottom, top = image.get_extent()
    assert (bottom, top) == (57 - 0.5, 75 + 0.5) and (left, right) == (-0.5, 15.5)
    assert [t.get_text() for t in axes.get_yticklabels()] == ["C4", "C5"]
    assert axes.get_xlabel() == "time (quarter notes)"


def test_probabilities_below_and_the_seed_marked():
    roll = (np.random.default_rng(0).random((10, 88)) < 0.05).astype(float)
    probabilities = np.full((10, 88), 0.2)
    figure = piano_roll_figure(roll, probabilities=probabilities, seed_steps=4, steps_per_beat=2)
    notes, chance = figure.axes[:2]  # and the colour bar
    assert chance.get_ylabel() == "probability"
    assert np.allclose(np.asarray(chance.get_images()[0].get_array()), 0.2)
    assert [line.get_xdata()[0] for line in notes.get_lines()] == [3.5]
    assert chance.get_xlabel() == "time (eighth notes)"


def test_bad_shapes_are_named():
    with pytest.raises(ValueError, match="roll"):
        piano_roll_figure(np.zeros(5))
    with pytest.raises(ValueError, match="probabilities"):
        piano_roll_figure(np.zeros((5, 88)), probabilities=np.zeros((4, 88)))
