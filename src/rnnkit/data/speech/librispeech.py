"""Speech in LibriSpeech's layout: ``*.trans.txt`` files beside the recordings they transcribe.

LibriSpeech keeps ``<split>/<speaker>/<chapter>/<speaker>-<chapter>.trans.txt``, each line
``<utterance id> <TRANSCRIPT>``, next to ``<utterance id>.flac``; the same layout with WAV
files works too. Each split is a folder under ``path`` (``train-clean-100``, ``dev-clean``,
``test-clean`` by default); every transcript file below it is read, in sorted order.

A line without a transcript stops with its file and line (``on_bad_line=skip`` drops it with
one counted warning), as does a line whose audio file is not beside it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rnnkit.data.builtin import check_split
from rnnkit.data.io.reading import BadLinePolicy, check_on_bad_line, read_lines
from rnnkit.data.speech.datamodule import SpeechDataModule

AUDIO_EXTENSIONS = (".flac", ".wav")


def read_transcripts(folder: Path, on_bad_line: str = "error") -> list[dict[str, Any]]:
    """Raw examples ``{"path", "transcript", "source", "origin"}`` of every ``*.trans.txt``
    under ``folder``."""
    if not folder.is_dir():
        raise FileNotFoundError(2, "LibriSpeech split folder not found", str(folder))
    files = sorted(folder.rglob("*.trans.txt"))
    if not files:
        raise ValueError(f"{folder}: expected *.trans.txt transcript files below it, found none")
    examples = []
    with BadLinePolicy(folder, on_bad_line) as policy:
        for file in files:
            for line, text in read_lines(file, policy):
                if not text.strip():
                    continue
                utterance, _, transcript = text.strip().partition(" ")
                if not transcript.strip():
                    policy.report(f"empty transcript for {utterance}", line, path=file)
                    continue
                audio = next(
                    (
                        file.parent / f"{utterance}{suffix}"
                        for suffix in AUDIO_EXTENSIONS
                        if (file.parent / f"{utterance}{suffix}").is_file()
                    ),
                    None,
                )
                if audio is None:
                    policy.report(
                        f"no audio file {utterance}.flac or {utterance}.wav beside it", line, file
                    )
                    continue
                examples.append(
                    {
                        "path": str(audio),
                        "transcript": transcript,
                        "source": str(audio),
                        "origin": f"{file}, line {line}",
                    }
                )
    return examples


class LibriSpeechDataModule(SpeechDataModule):
    """Split folders of LibriSpeech-style transcripts and recordings under ``path``.

    Args:
        path: the folder holding the split folders (e.g. ``LibriSpeech/``).
        train_folder, val_folder, test_folder: the split folders' names.
        on_bad_line: ``error`` | ``skip`` for transcript lines without text or audio.
        Others: as :class:`~rnnkit.data.speech.datamodule.SpeechDataModule`; LibriSpeech is
        16 kHz, and its transcripts upper-case (``lowercase`` folds them).
    """

    def __init__(
        self,
        path: str,
        train_folder: str = "train-clean-100",
        val_folder: str = "dev-clean",
        test_folder: str = "test-clean",
        on_bad_line: str = "error",
        batch_size: int = 32,
        num_workers: int = 0,
        seed: int = 0,
        sample_rate: int = 16000,
        n_mels: int = 40,
        window_ms: float = 25.0,
        hop_ms: float = 10.0,
        f_min: float = 20.0,
        alphabet: str | None = None,
        lowercase: bool = True,
    ) -> None:
        super().__init__(
            batch_size, num_workers, seed, sample_rate, n_mels, window_ms, hop_ms, f_min,
            alphabet, lowercase,
        )  # fmt: skip
        self.path = str(path)
        self.folders = {"train": train_folder, "val": val_folder, "test": test_folder}
        self.on_bad_line = check_on_bad_line(on_bad_line)

    def load_split(self, split: str) -> list[dict[str, Any]]:
        folder = Path(self.path) / self.folders[check_split(split)]
        return read_transcripts(folder, self.on_bad_line)
