"""The attention figure: output tokens as rows, source tokens as columns, weights on [0, 1]."""

from __future__ import annotations

import numpy as np
import torch
from matplotlib.figure import Figure

from rnnkit.figures.attention import attention_figure


def test_weights_are_drawn_output_by_source():
    weights = torch.tensor([[0.7, 0.2, 0.1], [0.0, 0.1, 0.9]])
    figure = attention_figure(weights, ["ein", "Hund", "."], ["a", "dog"])
    assert isinstance(figure, Figure)
    (axes,) = figure.axes
    assert axes.get_xlabel() == "source"
    assert axes.get_ylabel() == "output"
    assert [t.get_text() for t in axes.get_xticklabels()] == ["ein", "Hund", "."]
    assert [t.get_text() for t in axes.get_yticklabels()] == ["a", "dog"]
    (image,) = axes.get_images()
    np.testing.assert_array_equal(image.get_array(), weights.numpy())
    assert image.get_clim() == (0.0, 1.0)
