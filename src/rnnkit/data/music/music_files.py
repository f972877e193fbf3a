"""Your own music: a benchmark piano-roll file, or a folder of MIDI, MusicXML and ABC files.

``data=music_files data.path=...``:

* a piano-roll file (``.json``, ``.pkl``, ``.pickle``: ``{"train", "valid", "test"}`` → pieces →
  time steps → MIDI pitches, as Boulanger-Lewandowski et al. distribute JSB Chorales,
  Nottingham, MuseData and Piano-midi.de): its own splits, its own time steps;
* a folder with ``train/``, ``valid/`` (or ``val/``) and ``test/`` subfolders of music files;
* any other folder: every music file under it (recursively), split by a hash of the file's
  relative path and ``data_seed`` into ``split_fractions`` (the same files always land in the
  same split, whatever else the folder holds).

MIDI files are read with ``mido``, scores with ``music21`` (the ``rnnkit[music]`` extra), both at
``resolution`` steps; see :mod:`rnnkit.data.music.midi` and :mod:`rnnkit.data.music.scores`.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from rnnkit.data.io.parallel_encoding import default_workers, map_ordered
from rnnkit.data.music.datamodule import MUSIC_SUFFIXES, MusicDataModule, read_music_file
from rnnkit.data.music.roll_files import ROLL_SUFFIXES, read_roll_file

SPLIT_FOLDERS = {"train": ("train",), "val": ("valid", "val"), "test": ("test",)}


class MusicFilesDataModule(MusicDataModule):
    """Pieces from ``path`` (see the module docstring).

    Args:
        path: a piano-roll file or a folder of music files.
        split_fractions: ``[train, val, test]`` shares of a folder without split subfolders.
        data_seed: seeds that split.
        parts: read only the score parts whose names start with these (MusicXML and ABC;
            see :func:`~rnnkit.data.music.scores.read_score`); None: every part.
        limit_files: read only the first ``n`` files of each split (quick tries, tests);
            None: all.
        Others: see :class:`~rnnkit.data.music.datamodule.MusicDataModule`.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        batch_size: int = 16,
        num_workers: int = 0,
        seed: int = 0,
        resolution: str = "quarter",
        transpose: int = 0,
        split_fractions: Sequence[float] = (0.8, 0.1, 0.1),
        data_seed: int = 0,
        parts: Sequence[str] | None = None,
        limit_files: int | None = None,
        cache_dir: str | os.PathLike | None = None,
        rebuild_cache: bool = False,
        prepare_workers: int | None = None,
    ) -> None:
        super().__init__(
            batch_size,
            num_workers,
            seed,
            resolution,
            transpose,
            cache_dir,
            rebuild_cache,
            prepare_workers,
        )
        self.path = str(path)
        fractions = list(split_fractions)
        if (
            len(fractions) != 3
            or not all(isinstance(f, (int, float)) and f >= 0 for f in fractions)
            or abs(sum(fractions) - 1.0) > 1e-6
            or min(fractions[0], fractions[2]) <= 0
        ):
            raise ValueError(
                f"split_fractions: expected [train, val, test] shares adding up to 1 (train "
                f"and test above 0), got {fractions!r}"
            )
        self.split_fractions = [float(f) for f in fractions]
        self.data_seed = data_seed
        if parts is not None and (
            isinstance(parts, str) or not all(isinstance(p, str) and p for p in parts)
        ):
            raise ValueError(f"parts: expected a list of part names or null, got {parts!r}")
        self.parts = None if parts is None else list(parts)
        if limit_files is not None and (
            isinstance(limit_files, bool) or not isinstance(limit_files, int) or limit_files < 1
        ):
            raise ValueError(
                f"limit_files: expected a positive integer or null, got {limit_files!r}"
            )
        self.limit_files = limit_files
        self._split_files: dict[str, list[Path]] | None = None
        self._parsed: dict[str, list[dict[str, Any]]] = {}

    # ---- files -------------------------------------------------------------------------------

    @property
    def roll_file(self) -> bool:
        return Path(self.path).suffix.lower() in ROLL_SUFFIXES

    def split_files(self) -> dict[str, list[Path]]:
        """The music files of each split (a folder ``path``), found once."""
        if self._split_files is None:
            found = find_split_files(Path(self.path), self.split_fractions, self.data_seed)
            self._split_files = {split: files[: self.limit_files] for split, files in found.items()}
        return self._split_files

    def source_files(self) -> list[Path]:
        if self.roll_file:
            return [Path(self.path)]
        return [f for files in self.split_files().values() for f in files]

    def pieces(self, split: str) -> Iterator[dict[str, Any]]:
        if self.roll_file:
            for number, pitches in enumerate(read_roll_file(self.path)[split]):
                yield {"name": f"{Path(self.path).stem}:{split}[{number}]", "pitches": pitches}
            return
        if split not in self._parsed:  # preparation reads train twice: to fit, to encode
            workers = default_workers() if self.prepare_workers is None else self.prepare_workers
            files = self.split_files()[split]
            self._parsed[split] = [
                {"name": name, "pitches": pitches}
                for pieces in map_ordered(self._read, files, workers)
                for name, pitches in pieces
            ]
        yield from self._parsed[split]

    def _read(self, path: Path) -> list[tuple[str, list[list[int]]]]:
        return read_music_file(path, self.steps_per_beat, self.parts)


def find_split_files(
    root: Path, fractions: Sequence[float], data_seed: int
) -> dict[str, list[Path]]:
    """Music files per split under ``root``: its split subfolders, or a seeded hash split."""
    if not root.is_dir():
        raise FileNotFoundError(2, "no such music folder or piano-roll file", str(root))
    folders = {
        split: next((root / n for n in names if (root / n).is_dir()), None)
        for split, names in SPLIT_FOLDERS.items()
    }
    if folders["train"] is not None and folders["test"] is not None:
        split_files = {
            split: music_files_under(folder) if folder is not None else []
            for split, folder in folders.items()
        }
        if not split_files["val"]:
            raise ValueError(f"{root}: has train/ and test/ but no valid/ (or val/) folder")
    else:
        split_files = {"train": [], "val": [], "test": []}
        for path in music_files_under(root):
            relative = path.relative_to(root).as_posix()
            digest = hashlib.sha256(f"{data_seed}:{relative}".encode()).digest()
            draw = int.from_bytes(digest[:8], "big") / 2.0**64
            split = (
                "train"
                if draw < fractions[0]
                else "val"
                if draw < fractions[0] + fractions[1]
                else "test"
            )
            split_files[split].append(path)
    for split, files in split_files.items():
        if not files:
            raise ValueError(
                f"{root}: no music files ({', '.join(MUSIC_SUFFIXES)}) for the {split} split"
            )
    return split_files


def music_files_under(folder: Path) -> list[Path]:
    """Every music file under ``folder``, recursively, sorted."""
    return sorted(
        p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in MUSIC_SUFFIXES
    )
