"""Reading audio: samples as written, stereo mixed to mono, resampling, and one line naming the
file for a truncated WAV, a file that is not audio, no samples, or too many channels."""

from __future__ import annotations

import numpy as np
import pytest

from rnnkit.data.speech.audio import AudioFileError, read_audio, resample, write_wav
from speech_audio import digit_tone
from speech_audio import write_wav as write_pcm_wav


def test_a_wav_reads_back_as_written_and_stereo_is_averaged(tmp_path):
    tone = digit_tone(3)
    samples, rate = read_audio(write_pcm_wav(tmp_path / "mono.wav", tone))
    assert rate == 8000 and samples.dtype == np.float32
    np.testing.assert_allclose(samples, tone, atol=2 / 32767)
    stereo, _ = read_audio(write_pcm_wav(tmp_path / "stereo.wav", tone, channels=2))
    np.testing.assert_allclose(stereo, samples)


def test_flac_is_read_too(tmp_path):
    tone = digit_tone(5)
    soundfile = pytest.importorskip("soundfile")
    soundfile.write(str(tmp_path / "tone.flac"), tone, 16000)
    samples, rate = read_audio(tmp_path / "tone.flac")
    assert rate == 16000
    np.testing.assert_allclose(samples, tone, atol=2 / 32767)


def test_resampling_keeps_a_tone_at_its_frequency():
    t = np.arange(16000) / 16000
    tone = np.sin(2 * np.pi * 1000.0 * t).astype(np.float32)
    down = resample(tone, 16000, 8000)
    assert down.shape == (8000,)
    spectrum = np.abs(np.fft.rfft(down))
    assert np.argmax(spectrum) == 1000  # 1 Hz per bin over one second
    assert resample(tone, 16000, 16000) is tone


def test_resampling_up_is_refused_naming_the_source():
    with pytest.raises(
        AudioFileError, match=r"low.wav: sample rate 4000 Hz is below the model's 8000"
    ):
        resample(np.zeros(10, np.float32), 4000, 8000, "low.wav")


def test_a_truncated_wav_is_refused_naming_it(tmp_path):
    whole = write_pcm_wav(tmp_path / "whole.wav", digit_tone(1)).read_bytes()
    (tmp_path / "cut.wav").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(
        AudioFileError, match=r"cut.wav: truncated WAV: its header declares 2400 bytes"
    ):
        read_audio(tmp_path / "cut.wav")
    (tmp_path / "header.wav").write_bytes(whole[:30])
    with pytest.raises(AudioFileError, match=r"header.wav: truncated WAV: no 'data' chunk"):
        read_audio(tmp_path / "header.wav")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"this is not audio at all, just text " * 4, "cannot read it as audio"),
        (b"", "cannot read it as audio"),
    ],
    ids=["text", "empty-file"],
)
def test_a_file_that_is_not_audio_is_refused_naming_it(tmp_path, content, message):
    (tmp_path / "notes.wav").write_bytes(content)
    with pytest.raises(AudioFileError, match=rf"notes.wav: {message}"):
        read_audio(tmp_path / "notes.wav")


def test_no_samples_or_too_many_channels_are_refused(tmp_path):
    with pytest.raises(AudioFileError, match="silent.wav: holds no audio samples"):
        read_audio(write_pcm_wav(tmp_path / "silent.wav", np.zeros(0, np.float32)))
    with pytest.raises(AudioFileError, match="surround.wav: 6 channels; expected mono or stereo"):
        read_audio(write_pcm_wav(tmp_path / "surround.wav", digit_tone(2), channels=6))
    with pytest.raises(FileNotFoundError, match="audio file not found"):
        read_audio(tmp_path / "missing.wav")


def test_write_wav_round_trips(tmp_path):
    tone = digit_tone(7)
    write_wav(tmp_path / "out.wav", tone, 8000)
    samples, rate = read_audio(tmp_path / "out.wav")
    assert rate == 8000
    np.testing.assert_allclose(samples, tone, atol=2 / 32767)
