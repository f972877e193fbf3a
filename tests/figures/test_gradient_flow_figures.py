"""Gradient flow figures: norms against time per layer, and log10 norms over training steps."""

from __future__ import annotations

import math

import numpy as np
from matplotlib.figure import Figure

from rnnkit.figures.gradient_flow import heatmap_figure, norm_vs_time_figure

NORMS_STEP_0 = {"rnn.l0": [0.5, 0.0, 2.0], "rnn.l0_reverse": [1.0, 0.1, 0.01]}
NORMS_STEP_10 = {"rnn.l0": [0.25, 1.0, 4.0, 10.0]}


def test_norm_vs_time_draws_one_line_per_layer_on_a_log_scale():
    figure = norm_vs_time_figure(NORMS_STEP_0, step=7)
    assert isinstance(figure, Figure)
    (axes,) = figure.axes
    assert axes.get_yscale() == "log"
    assert axes.get_xlabel() == "time step t"
    assert axes.get_ylabel() == "||dL/dh_t||"
    assert axes.get_title() == "gradient flow through time, step 7"
    lines = {line.get_label(): line for line in axes.get_lines()}
    assert list(lines) == ["rnn.l0", "rnn.l0_reverse"]
    np.testing.assert_array_equal(lines["rnn.l0"].get_xdata(), [1, 2, 3])  # t from 1
    np.testing.assert_array_equal(lines["rnn.l0"].get_ydata(), [0.5, math.nan, 2.0])
    assert norm_vs_time_figure(NORMS_STEP_0, 7, title="T=3").axes[0].get_title() == "T=3"


def test_heatmap_has_one_panel_per_layer_with_its_measured_steps():
    figure = heatmap_figure([(0, NORMS_STEP_0), (10, NORMS_STEP_10)])
    assert isinstance(figure, Figure)
    panels = [axes for axes in figure.axes if axes.get_title()]  # the rest are colorbars
    assert [axes.get_title() for axes in panels] == ["rnn.l0", "rnn.l0_reverse"]
    forward, reverse = panels
    assert forward.get_ylabel() == "training step"
    assert [t.get_text() for t in forward.get_yticklabels()] == ["0", "10"]
    assert [t.get_text() for t in reverse.get_yticklabels()] == ["0"]
    matrix = np.ma.getdata(forward.get_images()[0].get_array())
    np.testing.assert_allclose(matrix[1], np.log10([0.25, 1.0, 4.0, 10.0]), rtol=1e-6)
    assert math.isnan(matrix[0, 3])  # step 0 had 3 time steps: the fourth is blank
    assert matrix[0, 1] == -30.0  # a zero norm shows as the floor, 1e-30
