"""CoNLL chunks of regular lines are read column-wise; the oracle is the line-by-line reader
(the same datamodule with the column-wise path turned off), on files cut into tiny chunks so
that sentences, documents and bad lines fall across chunk boundaries."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from rnnkit.data.tagging import conll
from rnnkit.data.tagging.conll import CoNLLDataModule

TAGS = ["O", "I-PER", "I-LOC", "B-LOC", "I-ORG"]


def conll_lines(count: int, seed: int, bad: bool) -> list[str]:
    rng = np.random.default_rng(seed)
    lines = ["-DOCSTART- -X- -X- O", ""]
    for _ in range(count):
        roll = rng.random()
        if roll < 0.12:
            lines.append("")
        elif roll < 0.14:
            lines += ["", "-DOCSTART- -X- -X- O", ""]
        elif bad and roll < 0.16:
            lines.append(
                ["two fields", "a\tb c O", "x  y z O", "w X Y Q-NOPE", " lead X Y O"][
                    int(rng.integers(5))
                ]
            )
        else:
            word = ["EU", "-LRB-", "rejects", "German", "call", "-X-", "."][int(rng.integers(7))]
            lines.append(f"{word} NNP B-NP {TAGS[int(rng.integers(len(TAGS)))]}")
    return lines


def read(folder, name, chunk_bytes, monkeypatch, regular: bool, on_bad_line="skip"):
    monkeypatch.setattr(conll, "READ_CHUNK_BYTES", chunk_bytes)
    if not regular:
        monkeypatch.setattr(CoNLLDataModule, "_regular_chunk", lambda *args: None)
    module = CoNLLDataModule(str(folder), on_bad_line=on_bad_line)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        examples = list(module.read_file(folder / name))
    monkeypatch.undo()
    return examples, module.documents, [str(w.message) for w in caught]


@pytest.mark.parametrize("chunk_bytes", [1, 40, 333, 1 << 20])
@pytest.mark.parametrize("bad", [False, True])
@pytest.mark.parametrize("seed", [0, 1])
def test_column_wise_chunks_read_what_the_line_reader_reads(
    tmp_path, monkeypatch, chunk_bytes, bad, seed
):
    lines = conll_lines(400, seed, bad)
    raw = "\n".join(lines).encode() + (b"\ncaf\xe9 X Y O\n" if bad else b"\n")
    (tmp_path / "eng.train").write_bytes(raw)
    fast = read(tmp_path, "eng.train", chunk_bytes, monkeypatch, regular=True)
    slow = read(tmp_path, "eng.train", chunk_bytes, monkeypatch, regular=False)
    assert fast == slow
    assert len(fast[0]) > 20 and fast[1]["eng.train"] > 1


def test_the_first_bad_line_is_the_same_error(tmp_path, monkeypatch):
    lines = conll_lines(300, 3, bad=False)
    lines[150] = "a b O"  # three columns of four
    (tmp_path / "eng.train").write_text("\n".join(lines) + "\n")
    errors = []
    for regular in (True, False):
        with pytest.raises(ValueError) as error:
            read(tmp_path, "eng.train", 200, monkeypatch, regular, on_bad_line="error")
        errors.append(str(error.value))
    assert errors[0] == errors[1] and "eng.train, line 151:" in errors[0]


def test_a_regular_chunk_is_read_column_wise(tmp_path):
    module = CoNLLDataModule(str(tmp_path))
    lines = ["-DOCSTART- -X- -X- O", "", "EU NNP B-NP I-ORG", "rejects VBZ B-VP O", "", "x Y Z O"]
    words, boundaries, before = module._regular_chunk(lines, 4, set())
    assert words == (["EU", "rejects", "x"], ["I-ORG", "O", "O"])
    assert boundaries == [(0, 2), (1, 1), (4, 1)] and before.tolist() == [0, 0, 1, 2, 2, 3]
    assert module._regular_chunk(["EU NNP B-NP I-ORG", "a  b c O"], 4, set()) is None
    assert module._regular_chunk(["EU NNP B-NP Q-NOPE"], 4, set()) is None
