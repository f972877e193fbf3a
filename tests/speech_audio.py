"""Tiny audio files for the speech tests, written with the standard library's ``wave`` module.

:func:`write_fsdd_folder` makes a folder of FSDD-named recordings ``{digit}_{speaker}_{index}.wav``
where each digit is a short chord of its own two tones (a little higher per speaker) in noise,
so a model can tell digits apart from the spectrum without any real speech data.
"""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

RATE = 8000


def write_wav(path: Path, samples: np.ndarray, rate: int = RATE, channels: int = 1) -> Path:
    """16-bit PCM WAV of ``samples`` ``(S,)`` (repeated on every channel), values in [-1, 1]."""
    pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as file:
        file.setnchannels(channels)
        file.setsampwidth(2)
        file.setframerate(rate)
        file.writeframes(np.repeat(pcm, channels).tobytes())
    return path


def digit_tone(digit: int, speaker: int = 0, seconds: float = 0.15, seed: int = 0) -> np.ndarray:
    """A synthetic "spoken digit": two tones chosen by the digit, in a little noise."""
    rng = np.random.default_rng([digit, speaker, seed])
    t = np.arange(int(seconds * RATE)) / RATE
    low, high = 250.0 + 150.0 * digit + 20.0 * speaker, 2200.0 + 130.0 * digit
    envelope = np.sin(np.pi * t / seconds)
    tone = 0.4 * envelope * (np.sin(2 * np.pi * low * t) + 0.5 * np.sin(2 * np.pi * high * t))
    return (tone + 0.01 * rng.standard_normal(t.size)).astype(np.float32)


def write_fsdd_folder(
    folder: Path, speakers=("anna", "bert"), indices=range(12), digits=range(10)
) -> Path:
    """FSDD-named recordings of every digit, speaker and index in ``folder/recordings``."""
    recordings = folder / "recordings"
    recordings.mkdir(parents=True, exist_ok=True)
    for s, speaker in enumerate(speakers):
        for digit in digits:
            for index in indices:
                write_wav(
                    recordings / f"{digit}_{speaker}_{index}.wav", digit_tone(digit, s, seed=index)
                )
    return folder
