"""Connected digits from the Free Spoken Digit Dataset (FSDD), or any recordings named like it.

FSDD (Jackson et al.) holds single spoken digits named ``{digit}_{speaker}_{index}.wav``; its
standard test split is the recordings with index 0-4. To make the model transcribe sequences
rather than classify one word, every utterance here joins 1-7 recordings of one speaker with
random silences between them, each at a random gain, optionally with white noise, and its
transcript is the digits' words (``"seven three one"``) or figures (``"7 3 1"``).

**Splits, by recording**: each recording belongs to one split and utterances of a split are
made from its recordings only. By index: ``test_indices`` (``[0, 4]``, FSDD's test set) is
test, ``val_indices`` (``[5, 9]``) validation, the rest training. With ``test_speakers``
(speaker-independent): every recording of those speakers is test, and the other speakers'
recordings in either index range are validation.

**Utterances**: ``<split>_passes`` times over the split's recordings, each speaker's
recordings are shuffled and cut into runs of ``min_digits..max_digits``; every recording is
thus used once per pass. Everything is drawn from ``data_seed`` and the split, so a split is
the same on every run and machine. Audio is made on the fly from the recordings (read once,
kept at ``sample_rate``): the raw examples are only recipes.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from rnnkit.data.builtin import check_split
from rnnkit.data.speech.audio import read_audio, resample
from rnnkit.data.speech.datamodule import SpeechDataModule

FSDD_NAME = re.compile(r"^(\d)_([^_]+)_(\d+)\.wav$", re.IGNORECASE)
DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
SPLIT_NUMBERS = {"train": 0, "val": 1, "test": 2}


def _range(value: Any, name: str, kind: type = int) -> tuple[Any, Any]:
    if (
        not isinstance(value, (list, tuple))
        or len(value) != 2
        or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
        or value[0] > value[1]
        or (kind is int and not all(isinstance(v, int) for v in value))
    ):
        raise ValueError(f"{name}: expected [low, high] with low <= high, got {value!r}")
    return kind(value[0]), kind(value[1])


class FsddDigitsDataModule(SpeechDataModule):
    """Connected-digit utterances made from FSDD-named recordings (see the module docstring).

    Args:
        path: the FSDD folder (its ``recordings/`` subfolder is used when present).
        data_seed: seed of the utterances (not of training).
        test_indices, val_indices: ``[low, high]`` recording indices (inclusive) of test and
            validation.
        test_speakers: speakers whose recordings are the whole test split (speaker
            independent); null: split by index.
        min_digits, max_digits: digits per utterance.
        train_passes, val_passes, test_passes: passes over each split's recordings.
        gap_seconds: ``[low, high]`` silence between two digits (uniform).
        edge_seconds: ``[low, high]`` silence before the first and after the last digit.
        gain_db: ``[low, high]`` gain of each digit in dB (uniform).
        noise_snr_db: ``[low, high]`` signal-to-noise ratio of white noise added to each
            utterance; null: none.
        transcript: ``words`` ("seven three") or ``digits`` ("7 3").
        Others: as :class:`~rnnkit.data.speech.datamodule.SpeechDataModule`.
    """

    def __init__(
        self,
        path: str,
        batch_size: int = 32,
        num_workers: int = 0,
        seed: int = 0,
        data_seed: int = 0,
        test_indices: list[int] | tuple[int, int] = (0, 4),
        val_indices: list[int] | tuple[int, int] = (5, 9),
        test_speakers: list[str] | None = None,
        min_digits: int = 1,
        max_digits: int = 7,
        train_passes: int = 8,
        val_passes: int = 1,
        test_passes: int = 4,
        gap_seconds: list[float] | tuple[float, float] = (0.05, 0.3),
        edge_seconds: list[float] | tuple[float, float] = (0.05, 0.2),
        gain_db: list[float] | tuple[float, float] = (-6.0, 6.0),
        noise_snr_db: list[float] | None = None,
        transcript: str = "words",
        sample_rate: int = 8000,
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
        self.data_seed = int(data_seed)
        self.test_indices = list(_range(test_indices, "test_indices"))
        self.val_indices = list(_range(val_indices, "val_indices"))
        if test_speakers is not None and (
            isinstance(test_speakers, str)
            or not all(isinstance(s, str) and s for s in test_speakers)
            or not test_speakers
        ):
            raise ValueError(
                f"test_speakers: expected a list of speaker names or null, got {test_speakers!r}"
            )
        self.test_speakers = None if test_speakers is None else sorted(test_speakers)
        self.min_digits, self.max_digits = _range(
            [min_digits, max_digits], "min_digits, max_digits"
        )
        if self.min_digits < 1:
            raise ValueError(f"min_digits: expected a positive integer, got {min_digits!r}")
        self.passes = {}
        for split, passes in zip(SPLIT_NUMBERS, (train_passes, val_passes, test_passes)):
            if isinstance(passes, bool) or not isinstance(passes, int) or passes < 1:
                raise ValueError(f"{split}_passes: expected a positive integer, got {passes!r}")
            self.passes[split] = passes
        self.gap_seconds = list(_range(gap_seconds, "gap_seconds", float))
        self.edge_seconds = list(_range(edge_seconds, "edge_seconds", float))
        self.gain_db = list(_range(gain_db, "gain_db", float))
        if min(self.gap_seconds + self.edge_seconds) < 0:
            raise ValueError("gap_seconds, edge_seconds: expected durations >= 0")
        self.noise_snr_db = (
            None if noise_snr_db is None else list(_range(noise_snr_db, "noise_snr_db", float))
        )
        if transcript not in ("words", "digits"):
            raise ValueError(f"transcript: expected 'words' or 'digits', got {transcript!r}")
        self.transcript_kind = transcript
        self._audio: dict[str, np.ndarray] = {}

    # ---- the recordings ----------------------------------------------------------------

    def folder(self) -> Path:
        root = Path(self.path)
        if not root.is_dir():
            raise FileNotFoundError(
                2,
                "FSDD folder not found (data.path; set RNNKIT_DATA_ROOT to the folder that "
                "holds fsdd/)",
                str(root),
            )
        return root / "recordings" if (root / "recordings").is_dir() else root

    def recordings(self) -> list[tuple[int, str, int, Path]]:
        """``(digit, speaker, index, file)`` of every FSDD-named WAV, sorted by file name."""
        folder = self.folder()
        found = []
        for file in sorted(folder.glob("*.[wW][aA][vV]")):
            match = FSDD_NAME.match(file.name)
            if match:
                found.append((int(match[1]), match[2], int(match[3]), file))
        if not found:
            raise ValueError(
                f"{folder}: expected recordings named {{digit}}_{{speaker}}_{{index}}.wav, "
                "found none"
            )
        if self.test_speakers is not None:
            speakers = {speaker for _, speaker, _, _ in found}
            unknown = sorted(set(self.test_speakers) - speakers)
            if unknown:
                raise ValueError(
                    f"test_speakers: {unknown} not among the speakers of {folder}: "
                    f"{sorted(speakers)}"
                )
            if speakers <= set(self.test_speakers):
                raise ValueError(
                    "test_speakers: expected at least one speaker left for training, got "
                    f"every speaker of {folder}"
                )
        return found

    def split_of(self, speaker: str, index: int) -> str:
        in_test = self.test_indices[0] <= index <= self.test_indices[1]
        in_val = self.val_indices[0] <= index <= self.val_indices[1]
        if self.test_speakers is not None:
            if speaker in self.test_speakers:
                return "test"
            return "val" if in_test or in_val else "train"
        return "test" if in_test else "val" if in_val else "train"

    # ---- utterances --------------------------------------------------------------------

    def load_split(self, split: str) -> list[dict[str, Any]]:
        check_split(split)
        by_speaker: dict[str, list[tuple[int, Path]]] = defaultdict(list)
        for digit, speaker, index, file in self.recordings():
            if self.split_of(speaker, index) == split:
                by_speaker[speaker].append((digit, file))
        if not by_speaker:
            raise ValueError(
                f"{self.folder()}: no recordings for the {split} split (test_indices="
                f"{self.test_indices}, val_indices={self.val_indices}, test_speakers="
                f"{self.test_speakers})"
            )
        rng = np.random.default_rng([self.data_seed, SPLIT_NUMBERS[split]])
        examples = []
        for _ in range(self.passes[split]):
            for speaker in sorted(by_speaker):
                files = by_speaker[speaker]
                order = rng.permutation(len(files))
                start = 0
                while start < len(order):
                    count = int(rng.integers(self.min_digits, self.max_digits + 1))
                    chosen = [files[i] for i in order[start : start + count]]
                    start += count
                    examples.append(self._recipe(split, len(examples), chosen, rng))
        return examples

    def _recipe(
        self, split: str, number: int, chosen: list[tuple[int, Path]], rng: np.random.Generator
    ) -> dict[str, Any]:
        gaps = rng.uniform(*self.gap_seconds, size=len(chosen) - 1).tolist()
        edges = rng.uniform(*self.edge_seconds, size=2).tolist()
        gains = rng.uniform(*self.gain_db, size=len(chosen)).tolist()
        snr = None if self.noise_snr_db is None else float(rng.uniform(*self.noise_snr_db))
        digits = [digit for digit, _ in chosen]
        words = [DIGIT_WORDS[d] if self.transcript_kind == "words" else str(d) for d in digits]
        files = [str(file) for _, file in chosen]
        return {
            "files": files,
            "silences": [edges[0], *gaps, edges[1]],
            "gains_db": gains,
            "noise_snr_db": snr,
            "noise_seed": int(rng.integers(2**31)),
            "transcript": " ".join(words),
            "source": f"{split} utterance {number} ({' + '.join(Path(f).name for f in files)})",
        }

    def recording(self, file: str) -> np.ndarray:
        """One recording at ``sample_rate`` (read once, then kept)."""
        if file not in self._audio:
            samples, rate = read_audio(file)
            self._audio[file] = resample(samples, rate, self.sample_rate, file)
        return self._audio[file]

    def waveform(self, example: dict[str, Any]) -> np.ndarray:
        if "files" not in example:  # a user's file (prediction)
            return super().waveform(example)
        pieces = []
        silences = [np.zeros(round(s * self.sample_rate), np.float32) for s in example["silences"]]
        for silence, file, gain in zip(silences, example["files"], example["gains_db"]):
            pieces += [silence, self.recording(file) * np.float32(10.0 ** (gain / 20.0))]
        audio = np.concatenate([*pieces, silences[-1]])
        if example["noise_snr_db"] is not None:
            speech = np.concatenate(pieces[1::2])
            power = float(np.mean(speech.astype(np.float64) ** 2)) or 1e-10
            scale = np.sqrt(power / 10.0 ** (example["noise_snr_db"] / 10.0))
            noise = np.random.default_rng(example["noise_seed"]).standard_normal(audio.size)
            audio = audio + (scale * noise).astype(np.float32)
        return audio.astype(np.float32)
