"""The CTC posteriors figure: the spectrogram above, one row per label that ever matters below,
both over the same seconds, with the reference and prediction in the title."""

from __future__ import annotations

import numpy as np
import torch
from matplotlib.figure import Figure

from rnnkit.figures.ctc_posteriors import ctc_posteriors_figure


def test_spectrogram_above_posteriors_of_the_labels_that_matter():
    features = torch.randn(30, 8)
    posteriors = torch.zeros(10, 4)
    posteriors[:, 0] = 1.0  # blank everywhere ...
    posteriors[3] = torch.tensor([0.1, 0.9, 0.0, 0.0])  # ... but "a" once; "c" never
    posteriors[6] = torch.tensor([0.0, 0.0, 1.0, 0.0])
    figure = ctc_posteriors_figure(
        features, posteriors, ["_", "a", " ", "c"], 100.0, reference="a b", prediction="a "
    )
    assert isinstance(figure, Figure)
    top, bottom = figure.axes
    assert top.get_title(loc="left") == "reference: a b\nprediction: a "
    assert [t.get_text() for t in bottom.get_yticklabels()] == ["_", "a", "␣"]
    (spectrogram,) = top.get_images()
    (rows,) = bottom.get_images()
    np.testing.assert_array_equal(spectrogram.get_array(), features.T.numpy())
    np.testing.assert_array_equal(rows.get_array(), posteriors[:, :3].T.numpy())
    assert spectrogram.get_extent()[:2] == rows.get_extent()[:2] == [0.0, 0.3]
    assert rows.get_clim() == (0.0, 1.0)
    assert bottom.get_xlabel() == "seconds"
