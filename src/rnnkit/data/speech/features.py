"""Log-mel features with torch's STFT: the spectrogram a speech model reads.

A frame of ``window_ms`` (Hann window) every ``hop_ms``, its power spectrum (``n_fft`` the
next power of two at or above the window), triangular mel filters on the HTK mel scale
(``2595 log10(1 + f / 700)``) from ``f_min`` to the Nyquist frequency, then
``log(energy + 1e-6)``. Frames are not centred: frame ``t`` covers samples
``[t * hop, t * hop + n_fft)`` (the window centred in it), and a recording shorter than one
frame is zero-padded to one.
"""

from __future__ import annotations

import math

import numpy as np
import torch


def hz_to_mel(hz: torch.Tensor | float) -> torch.Tensor:
    return 2595.0 * torch.log10(1.0 + torch.as_tensor(hz, dtype=torch.float64) / 700.0)


def mel_to_hz(mel: torch.Tensor) -> torch.Tensor:
    return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)


def mel_filterbank(n_mels: int, n_fft: int, sample_rate: int, f_min: float = 20.0) -> torch.Tensor:
    """``(n_fft // 2 + 1, n_mels)`` triangular filters, each peaking at 1 on its mel centre."""
    f_max = sample_rate / 2.0
    if not 0.0 <= f_min < f_max:
        raise ValueError(f"f_min: expected a frequency in [0, {f_max}) Hz, got {f_min}")
    edges = mel_to_hz(torch.linspace(hz_to_mel(f_min), hz_to_mel(f_max), n_mels + 2))
    bins = torch.linspace(0.0, f_max, n_fft // 2 + 1, dtype=torch.float64).unsqueeze(1)
    lower, centre, upper = edges[:-2], edges[1:-1], edges[2:]
    rising = (bins - lower) / (centre - lower)
    falling = (upper - bins) / (upper - centre)
    return torch.clamp(torch.minimum(rising, falling), min=0.0).float()


class LogMel:
    """Samples at ``sample_rate`` -> ``(frames, n_mels)`` float32 log-mel energies.

    Args:
        sample_rate: the rate of the samples it receives (Hz).
        n_mels: mel bands.
        window_ms, hop_ms: frame length and step in milliseconds.
        f_min: lowest filter edge in Hz.
    """

    def __init__(
        self,
        sample_rate: int,
        n_mels: int = 40,
        window_ms: float = 25.0,
        hop_ms: float = 10.0,
        f_min: float = 20.0,
    ) -> None:
        if isinstance(sample_rate, bool) or not isinstance(sample_rate, int) or sample_rate < 1000:
            raise ValueError(f"sample_rate: expected an integer >= 1000 Hz, got {sample_rate!r}")
        if isinstance(n_mels, bool) or not isinstance(n_mels, int) or n_mels < 1:
            raise ValueError(f"n_mels: expected a positive integer, got {n_mels!r}")
        self.window = max(1, round(sample_rate * window_ms / 1000.0))
        self.hop = max(1, round(sample_rate * hop_ms / 1000.0))
        if not 0 < hop_ms <= window_ms:
            raise ValueError(f"hop_ms: expected 0 < hop_ms <= window_ms={window_ms}, got {hop_ms}")
        self.n_fft = 1 << math.ceil(math.log2(self.window))
        self.sample_rate = sample_rate
        self.n_mels = n_mels
        self.filters = mel_filterbank(n_mels, self.n_fft, sample_rate, f_min)
        self.window_function = torch.hann_window(self.window, periodic=True)

    def num_frames(self, num_samples: int) -> int:
        return 1 + max(0, num_samples - self.n_fft) // self.hop

    def __call__(self, samples: np.ndarray | torch.Tensor) -> torch.Tensor:
        audio = torch.as_tensor(np.asarray(samples, dtype=np.float32))
        if audio.numel() < self.n_fft:
            audio = torch.nn.functional.pad(audio, (0, self.n_fft - audio.numel()))
        spectrum = torch.stft(
            audio,
            n_fft=self.n_fft,
            hop_length=self.hop,
            win_length=self.window,
            window=self.window_function,
            center=False,
            return_complex=True,
        )
        power = spectrum.abs().pow(2).transpose(0, 1)  # (frames, n_fft // 2 + 1)
        return torch.log(power @ self.filters + 1e-6)
