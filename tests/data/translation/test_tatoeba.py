"""Tatoeba / Anki pair files: columns, bad lines, the deterministic split by source sentence."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from rnnkit.data.io.reading import BadLineWarning
from rnnkit.data.translation.tatoeba import TatoebaDataModule, split_by_source

ATTRIBUTION = "CC-BY 2.0 (France) Attribution: tatoeba.org #2877272 (CM) & #8597805 (Roujin)"
PAIRS = [
    ("Go.", "Geh."),
    ("Hi.", "Hallo!"),
    ("Hi.", "Grüß Gott!"),  # one source, two translations
    ("Run!", "Lauf!"),
    ("Wow!", "Potzdonner!"),
    ("Fire!", "Feuer!"),
    ("Help!", "Hilfe!"),
    ("Stop!", "Stopp!"),
    ("Wait!", "Warte!"),
    ("I see.", "Aha."),
    ("I try.", "Ich versuche es."),
    ("I won!", "Ich hab gewonnen!"),
]


def anki(pairs=PAIRS) -> bytes:
    return "".join(f"{en}\t{de}\t{ATTRIBUTION}\n" for en, de in pairs).encode()


def write(tmp_path: Path, data: bytes | None = None) -> Path:
    file = tmp_path / "deu.txt"
    file.write_bytes(anki() if data is None else data)
    return file


def module(file: Path, **options) -> TatoebaDataModule:
    return TatoebaDataModule(str(file), **{"val_ratio": 0.2, "test_ratio": 0.2, **options})


def all_pairs(dm: TatoebaDataModule) -> list[tuple[str, str]]:
    return [(e["source"], e["target"]) for s in ("train", "val", "test") for e in dm.load_split(s)]


@pytest.mark.parametrize("reverse", [False, True])
def test_first_two_columns_extra_columns_ignored(tmp_path, reverse):
    dm = module(write(tmp_path), reverse=reverse)
    expected = [(de, en) if reverse else (en, de) for en, de in PAIRS]
    assert sorted(all_pairs(dm)) == sorted(expected)
    assert list(dm.read_pairs())[3]["where"] == f"{tmp_path / 'deu.txt'}, line 4"


def test_split_is_deterministic_disjoint_by_source_and_by_ratio(tmp_path):
    dm = module(write(tmp_path))
    splits = {s: list(dm.load_split(s)) for s in ("train", "val", "test")}
    sources = {s: {e["source"] for e in examples} for s, examples in splits.items()}
    assert not (sources["train"] & sources["val"] or sources["train"] & sources["test"])
    assert not sources["val"] & sources["test"]
    distinct = len({en for en, _ in PAIRS})  # 11
    assert (len(sources["val"]), len(sources["test"])) == (round(0.2 * distinct),) * 2
    again = module(tmp_path / "deu.txt")
    assert {s: list(again.load_split(s)) for s in splits} == splits  # deterministic
    other = module(write(tmp_path), split_seed=1)
    assert {e["source"] for e in other.load_split("test")} != sources["test"]


def test_split_by_source_keeps_file_order_and_rejects_empty_splits():
    pairs = [{"source": f"s{i}", "target": f"t{i}"} for i in range(10)]
    splits = split_by_source(pairs, 0.2, 0.3, seed=0)
    assert [len(splits[s]) for s in ("train", "val", "test")] == [5, 2, 3]
    for examples in splits.values():
        assert examples == sorted(examples, key=pairs.index)
    with pytest.raises(ValueError, match=r"^val_ratio: 3 distinct source sentences .* val split"):
        split_by_source(pairs[:3], 0.1, 0.3)


def test_fits_on_train_only_and_round_trips_through_json(tmp_path):
    dm = module(write(tmp_path), reverse=True, source_tokenizer="word_punct", lowercase=True)
    dm.setup()
    train_tokens = {
        t for tokens in dm.collate(dm.datasets["train"])["source_tokens"] for t in tokens
    }
    assert set(dm.source_vocab.tokens[2:]) == train_tokens
    restored = module(Path("/nowhere.txt"), reverse=True, source_tokenizer="word_punct")
    restored.restore(json.loads(json.dumps(dm.artifacts())))
    assert restored.spec == dm.spec


BAD_LINES = {
    "one column": (b"Go.", r"expected at least 2 tab-separated columns .* found 1"),
    "empty translation": (b"Go.\t \tCC-BY", r"empty sentence in column 2"),
    "empty source": (b"\tGeh.", r"empty sentence in column 1"),
    "non-UTF-8 bytes": (b"caf\xe9\tCaf\xc3\xa9", r"not valid UTF-8"),
    "blank line": (b"", r"blank line"),
}


@pytest.mark.parametrize("case", sorted(BAD_LINES))
@pytest.mark.parametrize("mode", ["error", "skip"])
def test_bad_lines_name_file_and_line(tmp_path, case, mode):
    line, expected = BAD_LINES[case]
    lines = anki().split(b"\n")
    file = write(tmp_path, b"\n".join([*lines[:4], line, *lines[4:]]))
    dm = module(file, on_bad_line=mode)
    where = re.escape(f"{file}, line 5: ")
    if mode == "error":
        with pytest.raises(ValueError, match=f"^{where}{expected}"):
            dm.setup()
        return
    with pytest.warns(BadLineWarning, match=f"skipped 1 bad line in .*line 5: {expected}"):
        assert sorted(all_pairs(dm)) == sorted(PAIRS)


def test_trailing_blank_lines_are_fine(tmp_path):
    assert len(all_pairs(module(write(tmp_path, anki() + b"\n\n")))) == len(PAIRS)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"val_ratio": 0.0}, r"^val_ratio: expected a number in \(0, 1\)"),
        ({"test_ratio": 1}, r"^test_ratio: expected a number in \(0, 1\)"),
        ({"val_ratio": 0.5, "test_ratio": 0.5}, r"^test_ratio: val_ratio \+ test_ratio must"),
        ({"reverse": "yes"}, r"^reverse: expected true or false"),
        ({"target_tokenizer": "moses"}, r"^target_tokenizer: expected one of"),
    ],
)
def test_bad_arguments(tmp_path, arguments, message):
    with pytest.raises(ValueError, match=message):
        module(tmp_path / "deu.txt", **arguments)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=re.escape(f"{tmp_path / 'deu.txt'}: not found")):
        module(tmp_path / "deu.txt").setup()


def test_path_is_the_pair_file(tmp_path):
    file = write(tmp_path)
    dm = TatoebaDataModule(path=str(file), val_ratio=0.2, test_ratio=0.2)
    assert len(all_pairs(dm)) == len(PAIRS)


def test_the_former_file_argument_is_refused_naming_data_path(tmp_path):
    file = write(tmp_path)
    with pytest.raises(ValueError) as error:
        TatoebaDataModule(path=str(file), file="deu.txt")
    assert str(error.value) == (
        "file: renamed; the pair file is data.path, as for every file-backed dataset "
        "(use data.path=deu.txt)"
    )


def test_a_folder_as_path_names_the_file_to_point_at(tmp_path):
    write(tmp_path)
    with pytest.raises(FileNotFoundError) as error:
        module(tmp_path).setup()
    assert str(error.value) == (
        f"{tmp_path}: a folder; point data.path at the pair file in it "
        f"(e.g. data.path={tmp_path / 'deu.txt'})"
    )
