"""The polyphonic-music benchmarks' piano-roll files, read as data (JSON or pickle).

Boulanger-Lewandowski et al. (2012) distribute JSB Chorales, Nottingham, MuseData and
Piano-midi.de as one pickle each: a dict ``{"train": pieces, "valid": pieces, "test":
pieces}``, a piece being a list of time steps and a time step a list (or tuple) of MIDI pitch
numbers. The same structure as JSON loads too (``data.path=jsb.json``).

A pickle is never unpickled with code execution: :class:`DataOnlyUnpickler` refuses every
opcode that names a class or function (``GLOBAL``, ``STACK_GLOBAL``, persistent ids), so only
the built-in containers and scalars the pickle protocol makes by itself come out (dicts,
lists, tuples, ints, strings); the shape is then checked, and anything else is one line naming
the file.
"""

from __future__ import annotations

import io
import json
import pickle
from pathlib import Path
from typing import Any

from rnnkit.data.music.piano_roll import Pitches, check_pitches

ROLL_SUFFIXES = (".json", ".pkl", ".pickle")
"""File names read as piano-roll files."""
FILE_SPLITS = {"train": "train", "val": "valid", "test": "test"}
"""rnnkit's split -> the key the benchmark files use (``val`` is accepted too)."""
MAX_ROLL_FILE_BYTES = 1 << 30
"""A larger file is refused before it is read."""


class RefusedPickle(pickle.UnpicklingError):
    """A pickle that names a class or function (or a persistent id): not plain data."""


class DataOnlyUnpickler(pickle.Unpickler):
    """An unpickler that builds no object but the protocol's own containers and scalars:
    ``find_class`` (every class or function a pickle names, ``os.system`` included) and
    ``persistent_load`` refuse."""

    def find_class(self, module: str, name: str) -> Any:
        raise RefusedPickle(
            f"it names {module}.{name}; a piano-roll pickle may hold only dicts, lists, "
            f"tuples, ints and strings"
        )

    def persistent_load(self, pid: Any) -> Any:
        raise RefusedPickle(
            "it holds a persistent id; a piano-roll pickle may hold only dicts, lists, tuples, "
            "ints and strings"
        )


def read_data_pickle(path: Path) -> Any:
    """The pickle at ``path`` loaded by :class:`DataOnlyUnpickler` (Python 2 strings as
    Latin-1); a ValueError naming the file for anything that is not plain data."""
    data = _read_bytes(path)
    try:
        return DataOnlyUnpickler(io.BytesIO(data), encoding="latin1").load()
    except RefusedPickle as error:
        raise ValueError(f"{path}: refused to unpickle: {error}") from None
    except (
        pickle.UnpicklingError,
        EOFError,
        ValueError,
        TypeError,
        IndexError,
        KeyError,
        AttributeError,
    ) as error:
        raise ValueError(
            f"{path}: not a readable pickle ({error or type(error).__name__})"
        ) from None


def read_roll_file(path: str | Path) -> dict[str, list[Pitches]]:
    """``{"train": pieces, "val": pieces, "test": pieces}`` of a benchmark piano-roll file
    (``.json``, ``.pkl`` or ``.pickle``), every pitch checked to lie in 21..108."""
    path = Path(path)
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(_read_bytes(path).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ValueError(f"{path}: not a JSON file ({error})") from None
    elif path.suffix.lower() in (".pkl", ".pickle"):
        data = read_data_pickle(path)
    else:
        raise ValueError(f"{path}: expected a piano-roll file named *{', *'.join(ROLL_SUFFIXES)}")
    return roll_splits(data, str(path))


def roll_splits(data: Any, where: str) -> dict[str, list[Pitches]]:
    """The three splits of loaded piano-roll ``data`` (see the module docstring), checked."""
    expected = "a dict of 'train', 'valid' and 'test', each a list of pieces"
    if not isinstance(data, dict):
        raise ValueError(f"{where}: not a piano-roll file: expected {expected}, got {_kind(data)}")
    splits = {}
    for split, key in FILE_SPLITS.items():
        found = key if key in data else split if split in data else None
        if found is None:
            raise ValueError(
                f"{where}: not a piano-roll file: no {key!r} key (expected {expected}; found "
                f"{sorted(map(str, data))[:6]})"
            )
        pieces = data[found]
        if not isinstance(pieces, (list, tuple)) or not pieces:
            raise ValueError(
                f"{where}: not a piano-roll file: {found!r} should be a non-empty list of "
                f"pieces, got {_kind(pieces)}"
            )
        splits[split] = [
            check_pitches(piece, f"{where}: {found}[{number}]")
            for number, piece in enumerate(pieces)
        ]
    return splits


def _read_bytes(path: Path) -> bytes:
    size = path.stat().st_size
    if size > MAX_ROLL_FILE_BYTES:
        raise ValueError(f"{path}: {size} bytes; a piano-roll file may hold at most 1 GiB")
    return path.read_bytes()


def _kind(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return f"a {type(value).__name__} of {len(value)}"
    return type(value).__name__
