"""CoNLL-U: comments, multiword tokens and empty nodes skipped, ``_``, tag columns, bad lines."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from rnnkit.data.io.reading import BadLineWarning
from rnnkit.data.tagging.conllu import CoNLLUDataModule


def word(id_: str, form: str, upos: str, xpos: str = "_", lemma: str = "_") -> str:
    return "\t".join([id_, form, lemma, upos, xpos, "_", "0", "root", "_", "_"])


# An English sentence with a multiword token (don't = do n't) and an empty node (UD 2 style).
TRAIN = "\n".join(
    [
        "# newdoc id = weblog-1",
        "# sent_id = 1",
        "# text = I don't know _",
        word("1", "I", "PRON", "PRP", "I"),
        "\t".join(["2-3", "don't", "_", "_", "_", "_", "_", "_", "_", "_"]),
        word("2", "do", "AUX", "VBP", "do"),
        word("3", "n't", "PART", "RB", "not"),
        word("4", "know", "VERB", "VB", "know"),
        "\t".join(["4.1", "knows", "know", "VERB", "_", "_", "_", "_", "4:conj", "_"]),
        word("5", "_", "SYM", "NFP", "_"),  # the word "_" itself
        "",
        "# sent_id = 2",
        word("1", "Go", "VERB", "VB", "go"),
        word("2", "!", "PUNCT", ".", "!"),
        "",
        "",
    ]
)
DEV = "\n".join(
    ["# sent_id = 3", word("1", "Know", "VERB", "VB"), word("2", "!", "PUNCT", "."), ""]
)
TEST = "\n".join([word("1", "I", "PRON", "PRP"), word("2", "go", "VERB", "VBP"), "", ""])
FILES = {"train.conllu": TRAIN, "dev.conllu": DEV, "test.conllu": TEST}


def write(folder: Path, files: dict[str, str | bytes] = FILES) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_bytes(text if isinstance(text, bytes) else text.encode())
    return folder


def module(folder: Path, **options) -> CoNLLUDataModule:
    return CoNLLUDataModule(str(folder), "train.conllu", "dev.conllu", "test.conllu", **options)


@pytest.mark.parametrize(
    ("tag_column", "tags"),
    [
        ("upos", [["PRON", "AUX", "PART", "VERB", "SYM"], ["VERB", "PUNCT"]]),
        ("xpos", [["PRP", "VBP", "RB", "VB", "NFP"], ["VB", "."]]),
    ],
)
def test_reads_syntactic_words_skipping_comments_ranges_and_empty_nodes(tmp_path, tag_column, tags):
    folder = write(tmp_path)
    examples = list(module(folder, tag_column=tag_column).load_split("train"))
    assert [e["tokens"] for e in examples] == [["I", "do", "n't", "know", "_"], ["Go", "!"]]
    assert [e["tags"] for e in examples] == tags
    assert [e["source"] for e in examples] == [
        f"{folder / 'train.conllu'}, line 4",
        f"{folder / 'train.conllu'}, line 13",
    ]


def test_fits_on_train_and_round_trips_through_json(tmp_path):
    dm = module(write(tmp_path), char_features=True)
    dm.setup()
    assert dm.tag_scheme == "none" and dm.tags == ["AUX", "PART", "PRON", "PUNCT", "SYM", "VERB"]
    assert "Know" not in dm.vocab and "K" not in dm.char_vocab  # dev-only word and character
    assert {split: len(data) for split, data in dm.datasets.items()} == {
        "train": 2,
        "val": 1,
        "test": 1,
    }
    restored = CoNLLUDataModule("/nowhere", "x.conllu", char_features=True)
    restored.restore(json.loads(json.dumps(dm.artifacts())))
    assert restored.spec == dm.spec
    batch = restored.batch_from_raw("I know")
    assert batch["word_lengths"].tolist() == [[1, 4]] and batch["chars"].shape == (1, 2, 4)


BAD_LINES = {
    # case: (file, line number, what replaces that line, expected message)
    "nine columns": ("train.conllu", 4, "1\tI\tI\tPRON\tPRP\t_\t0\troot\t_", r"expected 10 tab"),
    "spaces not tabs": ("dev.conllu", 2, "1 Know know VERB VB _ 0 root _ _", r"expected 10 tab"),
    "malformed ID": ("train.conllu", 13, word("1a", "Go", "VERB"), r"ID '1a': expected a word"),
    "ID out of sequence": ("test.conllu", 2, word("3", "go", "VERB"), r"word ID 3: expected 2"),
    "ID restarts": ("train.conllu", 8, word("1", "know", "VERB"), r"word ID 1: expected 4"),
    "no UPOS tag": (
        "train.conllu",
        4,
        word("1", "I", "_"),
        r"no UPOS tag \('_'\) for the word 'I'",
    ),
    "empty FORM": ("dev.conllu", 2, word("1", "", "VERB"), r"empty FORM"),
    "bad range line": ("train.conllu", 5, "2-3\tdon't", r"expected 10 tab-separated columns"),
    "non-UTF-8 bytes": ("test.conllu", 1, b"1\tcaf\xe9\t_\tNOUN", r"not valid UTF-8"),
}
SPLIT_OF = {"train.conllu": "train", "dev.conllu": "val", "test.conllu": "test"}


def with_bad_line(name: str, number: int, line: str | bytes) -> dict[str, str | bytes]:
    lines = FILES[name].encode().split(b"\n")
    lines[number - 1] = line if isinstance(line, bytes) else line.encode()
    return {**FILES, name: b"\n".join(lines)}


@pytest.mark.parametrize("case", sorted(BAD_LINES))
@pytest.mark.parametrize("mode", ["error", "skip"])
def test_bad_lines_name_file_and_line_or_drop_their_sentence(tmp_path, case, mode):
    name, number, line, expected = BAD_LINES[case]
    folder = write(tmp_path, with_bad_line(name, number, line))
    dm = module(folder, on_bad_line=mode)
    where = re.escape(f"{folder / name}, line {number}: ")
    if mode == "error":
        with pytest.raises(ValueError, match=f"^{where}.*{expected}"):
            dm.setup()
        return
    with pytest.warns(BadLineWarning, match=f"skipped 1 bad line in .*{name} "):
        counts = {split: len(list(dm.load_split(split))) for split in SPLIT_OF.values()}
    expected_counts = {"train": 2, "val": 1, "test": 1}
    expected_counts[SPLIT_OF[name]] -= 1  # the sentence holding the bad line, no other
    assert counts == expected_counts


def test_xpos_missing_suggests_upos(tmp_path):
    files = {**FILES, "dev.conllu": DEV.replace("\tVB\t", "\t_\t")}
    with pytest.raises(ValueError, match=r"dev\.conllu, line 2: no XPOS tag.*use tag_column=upos"):
        module(write(tmp_path, files), tag_column="xpos").setup()


def test_val_file_null_carves_validation_from_train(tmp_path):
    dm = CoNLLUDataModule(str(write(tmp_path)), "train.conllu", val_ratio=0.5)
    assert [len(list(dm.load_split(split))) for split in ("train", "val", "test")] == [1, 1, 0]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"tag_column": "deprel"}, r"^tag_column: expected one of \['upos', 'xpos'\]"),
        ({"tag_scheme": "BIO"}, r"^tag_scheme: part-of-speech tags are plain labels"),
        ({"source_tag_scheme": "IOB1"}, r"^source_tag_scheme: part-of-speech"),
        ({"on_bad_line": "warn"}, r"^on_bad_line: expected one of"),
    ],
)
def test_bad_arguments(tmp_path, arguments, message):
    with pytest.raises(ValueError, match=message):
        module(tmp_path, **arguments)


def test_missing_file_names_the_path_and_the_argument(tmp_path):
    write(tmp_path, {"train.conllu": TRAIN})
    with pytest.raises(FileNotFoundError, match=r"dev\.conllu: not found \(val_file\)"):
        module(tmp_path).setup()
