"""Speech recognition data: recordings, each with its transcript, as log-mel frames and labels."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from rnnkit.data.datamodule import RnnkitDataModule, pad_sequences
from rnnkit.data.speech.audio import AUDIO_SUFFIXES, read_audio, resample
from rnnkit.data.speech.features import LogMel
from rnnkit.data.speech.word_hmm_baseline import WordHMMRecogniser

HMM_MAX_UTTERANCES = 2_000
"""The most training utterances the word-HMM baseline is trained on (evenly spaced through a
larger split): its segmental k-means runs a Viterbi alignment per utterance and iteration."""


def labels_to_text(labels: list[int], characters: str) -> str:
    """Labels ``1..len(characters)`` back to text (0, the blank, and anything else dropped)."""
    return "".join(characters[i - 1] for i in labels if 0 < i <= len(characters))


class SpeechDataModule(RnnkitDataModule):
    """Audio in, log-mel features and character labels out; subclasses say where raw examples
    come from (:meth:`load_split`).

    A raw example is ``{"transcript": str or None, "source": str}`` with either ``"path"`` (an
    audio file, read when encoded) or ``"audio"`` (float samples) and ``"sample_rate"``;
    optionally ``"origin"`` (where the transcript was read, e.g. ``"train.tsv, line 7"``) for
    errors about the transcript. Subclasses may override :meth:`waveform` instead (audio made
    on the fly).

    Audio is mixed to mono, resampled to ``sample_rate`` (:mod:`rnnkit.data.speech.audio`) and
    turned into ``n_mels`` log-mel energies every ``hop_ms``
    (:class:`~rnnkit.data.speech.features.LogMel`). Transcripts are lower-cased (``lowercase``)
    with runs of white space made one space; an empty one is an error naming its example.

    Fitted on the training split: the alphabet (the characters of the training transcripts,
    sorted; or the configured ``alphabet``, and then a training character outside it is an
    error), the words of the training transcripts (sorted; the lexicon of ``model.lexicon``)
    and the mean and standard deviation of every mel band. Label 0 is the CTC blank,
    label ``i + 1`` the alphabet's ``i``-th character; a character outside the alphabet in any
    split is an error naming the example.

    Batches: ``features (N, T, n_mels)`` float (normalised, zero past ``lengths``),
    ``lengths (N,)``, ``targets (N, S)`` long (0-padded), ``target_lengths (N,)``,
    ``transcripts`` and ``sources``. Prediction batches have no target entries.
    """

    task = "speech"
    # rnnkit-predict input_file= is one audio file (or a folder of them), not lines of text.
    input_file_is_one_input = True

    def __init__(
        self,
        batch_size: int = 32,
        num_workers: int = 0,
        seed: int = 0,
        sample_rate: int = 8000,
        n_mels: int = 40,
        window_ms: float = 25.0,
        hop_ms: float = 10.0,
        f_min: float = 20.0,
        alphabet: str | None = None,
        lowercase: bool = True,
    ) -> None:
        super().__init__(batch_size, num_workers, seed)
        self.sample_rate = sample_rate
        self.n_mels = n_mels
        self.window_ms = float(window_ms)
        self.hop_ms = float(hop_ms)
        self.f_min = float(f_min)
        self.lowercase = bool(lowercase)
        if alphabet is not None and (not isinstance(alphabet, str) or not alphabet):
            raise ValueError(
                f"alphabet: expected a non-empty string of characters or null, got {alphabet!r}"
            )
        if alphabet is not None and len(set(alphabet)) != len(alphabet):
            raise ValueError(f"alphabet: expected each character once, got {alphabet!r}")
        self.alphabet = alphabet
        self.log_mel = LogMel(sample_rate, n_mels, self.window_ms, self.hop_ms, self.f_min)
        self.characters: str = ""
        self.words: list[str] = []
        self.feature_mean: list[float] = []
        self.feature_std: list[float] = []

    # ---- audio -------------------------------------------------------------------------

    def waveform(self, example: dict[str, Any]) -> np.ndarray:
        """The example's samples at ``sample_rate``, mono float32."""
        source = str(example.get("source", "the data"))
        if "path" in example:
            samples, rate = read_audio(example["path"])
        elif "audio" in example:
            samples, rate = np.asarray(example["audio"], dtype=np.float32), example["sample_rate"]
        else:
            raise ValueError(f"example {source}: expected a 'path' or an 'audio' entry")
        return resample(samples, int(rate), self.sample_rate, source)

    def features(self, example: dict[str, Any]) -> torch.Tensor:
        """``(frames, n_mels)`` log-mel energies of the example, not normalised."""
        return self.log_mel(self.waveform(example))

    def first_example(self, split: str) -> tuple[np.ndarray, str]:
        """Samples at ``sample_rate`` and transcript of ``split``'s first raw example (for the
        audio logged to TensorBoard)."""
        example = next(iter(self.load_split(split)))
        return self.waveform(example), self.transcript(example)

    # ---- transcripts -------------------------------------------------------------------

    def transcript(self, example: dict[str, Any]) -> str:
        """The example's transcript, normalised; a ValueError naming it when empty."""
        text = example.get("transcript")
        where = example.get("origin") or example.get("source", "the data")
        if not isinstance(text, str):
            raise ValueError(f"{where}: expected a transcript string, got {type(text).__name__}")
        text = " ".join(text.split())
        if not text:
            raise ValueError(f"{where}: empty transcript; expected at least one character")
        return text.lower() if self.lowercase else text

    def label_ids(self, text: str, where: str) -> list[int]:
        """Characters to labels ``1..len(alphabet)`` (0 is the blank)."""
        index = {c: i + 1 for i, c in enumerate(self.characters)}
        try:
            return [index[c] for c in text]
        except KeyError as error:
            raise ValueError(
                f"{where}: character {error.args[0]!r} of transcript {text!r} is not in the "
                f"alphabet {self.characters!r}"
            ) from None

    def decode_labels(self, labels: list[int]) -> str:
        """Labels (blank-free) back to text."""
        return labels_to_text(labels, self.characters)

    # ---- the contract ------------------------------------------------------------------

    def fit_artifacts(self, train_examples: list[dict[str, Any]]) -> None:
        if not train_examples:
            raise ValueError("train split: expected at least one example, got none")
        texts = [self.transcript(e) for e in train_examples]
        self.words = sorted({word for text in texts for word in text.split(" ")})
        if self.alphabet is None:
            self.characters = "".join(sorted(set("".join(texts))))
        else:
            self.characters = self.alphabet
            for text, example in zip(texts, train_examples):
                self.label_ids(text, example.get("origin") or example.get("source", "train"))
        total = np.zeros(self.n_mels)
        squares = np.zeros(self.n_mels)
        frames = 0
        for example in train_examples:
            features = self.features(example).double().numpy()
            total += features.sum(0)
            squares += (features**2).sum(0)
            frames += features.shape[0]
        mean = total / frames
        std = np.sqrt(np.maximum(squares / frames - mean**2, 1e-8))
        self.feature_mean = mean.tolist()
        self.feature_std = std.tolist()

    def artifacts(self) -> dict[str, Any]:
        return {
            "characters": self.characters,
            "words": self.words,
            "feature_mean": self.feature_mean,
            "feature_std": self.feature_std,
        }

    def load_artifacts(self, artifacts: dict[str, Any]) -> None:
        self.characters = str(artifacts["characters"])
        self.words = list(artifacts.get("words", []))  # none in checkpoints before 2026-12-05
        self.feature_mean = list(artifacts["feature_mean"])
        self.feature_std = list(artifacts["feature_std"])
        if len(self.feature_mean) != self.n_mels:
            raise ValueError(
                f"n_mels: the fitted features have {len(self.feature_mean)} mel bands, "
                f"got n_mels={self.n_mels}"
            )

    def normalise(self, features: torch.Tensor) -> torch.Tensor:
        mean = torch.tensor(self.feature_mean, dtype=features.dtype)
        std = torch.tensor(self.feature_std, dtype=features.dtype)
        return (features - mean) / std

    def encode(self, example: dict[str, Any]) -> dict[str, Any]:
        source = str(example.get("source", "the data"))
        encoded: dict[str, Any] = {
            "features": self.normalise(self.features(example)),
            "source": source,
            "labels": None,
            "transcript": None,
        }
        if example.get("transcript") is not None or "transcript" not in example:
            text = self.transcript(example)
            encoded["labels"] = self.label_ids(text, example.get("origin") or source)
            encoded["transcript"] = text
        return encoded

    def word_hmm_baseline(self) -> WordHMMRecogniser | None:
        """Whole-word HMMs trained on the training split's features and transcripts
        (:mod:`~rnnkit.data.speech.word_hmm_baseline`), on first use, from at most
        :data:`HMM_MAX_UTTERANCES` utterances; None when the split streams from an export."""

        def fit(train: Any) -> WordHMMRecogniser | None:
            examples = [train[i] for i in range(len(train))]
            return WordHMMRecogniser().fit(
                [e["features"] for e in examples], [e["transcript"] for e in examples]
            )

        return self.fitted_baseline("word_hmm_baseline", fit, max_examples=HMM_MAX_UTTERANCES)

    def collate(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        lengths = torch.tensor([e["features"].shape[0] for e in examples], dtype=torch.long)
        features = torch.zeros(len(examples), int(lengths.max()), self.n_mels)
        for row, example in enumerate(examples):
            features[row, : lengths[row]] = example["features"]
        batch: dict[str, Any] = {
            "features": features,
            "lengths": lengths,
            "sources": [e["source"] for e in examples],
        }
        if all(e["labels"] is not None for e in examples):
            targets, target_lengths = pad_sequences([e["labels"] for e in examples])
            batch.update(
                targets=targets,
                target_lengths=target_lengths,
                transcripts=[e["transcript"] for e in examples],
            )
        return batch

    @property
    def spec(self) -> dict[str, Any]:
        return {
            "num_features": self.n_mels,
            "num_labels": len(self.characters) + 1,
            "blank_index": 0,
            "characters": self.characters,
            "words": self.words,
            "frames_per_second": 1000.0 / self.hop_ms,
        }

    def parse_raw(self, raw: str) -> list[dict[str, Any]]:
        """An audio file (WAV, FLAC, ...), or a folder of them (sorted by name), to transcribe.

        A missing file raises FileNotFoundError; one that is not usable audio a ValueError
        naming it (see :func:`~rnnkit.data.speech.audio.read_audio`).
        """
        path = Path(raw)
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES)
            if not files:
                raise ValueError(
                    f"{path}: expected audio files ({', '.join(AUDIO_SUFFIXES)}) in this "
                    "folder, found none"
                )
        elif path.is_file():
            files = [path]
        else:
            raise FileNotFoundError(2, "audio file not found", str(path))
        return [{"path": str(file), "transcript": None, "source": str(file)} for file in files]
