"""Figures comparing runs: relative gradient flow, flow heatmaps side by side, exploding
gradients with and without clipping."""

from __future__ import annotations

import math

import numpy as np
import pytest
from matplotlib.figure import Figure

from rnnkit.figures.gradient_study import (
    exploding_gradients_figure,
    flow_heatmaps_figure,
    relative_flow_figure,
)

FIRST_STEP = {"rnn": [0.01, 0.1, 1.0, 2.0], "lstm": [0.5, 1.0, 2.0, 4.0]}
HISTORIES = {
    "rnn": [(0, [0.01, 0.1, 1.0]), (50, [0.02, 0.2, 2.0]), (100, [0.0, 1.0, 10.0])],
    "gru": [(0, [1.0, 1.0, 1.0])],
}


def test_relative_flow_divides_each_run_by_its_last_step_on_a_log_scale():
    figure = relative_flow_figure(FIRST_STEP, title="lag T=4", xlabel="t")
    assert isinstance(figure, Figure)
    (axes,) = figure.axes
    assert axes.get_yscale() == "log"
    assert (axes.get_title(), axes.get_xlabel()) == ("lag T=4", "t")
    assert axes.get_ylabel() == "||dL/dh_t|| / ||dL/dh_last||"
    lines = {line.get_label(): line for line in axes.get_lines()}
    assert list(lines) == ["rnn", "lstm"]
    np.testing.assert_array_equal(lines["rnn"].get_xdata(), [1, 2, 3, 4])
    np.testing.assert_allclose(lines["rnn"].get_ydata(), [0.005, 0.05, 0.5, 1.0])
    np.testing.assert_allclose(lines["lstm"].get_ydata(), [0.125, 0.25, 0.5, 1.0])
    assert [t.get_text() for t in axes.get_legend().get_texts()] == ["rnn", "lstm"]
    assert relative_flow_figure(FIRST_STEP, title="x").axes[0].get_xlabel() == "time step t"


def test_flow_heatmaps_put_one_panel_per_run_side_by_side():
    figure = flow_heatmaps_figure(HISTORIES)
    panels = [axes for axes in figure.axes if axes.get_title()]  # the rest are colorbars
    assert [axes.get_title() for axes in panels] == ["rnn", "gru"]
    assert len(figure.axes) == 4  # a colorbar per panel
    rnn, gru = panels
    assert rnn.get_position().x0 < gru.get_position().x0  # side by side, in order
    assert (rnn.get_ylabel(), gru.get_ylabel()) == ("training step", "")
    assert rnn.get_xlabel() == gru.get_xlabel() == "time step t"
    assert [t.get_text() for t in rnn.get_yticklabels()] == ["0", "50", "100"]
    matrix = np.ma.getdata(rnn.get_images()[0].get_array())
    assert matrix.shape == (3, 3)  # measured steps x time steps
    np.testing.assert_allclose(matrix[1], np.log10([0.02, 0.2, 2.0]))
    assert matrix[2, 0] == -30.0  # a zero norm shows as the floor, 1e-30
    with pytest.raises(ValueError, match="histories: expected at least one run"):
        flow_heatmaps_figure({})


def test_exploding_gradients_draws_norms_and_losses_and_marks_the_first_nan():
    grad_norms = {"no clipping": [(0, 5.0), (2, 50.0), (4, math.inf)], "clipping": [(0, 5.0)]}
    losses = {"no clipping": [2.0, 30.0, math.nan], "clipping": [2.0, 1.5, 1.0]}
    figure = exploding_gradients_figure(grad_norms, losses, title="ReLU RNN")
    left, right = figure.axes
    assert figure._suptitle.get_text() == "ReLU RNN"
    assert left.get_yscale() == right.get_yscale() == "log"
    assert left.get_ylabel() == "global gradient norm (before clipping)"
    assert right.get_ylabel() == "training loss"
    norm_lines = [line for line in left.get_lines() if line.get_label() in grad_norms]
    assert [line.get_label() for line in norm_lines] == ["no clipping", "clipping"]
    np.testing.assert_array_equal(norm_lines[0].get_xdata(), [0, 2, 4])
    np.testing.assert_array_equal(norm_lines[0].get_ydata(), [5.0, 50.0, math.inf])
    loss_line = next(line for line in right.get_lines() if line.get_label() == "clipping")
    np.testing.assert_array_equal(loss_line.get_ydata(), [2.0, 1.5, 1.0])
    markers = [line for line in right.get_lines() if line.get_linestyle() == ":"]
    assert [line.get_xdata()[0] for line in markers] == [2]  # only the run that broke
    assert len([line for line in left.get_lines() if line.get_linestyle() == ":"]) == 1
    assert [text.get_text() for text in right.texts] == ["loss NaN from step 2"]
    with pytest.raises(ValueError, match="losses: expected the runs of grad_norms"):
        exploding_gradients_figure(grad_norms, {"clipping": [1.0]}, title="")
