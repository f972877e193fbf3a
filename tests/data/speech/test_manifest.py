"""Manifests (CSV/TSV with path and transcript columns) and LibriSpeech folders: what they
read, and one line naming the file and line for an empty transcript, a missing column or
audio file, or a character outside the alphabet."""

from __future__ import annotations

from pathlib import Path

import pytest

from rnnkit.data.speech.librispeech import LibriSpeechDataModule
from rnnkit.data.speech.manifest import ManifestDataModule, read_manifest
from speech_audio import digit_tone, write_wav


@pytest.fixture
def clips(tmp_path) -> Path:
    folder = tmp_path / "clips"
    folder.mkdir()
    for digit in range(4):
        write_wav(folder / f"clip{digit}.wav", digit_tone(digit, seconds=0.1), rate=16000)
    return folder


def write_manifest(path: Path, rows: list[str], header: str = "path,transcript") -> Path:
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def manifests(tmp_path, clips, train_rows, test_rows=("clips/clip3.wav,two",)):
    train = write_manifest(tmp_path / "train.csv", list(train_rows))
    test = write_manifest(tmp_path / "test.csv", list(test_rows))
    return ManifestDataModule(str(train), str(test), str(test), batch_size=2, sample_rate=8000)


def test_csv_and_tsv_manifests_are_read_with_paths_relative_to_them(tmp_path, clips):
    data = manifests(tmp_path, clips, ["clips/clip0.wav,Zero", '"clips/clip1.wav","one, two"'])
    data.setup("fit")
    assert [e["transcript"] for e in data.datasets["train"]] == ["zero", "one, two"]
    assert data.characters == " ,enortwz"
    tsv = write_manifest(
        tmp_path / "dev.tsv", [f"{clips / 'clip2.wav'}\tTwo"], header="client_id\tpath\tsentence"
    )
    with pytest.raises(ValueError, match=r"dev.tsv, line 2: expected 3 columns, found 2"):
        read_manifest(tsv, "path", "sentence")
    tsv.write_text(f"client_id\tpath\tsentence\nc1\t{clips / 'clip2.wav'}\tTwo\n")
    (example,) = read_manifest(tsv, "path", "sentence")
    assert example["path"] == str(clips / "clip2.wav") and example["transcript"] == "Two"


def test_an_empty_transcript_is_refused_naming_the_manifest_line(tmp_path, clips):
    path = write_manifest(tmp_path / "train.csv", ["clips/clip0.wav,zero", "clips/clip1.wav,  "])
    with pytest.raises(ValueError, match=r"train.csv, line 3: empty transcript"):
        read_manifest(path, "path", "transcript")
    assert len(read_manifest(path, "path", "transcript", on_bad_line="skip")) == 1


def test_missing_columns_and_audio_files_are_refused_naming_the_manifest(tmp_path, clips):
    path = write_manifest(tmp_path / "a.csv", ["clips/clip0.wav,zero"], header="file,text")
    with pytest.raises(
        ValueError, match=r"a.csv, line 1: no 'path' column; found \['file', 'text'\]"
    ):
        read_manifest(path, "path", "transcript")
    path = write_manifest(tmp_path / "b.csv", ["clips/nothing.wav,zero"])
    with pytest.raises(FileNotFoundError, match=r"b.csv, line 2: audio file not found"):
        read_manifest(path, "path", "transcript")


def test_a_character_outside_the_alphabet_is_refused_naming_where_it_was_read(tmp_path, clips):
    data = manifests(tmp_path, clips, ["clips/clip0.wav,zero"], ["clips/clip3.wav,zerö"])
    with pytest.raises(ValueError, match=r"test.csv, line 2: character 'ö' of transcript 'zerö'"):
        data.setup("fit")
    train = write_manifest(tmp_path / "train.csv", ["clips/clip0.wav,zero!"])
    fixed = ManifestDataModule(
        str(train), str(train), str(train), alphabet="abcdefghijklmnopqrstuvwxyz ", sample_rate=8000
    )
    with pytest.raises(ValueError, match=r"train.csv, line 2: character '!' of transcript 'zero!'"):
        fixed.setup("fit")


def test_librispeech_folders_are_read_and_bad_lines_named(tmp_path, clips):
    chapter = tmp_path / "LibriSpeech" / "train-clean-100" / "19" / "198"
    chapter.mkdir(parents=True)
    for n in range(2):
        write_wav(chapter / f"19-198-000{n}.wav", digit_tone(n, seconds=0.1), rate=16000)
    transcript = chapter / "19-198.trans.txt"
    transcript.write_text("19-198-0000 ZERO\n19-198-0001 ONE TWO\n")
    for split in ("dev-clean", "test-clean"):
        (tmp_path / "LibriSpeech" / split).symlink_to(tmp_path / "LibriSpeech" / "train-clean-100")
    data = LibriSpeechDataModule(str(tmp_path / "LibriSpeech"), sample_rate=8000)
    data.setup("fit")
    assert [e["transcript"] for e in data.datasets["train"]] == ["zero", "one two"]
    transcript.write_text("19-198-0000 ZERO\n19-198-0001\n")
    with pytest.raises(
        ValueError, match=r"19-198.trans.txt, line 2: empty transcript for 19-198-0001"
    ):
        LibriSpeechDataModule(str(tmp_path / "LibriSpeech")).load_split("train")
    transcript.write_text("19-198-0007 SEVEN\n")
    with pytest.raises(
        ValueError, match=r"line 1: no audio file 19-198-0007.flac or 19-198-0007.wav"
    ):
        LibriSpeechDataModule(str(tmp_path / "LibriSpeech")).load_split("train")
