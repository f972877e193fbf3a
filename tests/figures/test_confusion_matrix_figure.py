"""The confusion matrix figure: gold rows, predicted columns, every count written in its cell."""

from __future__ import annotations

import numpy as np
import torch
from matplotlib.figure import Figure

from rnnkit.figures.confusion_matrix import confusion_matrix_figure


def test_counts_are_drawn_with_gold_rows_and_predicted_columns():
    matrix = torch.tensor([[3, 1, 0], [0, 2, 5], [4, 0, 1]])
    figure = confusion_matrix_figure(matrix, ["neg", "neutral", "pos"])
    assert isinstance(figure, Figure)
    (axes,) = figure.axes
    assert axes.get_xlabel() == "predicted"
    assert axes.get_ylabel() == "gold"
    assert [t.get_text() for t in axes.get_xticklabels()] == ["neg", "neutral", "pos"]
    assert [t.get_text() for t in axes.get_yticklabels()] == ["neg", "neutral", "pos"]
    np.testing.assert_array_equal(axes.get_images()[0].get_array(), matrix.numpy())
    cells = {(text.get_position(), text.get_text()) for text in axes.texts}
    assert cells == {
        ((column, row), str(int(matrix[row, column]))) for row in range(3) for column in range(3)
    }
