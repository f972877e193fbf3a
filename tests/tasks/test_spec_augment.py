"""SpecAugment masking: off in eval mode; in training, zeroed bands and spans within their
widths, time spans within each sequence's share of its length, everything else untouched."""

from __future__ import annotations

import pytest
import torch

from rnnkit.tasks.spec_augment import SpecAugment


def test_eval_mode_returns_the_features_unchanged():
    augment = SpecAugment().eval()
    features = torch.randn(2, 30, 16)
    assert augment(features, torch.tensor([30, 20])) is features


def test_training_masks_whole_bands_and_spans_within_their_limits():
    torch.manual_seed(0)
    augment = SpecAugment(freq_masks=2, freq_width=3, time_masks=2, time_width=5).train()
    features = torch.rand(64, 40, 12) + 1.0  # never zero on its own
    lengths = torch.full((64,), 40).index_fill(0, torch.arange(32), 10)
    masked = augment(features, lengths)
    zero = masked == 0
    kept = ~zero
    torch.testing.assert_close(masked[kept], features[kept])
    bands = zero.all(dim=1)  # (N, F): bins zero at every frame
    frames = zero.all(dim=2)  # (N, T): frames zero in every bin
    assert (bands.sum(1) <= 6).all() and bands.any()
    assert (zero == (bands.unsqueeze(1) | frames.unsqueeze(2))).all()  # nothing else masked
    assert (frames[:32].sum(1) <= 2 * 2).all()  # 20% of 10 frames, twice
    assert (frames[32:].sum(1) <= 2 * 5).all() and frames[32:].any()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"freq_masks": -1}, "freq_masks"),
        ({"time_width": 1.5}, "time_width"),
        ({"max_time_fraction": 2.0}, "max_time_fraction"),
    ],
)
def test_bad_settings_are_refused_with_their_name(arguments, message):
    with pytest.raises(ValueError, match=message):
        SpecAugment(**arguments)
