"""RunningMoments: mean and standard deviation in one pass, as numpy computes them at once."""

from __future__ import annotations

import numpy as np
import pytest

from rnnkit.data.forecasting import moments
from rnnkit.data.forecasting.moments import RunningMoments


@pytest.mark.parametrize("buffer_rows", [1, 7, 65_536])
@pytest.mark.parametrize("offset", [0.0, 1e6])
def test_blocks_of_rows_give_numpys_mean_and_std(monkeypatch, buffer_rows, offset):
    monkeypatch.setattr(moments, "BUFFER_ROWS", buffer_rows)
    rng = np.random.default_rng(0)
    blocks = [offset + rng.normal(size=(rng.integers(0, 40), 3)) * [1, 10, 0.1] for _ in range(30)]
    running = RunningMoments(3)
    for block in blocks:
        running.add(block)
    values = np.concatenate(blocks)
    assert running.count == len(values)
    np.testing.assert_allclose(running.mean, values.mean(axis=0), rtol=1e-14)
    np.testing.assert_allclose(running.std, values.std(axis=0), rtol=1e-9 if offset else 1e-13)


def test_one_group_is_bitwise_numpys():
    values = np.random.default_rng(1).normal(size=(1000, 4))
    running = RunningMoments(4)
    running.add(values[:400])
    running.add(values[400:])
    np.testing.assert_array_equal(running.mean, values.mean(axis=0))
    np.testing.assert_array_equal(running.std, values.std(axis=0))
