"""Connected digits from FSDD-named recordings: splits by recording index or speaker, every
recording used once per pass, deterministic utterances, audio made from the parts, and
features and labels that the CTC task reads."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from rnnkit.data.speech.fsdd import DIGIT_WORDS, FsddDigitsDataModule
from speech_audio import RATE, write_fsdd_folder, write_wav


@pytest.fixture(scope="module")
def fsdd(tmp_path_factory) -> Path:
    return write_fsdd_folder(tmp_path_factory.mktemp("fsdd"))


def parts(example) -> list[tuple[int, str, int]]:
    found = []
    for file in example["files"]:
        digit, speaker, index = re.match(r"(\d)_(\w+?)_(\d+)\.wav", Path(file).name).groups()
        found.append((int(digit), speaker, int(index)))
    return found


def test_splits_follow_recording_indices_and_use_every_recording_once_per_pass(fsdd):
    data = FsddDigitsDataModule(str(fsdd), train_passes=2, val_passes=1, test_passes=3)
    ranges = {"train": range(10, 12), "val": range(5, 10), "test": range(0, 5)}
    passes = {"train": 2, "val": 1, "test": 3}
    for split, indices in ranges.items():
        examples = data.load_split(split)
        used = Counter(file for e in examples for file in e["files"])
        assert len(used) == 2 * 10 * len(indices)  # speakers x digits x indices
        assert set(used.values()) == {passes[split]}
        for example in examples:
            found = parts(example)
            assert 1 <= len(found) <= 7
            assert len({speaker for _, speaker, _ in found}) == 1  # one speaker per utterance
            assert all(index in indices for _, _, index in found)
            assert example["transcript"] == " ".join(DIGIT_WORDS[d] for d, _, _ in found)


def test_utterances_are_the_same_on_every_run_and_depend_on_data_seed(fsdd):
    first = FsddDigitsDataModule(str(fsdd)).load_split("val")
    again = FsddDigitsDataModule(str(fsdd)).load_split("val")
    other = FsddDigitsDataModule(str(fsdd), data_seed=1).load_split("val")
    assert first == again
    assert [e["files"] for e in first] != [e["files"] for e in other]


def test_test_speakers_hold_out_whole_speakers(fsdd):
    data = FsddDigitsDataModule(str(fsdd), test_speakers=["bert"])
    speakers = {
        split: {speaker for e in data.load_split(split) for _, speaker, _ in parts(e)}
        for split in ("train", "val", "test")
    }
    assert speakers == {"train": {"anna"}, "val": {"anna"}, "test": {"bert"}}
    test_indices = {i for e in data.load_split("test") for _, _, i in parts(e)}
    assert test_indices == set(range(12))
    with pytest.raises(ValueError, match=r"test_speakers: \['carl'\] not among the speakers"):
        FsddDigitsDataModule(str(fsdd), test_speakers=["carl"]).load_split("test")
    with pytest.raises(ValueError, match="at least one speaker left for training"):
        FsddDigitsDataModule(str(fsdd), test_speakers=["anna", "bert"]).load_split("test")


def test_audio_is_the_recordings_with_their_silences_and_gains(fsdd):
    data = FsddDigitsDataModule(str(fsdd), gain_db=[0.0, 0.0], max_digits=3)
    example = data.load_split("test")[0]
    audio = data.waveform(example)
    silences = [round(s * RATE) for s in example["silences"]]
    recordings = [data.recording(f) for f in example["files"]]
    assert audio.size == sum(silences) + sum(r.size for r in recordings)
    start = silences[0]
    np.testing.assert_array_equal(audio[start : start + recordings[0].size], recordings[0])
    assert not audio[:start].any()
    noisy = FsddDigitsDataModule(str(fsdd), gain_db=[0.0, 0.0], max_digits=3, noise_snr_db=[10, 10])
    added = noisy.waveform(noisy.load_split("test")[0]) - audio
    speech = np.concatenate(recordings)
    snr = 10 * np.log10(np.mean(speech**2) / np.mean(added**2))
    assert snr == pytest.approx(10.0, abs=0.5)


def test_setup_gives_normalised_features_and_character_labels(fsdd):
    data = FsddDigitsDataModule(str(fsdd), batch_size=4, train_passes=1, transcript="digits")
    data.setup("fit")
    assert data.characters == " 0123456789"
    assert data.spec["num_labels"] == 12 and data.spec["num_features"] == 40
    batch = next(iter(data.train_dataloader()))
    assert batch["features"].shape[0] == 4 and batch["features"].shape[2] == 40
    for row in range(4):
        length, target_length = int(batch["lengths"][row]), int(batch["target_lengths"][row])
        assert not batch["features"][row, length:].any()
        text = data.decode_labels(batch["targets"][row, :target_length].tolist())
        assert text == batch["transcripts"][row]
    train = np.concatenate([e["features"].numpy() for e in data.datasets["train"]])
    np.testing.assert_allclose(train.mean(0), 0.0, atol=1e-3)
    np.testing.assert_allclose(train.std(0), 1.0, atol=1e-3)


def test_missing_folder_or_recordings_are_refused_naming_them(tmp_path):
    with pytest.raises(FileNotFoundError, match="FSDD folder not found"):
        FsddDigitsDataModule(str(tmp_path / "nowhere")).load_split("train")
    write_wav(tmp_path / "hello.wav", np.zeros(100, np.float32))
    with pytest.raises(ValueError, match=r"recordings named \{digit\}_\{speaker\}_\{index\}.wav"):
        FsddDigitsDataModule(str(tmp_path)).load_split("train")


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"test_indices": [4, 0]}, "test_indices"),
        ({"min_digits": 0}, "min_digits"),
        ({"max_digits": 0}, "min_digits, max_digits"),
        ({"train_passes": 0}, "train_passes"),
        ({"transcript": "phonemes"}, "transcript"),
        ({"test_speakers": "lucas"}, "test_speakers"),
        ({"alphabet": "aa"}, "alphabet"),
    ],
)
def test_bad_settings_are_refused_with_their_name(arguments, message):
    with pytest.raises(ValueError, match=message):
        FsddDigitsDataModule("fsdd", **arguments)
