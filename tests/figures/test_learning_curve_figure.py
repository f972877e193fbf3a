"""The learning-curve figure: runs as lines over minutes, peers as horizontal lines and points."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure

from rnnkit.figures.learning_curve import Curve, learning_curve_figure


def test_curves_lines_and_points_are_drawn_where_given():
    curve = Curve("rnnkit, val/mse", [1.0, 2.0, 3.5], [0.7, 0.6, 0.65], (4.0, 0.36))
    figure = learning_curve_figure(
        [curve],
        title="ETTh1",
        ylabel="val/mse",
        lines=[("DLinear", 0.375)],
        points=[("peer, 2 epochs", 5.0, 0.5)],
    )
    assert isinstance(figure, Figure)
    (axes,) = figure.axes
    assert axes.get_xlabel() == "wall-clock minutes" and axes.get_ylabel() == "val/mse"
    drawn = {line.get_label(): line for line in axes.get_lines()}
    run = drawn["rnnkit, val/mse"]
    np.testing.assert_array_equal(run.get_xdata(), [1.0, 2.0, 3.5])
    np.testing.assert_array_equal(run.get_ydata(), [0.7, 0.6, 0.65])
    xy = [
        (tuple(np.ravel(a.get_xdata())), tuple(np.ravel(a.get_ydata()))) for a in axes.get_lines()
    ]
    assert ((4.0,), (0.36,)) in xy  # the final test value as a star
    assert ((5.0,), (0.5,)) in xy  # the peer's point
    assert any(y == (0.375, 0.375) for _, y in xy)  # the peer's horizontal line
    texts = {t.get_text() for t in axes.texts}
    assert {"0.36", "DLinear 0.375", "peer, 2 epochs 0.5"} <= texts


def test_bad_curves_raise():
    with pytest.raises(ValueError, match="curves: expected at least one"):
        learning_curve_figure([], title="t", ylabel="y")
    with pytest.raises(ValueError, match="minutes and values must be two"):
        learning_curve_figure([Curve("run", [1.0, 2.0], [0.5])], title="t", ylabel="y")
