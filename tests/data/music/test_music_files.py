"""The music datamodules: a piano-roll file or a folder of files in, batches of rolls out;
splits, transposition, the prepared cache, the fitted baseline, the built-in chorales."""

from __future__ import annotations

import json

import mido
import numpy as np
import pytest
import torch

from rnnkit.data.music.builtin import BuiltinChoralesDataModule, corpus_folder
from rnnkit.data.music.midi import write_midi
from rnnkit.data.music.music_files import MusicFilesDataModule
from rnnkit.data.music.piano_roll import roll_from_pitches


def random_pieces(count, seed, length=12):
    rng = np.random.default_rng(seed)
    return [
        [
            sorted({int(p) for p in rng.integers(40, 80, size=rng.integers(1, 4))})
            for _ in range(length + i)
        ]
        for i in range(count)
    ]


@pytest.fixture
def roll_json(tmp_path):
    data = {"train": random_pieces(6, 0), "valid": random_pieces(2, 1), "test": random_pieces(3, 2)}
    path = tmp_path / "rolls.json"
    path.write_text(json.dumps(data))
    return path, data


def all_examples(datamodule, split):
    return [
        example for batch in datamodule._loader(split, shuffle=False) for example in unbatch(batch)
    ]


def unbatch(batch):
    for roll, length, name in zip(batch["rolls"], batch["lengths"], batch["names"]):
        assert not roll[length:].any()  # zero past the end
        yield name, roll[:length].numpy()


def test_a_roll_file_gives_its_splits_as_padded_batches(roll_json):
    path, data = roll_json
    datamodule = MusicFilesDataModule(path=str(path), batch_size=4)
    datamodule.setup("fit")
    assert {s: len(d) for s, d in datamodule.datasets.items()} == {"train": 6, "val": 2, "test": 3}
    batch = next(iter(datamodule.val_dataloader()))
    assert batch["rolls"].shape == (2, 13, 88) and batch["rolls"].dtype == torch.float32
    assert batch["lengths"].tolist() == [12, 13]
    for (_, roll), piece in zip(all_examples(datamodule, "test"), data["test"]):
        np.testing.assert_array_equal(roll, roll_from_pitches(piece))
    assert all_examples(datamodule, "test")[-1][0] == "rolls:test[2]"
    assert datamodule.spec == {"num_keys": 88, "lowest_pitch": 21, "steps_per_beat": 1}


def test_the_baseline_is_fitted_on_training_steps(roll_json):
    path, data = roll_json
    datamodule = MusicFilesDataModule(path=str(path))
    datamodule.setup("fit")
    steps = [step for piece in data["train"] for step in piece]
    counts = np.zeros(88)
    for step in steps:
        counts[np.asarray(step) - 21] += 1
    expected = (counts + 1) / (len(steps) + 2)
    np.testing.assert_allclose(datamodule.key_probabilities().numpy(), expected, rtol=1e-6)
    restored = MusicFilesDataModule(path=str(path))
    restored.restore(datamodule.artifacts())
    assert torch.equal(restored.key_probabilities(), datamodule.key_probabilities())


def test_transposition_augments_training_only(roll_json):
    path, data = roll_json
    plain = MusicFilesDataModule(path=str(path))
    moved = MusicFilesDataModule(path=str(path), transpose=2)
    plain.setup("fit")
    moved.setup("fit")
    assert len(moved.datasets["train"]) == 5 * len(plain.datasets["train"])
    assert len(moved.datasets["test"]) == len(plain.datasets["test"])
    names = [name for name, _ in all_examples(moved, "train")[:5]]
    assert names == [
        "rolls:train[0]",
        "rolls:train[0]-2",
        "rolls:train[0]-1",
        "rolls:train[0]+1",
        "rolls:train[0]+2",
    ]
    first = {name: roll for name, roll in all_examples(moved, "train")[:5]}
    np.testing.assert_array_equal(
        np.roll(first["rolls:train[0]"], 2, axis=1), first["rolls:train[0]+2"]
    )
    with pytest.raises(ValueError, match="transpose: expected an integer from 0 to 11"):
        MusicFilesDataModule(path=str(path), transpose=12)


def test_the_prepared_cache_holds_the_same_examples(roll_json, tmp_path):
    path, _ = roll_json
    memory = MusicFilesDataModule(path=str(path), transpose=1)
    memory.setup("fit")
    cached = MusicFilesDataModule(
        path=str(path), transpose=1, cache_dir=tmp_path / "cache", prepare_workers=0
    )
    cached.prepare_data()
    cached.setup("fit")
    assert (tmp_path / "cache").is_dir() and cached.preparation["folder"]
    again = MusicFilesDataModule(path=str(path), transpose=1, cache_dir=tmp_path / "cache")
    again.setup("fit")  # read from the cache: the file is not parsed again
    assert again.artifacts() == memory.artifacts()
    # A checkpoint's datamodule (fitted state restored) reads the same prepared folder.
    restored = MusicFilesDataModule(path=str(path), transpose=1, cache_dir=tmp_path / "cache")
    restored.restore(memory.artifacts())
    restored.setup("test")
    assert restored.preparation["folder"] == cached.preparation["folder"]
    for split in ("train", "val", "test"):
        expected = all_examples(memory, split)
        for other in (cached, again):
            got = all_examples(other, split)
            assert [n for n, _ in got] == [n for n, _ in expected]
            assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(got, expected))


def write_piece(path, pitches):
    if path.suffix == ".mid":
        write_midi(pitches, path)
    else:
        path.write_text(
            "X:1\nT:t\nM:4/4\nL:1/4\nK:C\n" + " ".join(["C", "E", "G", "c"][: len(pitches)]) + "|\n"
        )


def test_a_folder_with_split_subfolders(tmp_path):
    for split, count in (("train", 3), ("valid", 1), ("test", 1)):
        (tmp_path / split).mkdir()
        for i in range(count):
            write_piece(tmp_path / split / f"{split}{i}.mid", [[60 + i], [64], [67, 72]])
    write_piece(tmp_path / "train" / "tune.abc", [[60]] * 4)
    datamodule = MusicFilesDataModule(path=str(tmp_path), prepare_workers=0)
    datamodule.setup("fit")
    assert [n for n, _ in all_examples(datamodule, "train")] == [
        "train0",
        "train1",
        "train2",
        "tune",
    ]
    assert [n for n, _ in all_examples(datamodule, "val")] == ["valid0"]


def test_a_flat_folder_is_split_by_file_hash_the_same_way_every_time(tmp_path):
    for i in range(30):
        write_piece(tmp_path / f"p{i:02d}.mid", [[50 + i % 20], [60]])
    first = MusicFilesDataModule(path=str(tmp_path), split_fractions=[0.6, 0.2, 0.2])
    files = first.split_files()
    assert sum(map(len, files.values())) == 30 and all(files.values())
    assert not set(files["train"]) & set(files["test"])
    write_piece(tmp_path / "new.mid", [[60]])  # another file leaves the others where they were
    again = MusicFilesDataModule(path=str(tmp_path), split_fractions=[0.6, 0.2, 0.2]).split_files()
    assert all(set(files[s]) <= set(again[s]) for s in files)
    other_seed = MusicFilesDataModule(
        path=str(tmp_path), split_fractions=[0.6, 0.2, 0.2], data_seed=1
    )
    assert other_seed.split_files() != files


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"split_fractions": [0.5, 0.5]}, "split_fractions"),
        ({"split_fractions": [0.5, 0.5, 0.0]}, "split_fractions"),
        ({"resolution": "half"}, "resolution"),
        ({"parts": "Soprano"}, "parts"),
        ({"limit_files": 0}, "limit_files"),
    ],
)
def test_bad_settings_are_named(tmp_path, arguments, message):
    with pytest.raises(ValueError, match=message):
        MusicFilesDataModule(path=str(tmp_path), **arguments)


def test_a_folder_without_music_or_a_bad_file_is_named(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ValueError, match="no music files"):
        MusicFilesDataModule(path=str(tmp_path)).setup("fit")
    for i in range(12):
        write_piece(tmp_path / f"p{i}.mid", [[60], [62]])
    midi = mido.MidiFile()
    midi.tracks.append(
        mido.MidiTrack(
            [mido.Message("note_on", note=60, time=0), mido.Message("note_off", note=60, time=480)]
        )
    )
    midi.tracks.append(
        mido.MidiTrack(
            [
                mido.Message("note_on", note=110, time=0),
                mido.Message("note_off", note=110, time=480),
            ]
        )
    )
    midi.save(tmp_path / "high.mid")
    with pytest.raises(ValueError, match=r"high\.mid: pitch 110 is outside"):
        MusicFilesDataModule(
            path=str(tmp_path), split_fractions=[0.9, 0.05, 0.05], prepare_workers=0
        ).setup("fit")


def test_seed_files_for_generation(tmp_path, roll_json):
    path, data = roll_json
    datamodule = MusicFilesDataModule(path=str(path))
    datamodule.setup("fit")
    seed = datamodule.batch_from_raw(str(path))  # a roll file: its first test piece
    np.testing.assert_array_equal(seed["rolls"][0].numpy(), roll_from_pitches(data["test"][0]))
    midi = write_midi([[60, 64], [62]], tmp_path / "seed.mid")
    assert datamodule.batch_from_raw(str(midi))["rolls"].shape == (1, 2, 88)
    assert datamodule.batch_without_input()["rolls"].shape == (1, 0, 88)
    with pytest.raises(FileNotFoundError):
        datamodule.batch_from_raw(str(tmp_path / "nothing.mid"))


def test_the_builtin_chorales_read_from_the_music21_corpus():
    folder = corpus_folder()
    assert len(list(folder.glob("*.mxl"))) > 400
    datamodule = BuiltinChoralesDataModule(limit_files=1, prepare_workers=0)
    pieces = list(datamodule.load_split("val"))
    assert len(pieces) == 1
    steps = pieces[0]["pitches"]
    assert len(steps) > 16 and max(map(len, steps)) == 4  # four voices, quarter-note steps


def test_the_builtin_chorale_split_is_deterministic_and_disjoint():
    files = BuiltinChoralesDataModule().split_files()
    again = BuiltinChoralesDataModule().split_files()
    assert files == again
    sizes = {s: len(f) for s, f in files.items()}
    assert sum(sizes.values()) == 410 and 230 <= sizes["train"] <= 260
    assert not set(files["train"]) & (set(files["val"]) | set(files["test"]))


@pytest.mark.slow
def test_the_builtin_validation_chorales_are_four_voices_at_quarter_notes():
    pieces = list(BuiltinChoralesDataModule().load_split("val"))
    assert len(pieces) == len(BuiltinChoralesDataModule().split_files()["val"])
    assert all(max(map(len, piece["pitches"])) <= 4 for piece in pieces)
    lengths = sorted(len(piece["pitches"]) for piece in pieces)
    assert 20 <= lengths[len(lengths) // 2] <= 80  # chorales: a few dozen beats
