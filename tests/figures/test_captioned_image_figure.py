"""The captioned image: the caption over the image, then one attention panel per word."""

from __future__ import annotations

import pytest
import torch
from matplotlib.figure import Figure

from rnnkit.figures.captioned_image import caption_figure


def test_caption_and_reference_title_the_image():
    figure = caption_figure(torch.rand(3, 8, 6), ["a", "red", "seven"], reference="a seven")
    assert isinstance(figure, Figure)
    (axes,) = figure.axes
    assert axes.get_title() == "a red seven\n(reference: a seven)"
    assert axes.get_images()[0].get_array().shape == (8, 6, 3)  # (C, H, W) shown as (H, W, C)


def test_each_word_gets_its_attention_over_the_image():
    attention = torch.softmax(torch.randn(3, 4), dim=1)  # 3 words over a 2 x 2 grid
    figure = caption_figure(torch.rand(1, 8, 8), ["one", "two", "three"], attention, (2, 2))
    titles = [axes.get_title() for axes in figure.axes]
    assert titles == ["one two three", "one", "two", "three"]
    for axes in figure.axes[1:]:
        image, heat = axes.get_images()
        assert image.get_cmap().name == "gray"
        assert heat.get_array().shape == (8, 8)  # upsampled from the grid to the image


def test_attention_without_grid_shape_is_an_error():
    with pytest.raises(ValueError, match="grid_shape"):
        caption_figure(torch.rand(1, 8, 8), ["one"], torch.ones(1, 4))
