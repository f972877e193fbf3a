"""Bach chorales from the corpus inside the ``music21`` package: polyphonic music, offline.

Task: model a piece of four-part (SATB) harmony one time step at a time: which of the 88
piano keys sound at step ``t``, given the steps before. The pieces are the chorale harmonisations
``music21/corpus/bach/*.mxl`` (and ``.xml``) that the music21 wheel ships (410 files in 10.5.1),
the source of the JSB Chorales benchmark of Boulanger-Lewandowski et al. (2012), who quantised
382 of them to quarter notes and split them 229 / 76 / 77. Here every file is read with its four
voices (:data:`VOICES`; ``parts=null`` for every part), sampled at each quarter note
(``resolution``: ``eighth`` or ``sixteenth`` for finer steps) and split by a hash of its file
name and ``data_seed`` into 60% / 20% / 20%, the same files always in the same split.

Parsing 410 MusicXML files takes minutes: with a ``cache_dir`` (the shipped config uses
``paths.prepared_dir``) the rolls are prepared once, keyed by the corpus files' identities and
the settings, and later runs read them at once.

Why order matters: a chord follows from the previous one by voice leading (most voices move by
a step or stay), phrases cadence, the key persists. The order-blind baseline, one independent
Bernoulli per key at its training frequency (:meth:`MusicDataModule.key_probabilities`), costs
11.4 nats per step on validation (seed 0); Chung et al. (2014) report 8.54 for a GRU on JSB's
test split, and ``experiment=jsb_chorales`` measures its own in docs/benchmarks.md.

``load(split)`` returns the raw pieces; :class:`BuiltinChoralesDataModule` serves them to the
task (``data=jsb_chorales``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from rnnkit.data.builtin import check_split
from rnnkit.data.music.music_files import MusicFilesDataModule

VOICES = ("Soprano", "Alto", "Tenor", "Bass")
"""The parts read by default: the four voices, not the instruments some chorales add (horns,
trumpets, timpani, continuo: 45 of the 410 files have such parts)."""
CHORALE_SPLIT = (0.6, 0.2, 0.2)
"""Train, validation and test shares of the chorales (JSB's 229 / 76 / 77 of 382)."""


def corpus_folder() -> Path:
    """``music21/corpus/bach`` of the installed music21 (a ValueError when it is missing)."""
    try:
        import music21
    except ImportError:  # pragma: no cover - the extra is part of [dev]
        raise ValueError(
            "the built-in chorales need the music21 package: pip install 'rnnkit[music]'"
        ) from None
    folder = Path(music21.__file__).parent / "corpus" / "bach"
    if not folder.is_dir():
        raise ValueError(f"{folder}: music21 is installed without its corpus of Bach chorales")
    return folder


class BuiltinChoralesDataModule(MusicFilesDataModule):
    """The music21 Bach chorales (see the module docstring); arguments as
    :class:`~rnnkit.data.music.music_files.MusicFilesDataModule`, without ``path``."""

    def __init__(
        self,
        batch_size: int = 16,
        num_workers: int = 0,
        seed: int = 0,
        resolution: str = "quarter",
        transpose: int = 0,
        split_fractions: tuple[float, float, float] | list[float] = CHORALE_SPLIT,
        data_seed: int = 0,
        parts: list[str] | tuple[str, ...] | None = VOICES,
        limit_files: int | None = None,
        cache_dir: str | os.PathLike | None = None,
        rebuild_cache: bool = False,
        prepare_workers: int | None = None,
    ) -> None:
        super().__init__(
            corpus_folder(),
            batch_size,
            num_workers,
            seed,
            resolution,
            transpose,
            split_fractions,
            data_seed,
            parts,
            limit_files,
            cache_dir,
            rebuild_cache,
            prepare_workers,
        )


def load(split: str, seed: int = 0, **settings: Any) -> list[dict[str, Any]]:
    """The raw pieces ``{"name", "pitches"}`` of ``split``; ``settings``: ``resolution``,
    ``transpose``, ``split_fractions`` (see :class:`BuiltinChoralesDataModule`)."""
    datamodule = BuiltinChoralesDataModule(data_seed=seed, **settings)
    return list(datamodule.load_split(check_split(split)))
