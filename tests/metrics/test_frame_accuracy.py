"""Frame-level accuracy TP / (TP + FP + FN) over a whole split, against a NumPy count."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnkit.metrics.frame_accuracy import FrameAccuracy


def numpy_accuracy(predicted, target, mask):
    keep = mask[..., None]
    tp = np.sum(predicted & target & keep)
    fp = np.sum(predicted & ~target & keep)
    fn = np.sum(~predicted & target & keep)
    return tp / (tp + fp + fn)


def test_counts_summed_over_batches_then_divided():
    rng = np.random.default_rng(0)
    metric = FrameAccuracy()
    everything = []
    for length in (5, 9, 3):
        predicted = rng.random((4, length, 88)) < 0.05
        target = rng.random((4, length, 88)) < 0.05
        mask = rng.random((4, length)) < 0.8
        metric.update(
            torch.from_numpy(predicted), torch.from_numpy(target).float(), torch.from_numpy(mask)
        )
        everything.append((predicted, target, mask))
    totals = [
        sum(np.sum(f(p, t, m)) for p, t, m in everything)
        for f in (
            lambda p, t, m: p & t & m[..., None],
            lambda p, t, m: p & ~t & m[..., None],
            lambda p, t, m: ~p & t & m[..., None],
        )
    ]
    expected = totals[0] / sum(totals)
    assert metric.compute().item() == pytest.approx(expected, rel=1e-6)
    # Not the mean of per-batch accuracies.
    per_batch = np.mean([numpy_accuracy(*batch) for batch in everything])
    assert abs(per_batch - expected) > 1e-4


def test_true_negatives_do_not_count_and_silence_scores_zero():
    target = torch.zeros(2, 3, 88)
    target[0, 0, 39] = 1
    metric = FrameAccuracy()
    metric.update(torch.zeros_like(target), target)
    assert metric.compute().item() == 0.0
    metric.reset()
    metric.update(target.clone(), target)
    assert metric.compute().item() == 1.0
    metric.reset()
    metric.update(torch.zeros_like(target), torch.zeros_like(target))
    assert metric.compute().item() == 1.0  # nothing sounded, nothing predicted


def test_masked_frames_are_left_out():
    target = torch.ones(1, 2, 4)
    predicted = torch.tensor([[[1, 1, 0, 0], [0, 0, 0, 0]]])
    metric = FrameAccuracy()
    metric.update(predicted, target, torch.tensor([[True, False]]))
    assert metric.compute().item() == 0.5


def test_shapes_are_checked():
    with pytest.raises(ValueError, match="predicted"):
        FrameAccuracy().update(torch.zeros(2, 3), torch.zeros(2, 4))
    with pytest.raises(ValueError, match="mask"):
        FrameAccuracy().update(torch.zeros(2, 3, 4), torch.zeros(2, 3, 4), torch.ones(2, 4))
