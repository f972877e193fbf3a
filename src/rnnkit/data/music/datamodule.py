"""Polyphonic music data: pieces as piano rolls, for next-step (Bernoulli per key) modelling."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rnnkit.data.datamodule import RnnkitDataModule
from rnnkit.data.music.midi import MIDI_SUFFIXES, read_midi
from rnnkit.data.music.piano_roll import (
    LOWEST_PITCH,
    NUM_KEYS,
    RESOLUTIONS,
    Pitches,
    check_pitches,
    steps_per_quarter,
    transpose,
)
from rnnkit.data.music.roll_files import ROLL_SUFFIXES, read_roll_file
from rnnkit.data.music.scores import SCORE_SUFFIXES, read_score

MUSIC_SUFFIXES = (*MIDI_SUFFIXES, *SCORE_SUFFIXES)
"""Files of single pieces (or ABC tune books) a folder of music may hold."""
MAX_TRANSPOSE = 11


class MusicDataModule(RnnkitDataModule):
    """Pieces of polyphonic music as binary piano rolls over the 88 piano keys.

    Raw examples are ``{"name": str, "pitches": [[MIDI pitch, ...] per time step]}`` (the
    benchmarks' format, :mod:`rnnkit.data.music.piano_roll`), returned by :meth:`pieces`;
    time steps are ``resolution`` long (``quarter``, ``eighth`` or ``sixteenth``).

    Args:
        resolution: the length of a time step when reading MIDI and scores (piano-roll
            files come with their own).
        transpose: augment the training split with copies of every piece moved by each of
            ``-transpose .. +transpose`` semitones (0: none; a copy that would leave the
            piano's range is skipped). Validation and test are never transposed.
        cache_dir, rebuild_cache, prepare_workers: the prepared-data cache (see
            :class:`~rnnkit.data.datamodule.RnnkitDataModule`): parsing scores is slow, so
            pieces are parsed once per files and settings and memory-mapped afterwards.

    Fitted on the training split: how often each key sounds (:meth:`key_probabilities`), the
    order-blind baseline (one independent Bernoulli per key, whatever came before).

    Encoded examples: ``notes`` (the key indices ``pitch - 21`` of every step, concatenated),
    ``polyphony`` (how many keys sound at each step) and ``name`` (UTF-8 bytes).

    Batches: ``rolls (N, L, 88)`` float32 in {0, 1}, zero past each piece's end, ``lengths
    (N,)`` (steps per piece) and ``names`` (a list of N strings).
    """

    task = "music"
    # rnnkit-predict input_file= is one seed file (MIDI, MusicXML, a roll file), not lines.
    input_file_is_one_input = True
    # Pieces encode the same whatever was fitted (the key frequencies of the baseline): a
    # checkpoint's datamodule reads the cache its training prepared.
    encoding_uses_artifacts = False

    def __init__(
        self,
        batch_size: int = 16,
        num_workers: int = 0,
        seed: int = 0,
        resolution: str = "quarter",
        transpose: int = 0,
        cache_dir: str | os.PathLike | None = None,
        rebuild_cache: bool = False,
        prepare_workers: int | None = None,
    ) -> None:
        super().__init__(batch_size, num_workers, seed, cache_dir, rebuild_cache, prepare_workers)
        self.steps_per_beat = steps_per_quarter(resolution)
        self.resolution = resolution
        if (
            isinstance(transpose, bool)
            or not isinstance(transpose, int)
            or not 0 <= transpose <= MAX_TRANSPOSE
        ):
            raise ValueError(
                f"transpose: expected an integer from 0 to {MAX_TRANSPOSE} (semitones each "
                f"way), got {transpose!r}"
            )
        self.transpose = transpose
        self._key_counts = np.zeros(NUM_KEYS, dtype=np.int64)
        self._train_steps = 0

    # ---- what a subclass defines ---------------------------------------------------------

    def pieces(self, split: str) -> Iterable[dict[str, Any]]:
        """Raw pieces of ``split`` (train, val, test): ``{"name", "pitches"}``."""
        raise NotImplementedError

    # ---- the datamodule contract -----------------------------------------------------------

    def load_split(self, split: str) -> Iterator[dict[str, Any]]:
        """:meth:`pieces`, and for training their transposed copies (``transpose``)."""
        for piece in self.pieces(split):
            yield piece
            if split != "train":
                continue
            for semitones in range(-self.transpose, self.transpose + 1):
                moved = transpose(piece["pitches"], semitones) if semitones else None
                if moved is not None:
                    yield {"name": f"{piece['name']}{semitones:+d}", "pitches": moved}

    def fit_artifacts(self, train_examples: Iterable[dict[str, Any]]) -> None:
        counts = np.zeros(NUM_KEYS, dtype=np.int64)
        steps = 0
        for example in train_examples:
            pitches = self._checked(example)
            steps += len(pitches)
            for step in pitches:
                counts[np.asarray(step, dtype=np.int64) - LOWEST_PITCH] += 1
        if steps == 0:
            raise ValueError("train: no pieces to train on")
        self._key_counts, self._train_steps = counts, steps

    def artifacts(self) -> dict[str, Any]:
        return {
            "key_counts": self._key_counts.tolist(),
            "train_steps": self._train_steps,
            "resolution": self.resolution,
        }

    def load_artifacts(self, artifacts: dict[str, Any]) -> None:
        counts = artifacts.get("key_counts")
        if not isinstance(counts, list) or len(counts) != NUM_KEYS:
            raise ValueError(f"key_counts: expected {NUM_KEYS} counts, got {counts!r}")
        self._key_counts = np.asarray(counts, dtype=np.int64)
        self._train_steps = int(artifacts.get("train_steps", 0))

    def key_probabilities(self) -> torch.Tensor:
        """``(88,)`` how often each key sounds in a training step, add-one smoothed."""
        return torch.from_numpy((self._key_counts + 1.0) / (self._train_steps + 2.0)).float()

    def preparation_settings(self) -> dict[str, Any]:
        """The default settings without ``seed`` (the shuffling order only)."""
        settings = super().preparation_settings()
        settings.pop("seed", None)
        return settings

    def encoded_fields(self) -> dict[str, tuple[Any, bool]]:
        return {"notes": (np.uint8, True), "polyphony": (np.uint8, True), "name": (np.uint8, True)}

    def encode(self, example: dict[str, Any]) -> dict[str, Any]:
        pitches = self._checked(example)
        return {
            "notes": np.fromiter(
                (p - LOWEST_PITCH for step in pitches for p in step), dtype=np.uint8
            ),
            "polyphony": np.fromiter(map(len, pitches), dtype=np.uint8, count=len(pitches)),
            "name": np.frombuffer(str(example.get("name", "")).encode("utf-8"), dtype=np.uint8),
        }

    def collate(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        lengths = [len(e["polyphony"]) for e in examples]
        rolls = np.zeros((len(examples), max(lengths, default=0), NUM_KEYS), dtype=np.float32)
        for row, example in enumerate(examples):
            polyphony = np.asarray(example["polyphony"], dtype=np.int64)
            steps = np.repeat(np.arange(len(polyphony)), polyphony)
            rolls[row, steps, np.asarray(example["notes"], dtype=np.int64)] = 1.0
        return {
            "rolls": torch.from_numpy(rolls),
            "lengths": torch.tensor(lengths, dtype=torch.long),
            "names": [bytes(e["name"]).decode("utf-8") for e in examples],
        }

    @property
    def spec(self) -> dict[str, Any]:
        return {
            "num_keys": NUM_KEYS,
            "lowest_pitch": LOWEST_PITCH,
            "steps_per_beat": self.steps_per_beat,
        }

    # ---- prediction input ------------------------------------------------------------------

    def parse_raw(self, raw: str) -> list[dict[str, Any]]:
        """A seed to continue: a MIDI file, a MusicXML or ABC score (its first piece), or a
        piano-roll JSON/pickle (its first test piece)."""
        path = Path(raw)
        if not path.is_file():
            raise FileNotFoundError(2, "seed file not found", str(path))
        name, pitches = read_music_file(path, self.steps_per_beat)[0]
        return [{"name": name, "pitches": pitches}]

    def batch_without_input(self) -> dict[str, Any]:
        """No seed: ``rolls (1, 0, 88)`` (generation starts from nothing)."""
        return {
            "rolls": torch.zeros(1, 0, NUM_KEYS),
            "lengths": torch.zeros(1, dtype=torch.long),
            "names": ["(no seed)"],
        }

    def summary(self) -> dict[str, Any]:
        summary = super().summary()
        summary["resolution"] = self.resolution
        return summary

    # ---- helpers ---------------------------------------------------------------------------

    @staticmethod
    def _checked(example: dict[str, Any]) -> Pitches:
        return check_pitches(example.get("pitches"), str(example.get("name", "a piece")))


def read_music_file(
    path: str | Path, steps_per_beat: int, parts: Sequence[str] | None = None
) -> list[tuple[str, Pitches]]:
    """``(name, time steps)`` of every piece in a MIDI file, a MusicXML/ABC score (``parts``:
    see :func:`~rnnkit.data.music.scores.read_score`) or a piano-roll file (its pieces of every
    split, ``<file>:<split>[i]``), by the file's suffix."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in MIDI_SUFFIXES:
        return [(path.stem, read_midi(path, steps_per_beat))]
    if suffix in SCORE_SUFFIXES:
        return read_score(path, steps_per_beat, parts)
    if suffix in ROLL_SUFFIXES:
        splits = read_roll_file(path)
        return [
            (f"{path.stem}:{split}[{i}]", piece)
            for split in ("test", "val", "train")
            for i, piece in enumerate(splits[split])
        ]
    raise ValueError(
        f"{path}: not a music file; expected one of {', '.join(MUSIC_SUFFIXES + ROLL_SUFFIXES)}"
    )


__all__ = ["RESOLUTIONS", "MusicDataModule", "read_music_file"]
