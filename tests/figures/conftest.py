"""Close every figure a test drew: pyplot keeps them all alive otherwise."""

import pytest

from rnnkit.figures.offscreen import plt


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")
