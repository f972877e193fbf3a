"""The forecast figure: the history, then truth and forecast over the horizon after it."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from rnnkit.figures.forecast import forecast_figure


def test_truth_and_forecast_follow_the_history():
    history, truth, prediction = [1.0, 2.0, 3.0, 4.0], [5.0, 6.0], [5.5, 5.0]
    figure = forecast_figure(history, truth, prediction, title="series 0")
    assert isinstance(figure, Figure)
    (axes,) = figure.axes
    assert axes.get_title() == "series 0"
    lines = {line.get_label(): line for line in axes.get_lines()}
    assert list(lines) == ["history", "truth", "forecast"]
    np.testing.assert_array_equal(lines["history"].get_xdata(), [0, 1, 2, 3])
    np.testing.assert_array_equal(lines["truth"].get_xdata(), [4, 5])
    np.testing.assert_array_equal(lines["forecast"].get_xdata(), [4, 5])
    np.testing.assert_array_equal(lines["truth"].get_ydata(), truth)
    np.testing.assert_array_equal(lines["forecast"].get_ydata(), prediction)
    legend = [text.get_text() for text in axes.get_legend().get_texts()]
    assert legend == ["history", "truth", "forecast"]


def test_the_x_axis_shows_the_dates_when_known():
    dates = np.arange("1949-01", "1949-07", dtype="datetime64[M]").astype("datetime64[us]")
    figure = forecast_figure([1.0, 2.0, 3.0, 4.0], [5.0, 6.0], [5.5, 5.0], dates=dates)
    (axes,) = figure.axes
    lines = {line.get_label(): line for line in axes.get_lines()}
    np.testing.assert_array_equal(lines["history"].get_xdata(), dates[:4])
    np.testing.assert_array_equal(lines["forecast"].get_xdata(), dates[4:])
    figure.canvas.draw()
    labels = [label.get_text() for label in axes.get_xticklabels()]
    assert any("1949" in text for text in labels) and any("Mar" in text for text in labels)
    unknown = dates.copy()
    unknown[2] = np.datetime64("NaT")
    (axes,) = forecast_figure([1.0, 2.0, 3.0, 4.0], [5.0, 6.0], [5.5, 5.0], dates=unknown).axes
    assert axes.get_xlabel() == "step"
