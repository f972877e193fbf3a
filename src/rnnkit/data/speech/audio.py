"""Reading audio files: soundfile (libsndfile) for the formats, checks for what it lets through.

:func:`read_audio` returns mono float32 samples and their rate, or raises an
:class:`AudioFileError` whose one line names the file: not audio at all, a WAV whose data chunk
is cut short (libsndfile reads what is there without a word), no samples, or more channels
than it can use.
:func:`resample` converts to the rate the model was trained at with a polyphase filter
(scipy), refusing to invent a band the recording never had.

soundfile is imported here only when a file is read: it is the ``rnnkit[audio]`` extra, and
the library's core needs torch alone.
"""

from __future__ import annotations

import math
import struct
from pathlib import Path

import numpy as np

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".aiff", ".aif")


class AudioFileError(OSError):
    """An audio file rnnkit cannot use (not audio, truncated, empty, a sample rate or channel
    count it cannot use). An ``OSError``: bad input data, which the commands report in one
    line with exit code 1, like a missing or unreadable file."""


MAX_CHANNELS = 2
"""Mono is used as is, stereo is averaged to mono; more channels are refused (which mix of a
surround recording is the speech is not ours to guess)."""


def _soundfile():
    try:
        import soundfile
    except ImportError as error:  # pragma: no cover - the extra is part of [dev]
        raise ImportError("reading audio needs soundfile: pip install 'rnnkit[audio]'") from error
    return soundfile


def read_audio(path: str | Path) -> tuple[np.ndarray, int]:
    """``(samples (S,) float32 in [-1, 1], sample rate)`` of an audio file, mixed to mono.

    Raises:
        FileNotFoundError: no file at ``path``.
        AudioFileError: ``"<path>: ..."`` for a file that is not audio, a truncated WAV, a file
            with no samples, or more than :data:`MAX_CHANNELS` channels.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(2, "audio file not found", str(path))
    soundfile = _soundfile()
    check_wav_complete(path)
    try:
        samples, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except (RuntimeError, OSError) as error:  # soundfile's errors derive from RuntimeError
        message = str(error).replace(f"Error opening {str(path)!r}: ", "")
        raise AudioFileError(f"{path}: cannot read it as audio ({message})") from None
    frames, channels = samples.shape
    if channels > MAX_CHANNELS:
        raise AudioFileError(
            f"{path}: {channels} channels; expected mono or stereo (stereo is averaged)"
        )
    if frames == 0:
        raise AudioFileError(f"{path}: holds no audio samples")
    mono = samples[:, 0] if channels == 1 else samples.mean(axis=1)
    return np.ascontiguousarray(mono, dtype=np.float32), int(rate)


def check_wav_complete(path: Path) -> None:
    """Raise an :class:`AudioFileError` naming ``path`` when it is a RIFF/WAVE file whose
    ``data`` chunk declares more bytes than the file holds (a copy or download cut short).
    Other formats, and WAVs written as streams (data size 0 or 0xFFFFFFFF), are left to
    libsndfile."""
    with open(path, "rb") as stream:
        header = stream.read(12)
        if len(header) < 12 or header[:4] != b"RIFF" or header[8:12] != b"WAVE":
            return
        size = path.stat().st_size
        position = 12
        while position + 8 <= size:
            stream.seek(position)
            chunk_id, chunk_size = struct.unpack("<4sI", stream.read(8))
            if chunk_id == b"data":
                available = size - position - 8
                if chunk_size not in (0, 0xFFFFFFFF) and chunk_size > available:
                    raise AudioFileError(
                        f"{path}: truncated WAV: its header declares {chunk_size} bytes of "
                        f"audio, the file holds {available}"
                    )
                return
            position += 8 + chunk_size + (chunk_size & 1)
    raise AudioFileError(f"{path}: truncated WAV: no 'data' chunk before the end of the file")


def resample(samples: np.ndarray, rate: int, target_rate: int, source: str = "audio") -> np.ndarray:
    """``samples`` at ``rate`` converted to ``target_rate`` (polyphase FIR, scipy).

    Downsampling low-pass filters first; upsampling is refused: a recording at a lower rate
    than the model's has no content in the band above its own Nyquist frequency, which the
    model learned to use.

    Raises:
        AudioFileError: ``"<source>: ..."`` for a rate below ``target_rate`` or not positive.
    """
    if rate == target_rate:
        return samples
    if rate < target_rate:
        raise AudioFileError(
            f"{source}: sample rate {rate} Hz is below the model's {target_rate} Hz "
            f"(data.sample_rate); expected a recording at {target_rate} Hz or more"
        )
    from scipy.signal import resample_poly

    divisor = math.gcd(int(rate), int(target_rate))
    resampled = resample_poly(samples, target_rate // divisor, rate // divisor)
    return resampled.astype(np.float32)


def write_wav(path: str | Path, samples: np.ndarray, rate: int) -> None:
    """Write mono float samples in [-1, 1] as 16-bit PCM WAV (for predictions and tests)."""
    _soundfile().write(str(path), np.clip(samples, -1.0, 1.0), int(rate), subtype="PCM_16")
