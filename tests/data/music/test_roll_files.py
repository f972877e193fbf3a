"""The benchmarks' piano-roll files: JSON and pickles loaded as data, never as code."""

from __future__ import annotations

import json
import os
import pickle

import numpy as np
import pytest

from rnnkit.data.music.piano_roll import roll_from_pitches
from rnnkit.data.music.roll_files import read_roll_file

PIECES = {
    "train": [[[60, 64, 67], [62, 65], []], [[48]]],
    "valid": [[[55, 59]]],
    "test": [[[72], [71], [72, 76]]],
}


def test_json_to_rolls(tmp_path):
    path = tmp_path / "jsb.json"
    path.write_text(json.dumps(PIECES))
    splits = read_roll_file(path)
    assert splits == {"train": PIECES["train"], "val": PIECES["valid"], "test": PIECES["test"]}
    roll = roll_from_pitches(splits["test"][0])
    assert roll.shape == (3, 88)
    assert np.flatnonzero(roll[2]).tolist() == [72 - 21, 76 - 21]


def test_a_python2_style_pickle_of_tuples_loads_as_data(tmp_path):
    # The distributed pickles hold tuples of pitches; protocol 0/2 are what Python 2 wrote.
    data = {
        split: [[tuple(step) for step in piece] for piece in pieces]
        for split, pieces in PIECES.items()
    }
    for protocol in (0, 2, pickle.HIGHEST_PROTOCOL):
        path = tmp_path / f"jsb{protocol}.pickle"
        path.write_bytes(pickle.dumps(data, protocol=protocol))
        assert read_roll_file(path)["train"] == PIECES["train"]


class _Exploit:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


@pytest.mark.parametrize(
    ("payload", "named"),
    [
        (_Exploit(), "posix.system"),
        ({"train": np.array([[60]]), "valid": [], "test": []}, "numpy"),
        ({"train": [[{60, 64}]], "valid": [[[60]]], "test": [[[60]]]}, ".set;"),
    ],
)
def test_a_pickle_naming_any_class_or_function_is_refused_unrun(tmp_path, payload, named):
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps(payload, protocol=2))
    with pytest.raises(ValueError) as error:
        read_roll_file(path)
    message = str(error.value)
    assert message.startswith(f"{path}: refused to unpickle: it names ")
    assert named in message and "\n" not in message
    assert not (tmp_path / "pwned").exists() and not os.path.exists("pwned")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([[[60]]], "expected a dict of 'train', 'valid' and 'test'"),
        ({"train": [[[60]]], "test": [[[60]]]}, "no 'valid' key"),
        ({"train": [], "valid": [[[60]]], "test": [[[60]]]}, "'train' should be a non-empty list"),
        ({"train": [[60, 62]], "valid": [[[60]]], "test": [[[60]]]}, "train[0], time step 0"),
        ({"train": [[["60"]]], "valid": [[[60]]], "test": [[[60]]]}, "integer MIDI pitches"),
        (
            {"train": [[[60]]], "valid": [[[130]]], "test": [[[60]]]},
            "valid[0], time step 0: pitch 130",
        ),
    ],
)
@pytest.mark.parametrize("suffix", [".json", ".pkl"])
def test_files_not_in_piano_roll_shape_are_named(tmp_path, data, message, suffix):
    path = tmp_path / f"bad{suffix}"
    if suffix == ".json":
        path.write_text(json.dumps(data))
    else:
        path.write_bytes(pickle.dumps(data))
    with pytest.raises(ValueError) as error:
        read_roll_file(path)
    assert str(error.value).startswith(str(path)) and message in str(error.value)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("bad.json", b"{not json", "not a JSON file"),
        ("bad.pkl", b"\x80\x04garbage", "not a readable pickle"),
        ("bad.pkl", b"", "not a readable pickle"),
        ("bad.txt", b"[]", "expected a piano-roll file named"),
    ],
)
def test_unreadable_files_are_named(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ValueError, match=message) as error:
        read_roll_file(path)
    assert str(error.value).startswith(str(path))
