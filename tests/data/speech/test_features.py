"""Log-mel features against numpy's FFT of each windowed frame, and a tone lands in its band."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnkit.data.speech.features import LogMel, hz_to_mel, mel_filterbank


def test_log_mel_is_the_log_of_filtered_numpy_power_spectra():
    rng = np.random.default_rng(0)
    samples = rng.standard_normal(1000).astype(np.float32)
    log_mel = LogMel(8000, n_mels=20, window_ms=25.0, hop_ms=10.0)
    assert (log_mel.window, log_mel.hop, log_mel.n_fft) == (200, 80, 256)
    features = log_mel(samples)
    assert features.shape == (log_mel.num_frames(1000), 20) == (10, 20)
    window = np.zeros(256)
    window[28:228] = np.hanning(201)[:200]  # periodic Hann of 200, centred in 256
    for frame in (0, 4, 9):
        chunk = samples[frame * 80 : frame * 80 + 256].astype(np.float64)
        power = np.abs(np.fft.rfft(chunk * window)) ** 2
        expected = np.log(power @ log_mel.filters.double().numpy() + 1e-6)
        np.testing.assert_allclose(features[frame].numpy(), expected, rtol=1e-4, atol=1e-4)


def test_a_tone_is_loudest_in_the_band_around_its_frequency():
    log_mel = LogMel(8000, n_mels=40)
    t = np.arange(8000) / 8000
    features = log_mel(np.sin(2 * np.pi * 1500.0 * t))
    peak = int(features.mean(0).argmax())
    centres = torch.linspace(hz_to_mel(20.0), hz_to_mel(4000.0), 42)[1:-1]
    assert abs(int((centres - hz_to_mel(1500.0)).abs().argmin()) - peak) <= 1


def test_filterbank_triangles_peak_at_one_and_cover_the_band():
    filters = mel_filterbank(10, 256, 8000)
    assert filters.shape == (129, 10)
    assert (filters >= 0).all() and torch.allclose(filters.max(0).values, torch.ones(10), atol=0.1)


def test_a_recording_shorter_than_a_frame_gives_one_frame():
    assert LogMel(8000)(np.ones(10, np.float32)).shape == (1, 40)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"sample_rate": 500}, "sample_rate"),
        ({"n_mels": 0}, "n_mels"),
        ({"hop_ms": 40.0}, "hop_ms"),
    ],
)
def test_bad_settings_are_refused_with_their_name(arguments, message):
    with pytest.raises(ValueError, match=message):
        LogMel(**{"sample_rate": 8000, **arguments})
