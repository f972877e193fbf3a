"""CoNLL-2003 column files: layout and quirks, tag schemes, bad lines, character features; the
full shared data when present."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

from rnnkit.data.io.reading import BadLineWarning
from rnnkit.data.tagging.conll import CoNLLDataModule
from rnnkit.data.tagging.tag_schemes import convert_tags
from shared_data import shared_dataset

# (word, POS, chunk, NER) per token; sentences as in the real files, NER in IOB1 ("B-" only
# where an entity directly follows one of the same type).
TRAIN_SENTENCES = [
    [
        ("EU", "NNP", "I-NP", "I-ORG"),
        ("rejects", "VBZ", "I-VP", "O"),
        ("German", "JJ", "I-NP", "I-MISC"),
        ("call", "NN", "I-NP", "O"),
        (".", ".", "O", "O"),
    ],
    [("Peter", "NNP", "I-NP", "I-PER"), ("Blackburn", "NNP", "I-NP", "I-PER")],
    [
        ("BRUSSELS", "NNP", "I-NP", "I-LOC"),
        ("Paris", "NNP", "I-NP", "B-LOC"),
        ("1996-08-22", "CD", "I-NP", "O"),
    ],
    [
        ("the", "DT", "I-NP", "O"),
        ("Atlanta", "NNP", "I-NP", "B-MISC"),
        ("Games", "NNPS", "I-NP", "I-MISC"),
    ],
    [("Reuters", "NNP", "I-NP", "I-ORG"), ("said", "VBD", "I-VP", "O")],
]
VAL_SENTENCES = [[("CRICKET", "NNP", "I-NP", "O"), ("Leicestershire", "NNP", "I-NP", "I-ORG")]]
TEST_SENTENCES = [
    [
        ("SOCCER", "NN", "I-NP", "O"),
        ("JAPAN", "NNP", "I-NP", "I-LOC"),
        ("Ünïcode", "NN", "I-NP", "O"),
    ],
    [("Nadim", "NNP", "I-NP", "I-PER"), ("Ladki", "NNP", "I-NP", "I-PER")],
]


def conll_text(sentences, header: str = "-DOCSTART- -X- O O", documents: int = 1) -> str:
    """The real layout: a header and a blank line per document, a blank line after each
    sentence, two extra blank lines at the end."""
    per_document = -(-len(sentences) // documents)
    lines = []
    for start in range(0, len(sentences), per_document):
        lines += [header, ""]
        for sentence in sentences[start : start + per_document]:
            lines += [" ".join(token) for token in sentence] + [""]
    return "\n".join(lines) + "\n\n"


FILES = {
    "eng.train": conll_text(TRAIN_SENTENCES, documents=2),
    "eng.testa": conll_text(VAL_SENTENCES),
    "eng.testb": conll_text(TEST_SENTENCES, header="-DOCSTART- -X- -X- O"),
}
SENTENCES = {"train": TRAIN_SENTENCES, "val": VAL_SENTENCES, "test": TEST_SENTENCES}


def write_conll(folder: Path, files: dict[str, str | bytes] = FILES) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_bytes(text if isinstance(text, bytes) else text.encode())
    return folder


@pytest.fixture
def folder(tmp_path):
    return write_conll(tmp_path / "conll2003")


def test_reads_sentences_not_documents_nor_blank_lines(folder):
    dm = CoNLLDataModule(str(folder))
    for split, sentences in SENTENCES.items():
        examples = list(dm.load_split(split))  # a generator: read as consumed
        assert [e["tokens"] for e in examples] == [[t[0] for t in s] for s in sentences]
        assert [e["tags"] for e in examples] == [[t[3] for t in s] for s in sentences]
    assert dm.documents == {"eng.train": 2, "eng.testa": 1, "eng.testb": 1}
    first = list(dm.load_split("train"))[1]["source"]
    assert first == f"{folder / 'eng.train'}, line 9"  # Peter: after a header and a sentence


@pytest.mark.parametrize("scheme", ["BIO", "BIOES", "IOB1"])
def test_iob1_is_converted_to_the_model_scheme(folder, scheme):
    dm = CoNLLDataModule(str(folder), tag_scheme=scheme)
    dm.setup()
    for split, sentences in SENTENCES.items():
        for encoded, sentence in zip(dm.datasets[split], sentences):
            expected = convert_tags([t[3] for t in sentence], "IOB1", scheme)
            assert dm.decode_tags(encoded["tags"]) == expected
    if scheme != "IOB1":  # BRUSSELS and Paris stay two LOC chunks
        brussels = dm.decode_tags(dm.datasets["train"][2]["tags"])
        assert brussels[:2] == (["B-LOC", "B-LOC"] if scheme == "BIO" else ["S-LOC", "S-LOC"])


@pytest.mark.parametrize(
    ("column", "scheme", "expected"),
    [(1, "none", "POS"), (2, "BIO", "chunk"), (3, "BIO", "NER")],
)
def test_the_tag_column_and_its_default_schemes(folder, column, scheme, expected):
    dm = CoNLLDataModule(str(folder), column=column)
    assert dm.tag_scheme == scheme
    dm.setup()
    index = ("word", "POS", "chunk", "NER").index(expected)
    raw = [t[index] for t in TRAIN_SENTENCES[0]]
    assert dm.decode_tags(dm.datasets["train"][0]["tags"]) == convert_tags(
        raw, "none" if column == 1 else "IOB1", scheme
    )


def test_artifacts_are_fitted_on_train_only_and_round_trip_through_json(folder):
    dm = CoNLLDataModule(str(folder), tag_scheme="BIOES", char_features=True)
    dm.setup()
    train_words = {t[0] for s in TRAIN_SENTENCES for t in s}
    assert set(dm.vocab.tokens[2:]) == train_words
    assert "Ü" not in dm.char_vocab and "JAPAN" not in dm.vocab  # test-only word/character
    assert dm.tags == ["O"] + [f"{p}-{t}" for t in ("LOC", "MISC", "ORG", "PER") for p in "BIES"]
    restored = CoNLLDataModule("/nowhere", tag_scheme="BIOES", char_features=True)
    restored.restore(json.loads(json.dumps(dm.artifacts())))
    assert restored.spec == dm.spec and restored.spec["char_vocab_size"] == len(dm.char_vocab)
    batch = restored.batch_from_raw("EU rejects Ünïcode")
    assert batch["chars"].shape == (1, 3, 7) and batch["word_lengths"].tolist() == [[2, 7, 7]]
    assert batch["chars"][0, 2, 0] == dm.char_vocab.id("<unk>")  # Ü is not a training char


def test_character_batches(folder):
    dm = CoNLLDataModule(str(folder), char_features=True, batch_size=3)
    dm.setup()
    batch = next(iter(dm.train_dataloader()))
    assert set(batch) == {"tokens", "lengths", "words", "tags", "chars", "word_lengths"}
    n, length = batch["tokens"].shape
    assert batch["chars"].shape[:2] == (n, length)
    assert batch["chars"].shape[2] == max(len(w) for words in batch["words"] for w in words)
    for row, words in enumerate(batch["words"]):
        lengths = batch["word_lengths"][row]
        assert lengths.tolist() == [len(w) for w in words] + [0] * (length - len(words))
        for column, word in enumerate(words):
            ids = batch["chars"][row, column]
            assert "".join(dm.char_vocab.decode(ids[: len(word)].tolist())) == word
            assert not ids[len(word) :].any()  # padding
    plain = CoNLLDataModule(str(folder))
    plain.setup()
    assert "chars" not in plain.collate(plain.datasets["train"][:2])
    assert "char_vocab_size" not in plain.spec and "char_vocab" not in plain.artifacts()


def test_restoring_char_features_from_artifacts_without_them_is_refused(folder):
    dm = CoNLLDataModule(str(folder))
    dm.setup()
    with pytest.raises(ValueError, match="char_features: true, but the fitted artifacts"):
        CoNLLDataModule(str(folder), char_features=True).restore(dm.artifacts())


BAD_LINES = {
    # case: (file, line inserted as line 4 (inside the first sentence), expected message)
    "three columns": ("eng.train", b"European NNP I-NP", r"expected 4 space-separated columns"),
    "five columns": ("eng.testb", b"a DT I-NP O O", r"expected 4 space-separated columns"),
    "invalid IOB1 tag": ("eng.train", b"Commission NNP I-NP X-ORG", r"column 3: 'X-ORG'"),
    "BIOES tag in IOB1": ("eng.testa", b"Commission NNP I-NP S-ORG", r"'S-ORG' is not a IOB1"),
    "tag without type": ("eng.train", b"Commission NNP I-NP B", r"'B' is not a IOB1 tag"),
    "non-UTF-8 bytes": ("eng.testb", b"caf\xe9 NN I-NP O", r"not valid UTF-8"),
}
SPLIT_OF = {"eng.train": "train", "eng.testa": "val", "eng.testb": "test"}


def with_bad_line(name: str, line: bytes) -> dict[str, bytes]:
    lines = FILES[name].encode().split(b"\n")
    return {**FILES, name: b"\n".join([*lines[:3], line, *lines[3:]])}


@pytest.mark.parametrize("case", sorted(BAD_LINES))
@pytest.mark.parametrize("mode", ["error", "skip"])
def test_bad_lines_name_file_and_line_or_drop_their_sentence(tmp_path, case, mode):
    name, line, expected = BAD_LINES[case]
    folder = write_conll(tmp_path, with_bad_line(name, line))
    dm = CoNLLDataModule(str(folder), on_bad_line=mode)
    where = re.escape(f"{folder / name}, line 4: ")
    if mode == "error":
        with pytest.raises(ValueError, match=f"^{where}.*{expected}"):
            dm.setup()
        return
    with pytest.warns(BadLineWarning, match=f"skipped 1 bad line in .*{name} .*line 4: "):
        dm.setup()
    counts = {split: len(sentences) for split, sentences in SENTENCES.items()}
    counts[SPLIT_OF[name]] -= 1  # the sentence holding the bad line is dropped, no other
    assert {split: len(data) for split, data in dm.datasets.items()} == counts


def test_column_count_is_taken_from_the_file_when_num_columns_is_null(tmp_path):
    two_columns = "-DOCSTART- O\n\nEU I-ORG\nrejects O\n\nPeter I-PER\n"  # CoNLL-2002 style
    folder = write_conll(tmp_path, {"train.txt": two_columns})
    options = {"column": 1, "num_columns": None, "source_tag_scheme": "IOB1"}
    dm = CoNLLDataModule(str(folder), "train.txt", "train.txt", None, **options)
    assert [e["tags"] for e in dm.load_split("train")] == [["I-ORG", "O"], ["I-PER"]]
    bad = write_conll(tmp_path / "bad", {"train.txt": two_columns + "Paris NNP I-LOC\n"})
    dm = CoNLLDataModule(str(bad), "train.txt", None, None, **options)
    with pytest.raises(ValueError, match=r"train\.txt, line 7: expected 2 space-separated"):
        list(dm.load_split("train"))


def test_val_file_null_carves_the_validation_split_from_train(folder):
    dm = CoNLLDataModule(str(folder), val_file=None, val_ratio=0.4, test_file=None)
    train, val = list(dm.load_split("train")), list(dm.load_split("val"))
    assert (len(train), len(val), list(dm.load_split("test"))) == (3, 2, [])
    assert sorted(e["source"] for e in train + val) == sorted(
        e["source"] for e in CoNLLDataModule(str(folder)).load_split("train")
    )


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"column": 0}, r"^column: expected a 0-based column index >= 1"),
        ({"column": 4}, r"^column: expected a column index below num_columns=4, got 4"),
        ({"column": True}, r"^column: expected"),
        ({"on_bad_line": "ignore"}, r"^on_bad_line: expected one of \['error', 'skip'\]"),
        ({"tag_scheme": "BILOU"}, r"^tag_scheme: expected one of"),
        ({"char_features": "yes"}, r"^char_features: expected true or false"),
        ({"train_file": ""}, r"^train_file: expected"),
    ],
)
def test_bad_arguments(folder, arguments, message):
    with pytest.raises(ValueError, match=message):
        CoNLLDataModule(str(folder), **arguments)


def test_entity_scheme_on_the_pos_column_names_the_file_and_line(folder):
    dm = CoNLLDataModule(str(folder), column=1, source_tag_scheme="IOB1")
    with pytest.raises(ValueError, match=r"eng\.train, line 3: column 1: 'NNP' is not a IOB1"):
        dm.setup()


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "eng.train"))):
        CoNLLDataModule(str(tmp_path)).setup()


# ---- the real data (../shared/data/conll2003), when present ------------------------------


def shared_conll2003() -> Path:
    return shared_dataset("conll2003", "eng.train")


MD5 = {
    "eng.train": "11a942ce9db6cc64270372825e964d26",
    "eng.testa": "7b3e0ba9cdf7fbbf127b55d9b9dd5457",
    "eng.testb": "0fffccef04921ad93da95c72118d1377",
}


@pytest.mark.slow
def test_full_conll2003_has_the_known_counts():
    folder = shared_conll2003()
    for name, md5 in MD5.items():
        assert hashlib.md5((folder / name).read_bytes()).hexdigest() == md5, name
    dm = CoNLLDataModule(str(folder), tag_scheme="BIOES")  # on_bad_line="error": none is bad
    counts = {}
    for split in ("train", "val", "test"):
        examples = list(dm.load_split(split))
        counts[split] = (len(examples), sum(len(e["tokens"]) for e in examples))
    assert counts == {
        "train": (14_041, 203_621),
        "val": (3_250, 51_362),
        "test": (3_453, 46_435),
    }
    assert dm.documents == {"eng.train": 946, "eng.testa": 216, "eng.testb": 231}
    dm.setup()
    assert dm.spec["tag_names"][0] == "O" and len(dm.spec["tag_names"]) == 1 + 4 * 4
    # The two B-MISC right after an O in eng.train (Atlanta, Urdu-speaking) start chunks.
    begins = [
        e["tokens"][i]
        for e in dm.load_split("train")
        for i, tag in enumerate(e["tags"])
        if tag.startswith("B-") and (i == 0 or e["tags"][i - 1] == "O")
    ]
    assert sorted(begins) == ["Atlanta", "Urdu-speaking"]
