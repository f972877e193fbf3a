"""Pretrained word vectors: the three text formats, gzip, case-insensitive fallback, streaming
(only vocabulary rows parsed), and bad files named by file and line."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from rnnkit.data.io.word_vectors import (
    check_vector_size,
    read_word_vectors,
    unknown_row_scale,
    vector_file_dimension,
)

VOCAB = ["<pad>", "<unk>", "the", "Paris", "berlin", "zzzunseen"]
ROWS = {
    "the": [0.1, 0.2, 0.3],
    "paris": [1.0, 1.5, -2.0],  # lower-case only: "Paris" falls back to it
    "Berlin": [4.0, 5.0, 6.0],  # capitalised only: "berlin" falls back to it
    "BERLIN": [7.0, 8.0, 9.0],  # a later case variant: the first one wins
    "unrelated": [9.0, 9.0, 9.0],
}


def vector_lines(rows: dict[str, list[float]]) -> list[str]:
    return [word + " " + " ".join(f"{v:g}" for v in values) for word, values in rows.items()]


def write(path, lines, header=None, trailing_space=False):
    text = "".join(line + (" " if trailing_space else "") + "\n" for line in lines)
    if header is not None:
        text = f"{header}\n" + text
    if path.suffix == ".gz":
        with gzip.open(path, "wt", encoding="utf-8") as handle:
            handle.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("name", "header", "trailing_space"),
    [
        ("glove.txt", None, False),  # GloVe: no header
        ("word2vec.txt", "5 3", False),  # word2vec text: "<count> <dimension>"
        ("cc.en.vec", "5 3", True),  # fastText .vec: header, a space before each newline
        ("glove.txt.gz", None, False),
        ("cc.en.vec.gz", "5 3", True),
    ],
)
def test_every_text_format_gives_the_same_rows(tmp_path, name, header, trailing_space):
    path = write(tmp_path / name, vector_lines(ROWS), header, trailing_space)
    vectors = read_word_vectors(path, VOCAB)
    assert vectors.dimension == 3 == vector_file_dimension(path)
    assert vectors.vectors.shape == (len(VOCAB), 3) and vectors.vectors.dtype == np.float32
    np.testing.assert_array_equal(vectors.vectors[2], np.float32(ROWS["the"]))
    np.testing.assert_array_equal(vectors.vectors[3], np.float32(ROWS["paris"]))
    np.testing.assert_array_equal(vectors.vectors[4], np.float32(ROWS["Berlin"]))
    assert vectors.found.tolist() == [False, False, True, True, True, False]
    assert not vectors.vectors[[0, 1, 5]].any()  # padding, <unk>, unknown words: zeros
    assert (vectors.exact, vectors.case_insensitive, vectors.missing) == (1, 2, ["zzzunseen"])
    assert vectors.coverage() == (
        f"3 of 4 words found in {path.name} (1 exact, 2 case-insensitive); 1 not found "
        "(e.g. zzzunseen)"
    )


def test_an_exact_match_beats_an_earlier_case_variant(tmp_path):
    path = write(tmp_path / "v.txt", ["paris 1 1", "Paris 2 2", "PARIS 3 3"])
    vectors = read_word_vectors(path, ["<pad>", "Paris", "paris", "pArIs"])
    assert vectors.vectors[1:].tolist() == [[2, 2], [1, 1], [1, 1]]
    assert (vectors.exact, vectors.case_insensitive) == (2, 1)


def test_only_vocabulary_rows_are_parsed(tmp_path):
    # Lines of other words are never parsed, so their garbage goes unnoticed (files are GBs);
    # the vocabulary's own lines are checked.
    lines = ["the 1 2", "junk not-a-number ???", "also junk with too many fields", "a 3 4"]
    vectors = read_word_vectors(write(tmp_path / "v.txt", lines), ["<pad>", "the", "a"])
    assert vectors.vectors.tolist() == [[0, 0], [1, 2], [3, 4]]


def test_reading_stops_once_every_word_has_its_own_row(tmp_path):
    path = tmp_path / "v.txt"
    path.write_bytes(b"the 1 2\na 3 4\n" + b"\xff\xfe broken \x00 tail without a newline")
    assert read_word_vectors(path, ["<pad>", "the", "a"]).vectors.tolist()[1:] == [[1, 2], [3, 4]]


def test_words_with_bytes_that_are_not_utf8_match_nothing(tmp_path):
    path = tmp_path / "v.txt"
    path.write_bytes(b"caf\xe9 1 2\nthe 3 4\n")
    vectors = read_word_vectors(path, ["<pad>", "caf\xe9", "the"])
    assert vectors.missing == ["caf\xe9"] and vectors.vectors[2].tolist() == [3, 4]


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (["a 1 2", "the 1 2 3"], "v.txt, line 2: expected a word and 2 values"),
        (["5 2", "a 1 2", "the 1"], "v.txt, line 3: expected a word and 2 values (the file's"),
        (["a 1 2", "the 1 x2"], "v.txt, line 2: 'x2' is not a number (word 'the')"),
        (["the nan 1"], "v.txt, line 1: non-finite value for word 'the'"),
        (["lonely"], "v.txt, line 1: expected a word and its values separated by spaces"),
        ([], "v.txt: empty"),
        (["", "  "], "v.txt: empty"),
    ],
)
def test_a_bad_line_of_a_vocabulary_word_names_file_and_line(tmp_path, lines, expected):
    path = write(tmp_path / "v.txt", lines)
    with pytest.raises(ValueError, match="^.*$") as error:
        read_word_vectors(path, ["<pad>", "the"])
    assert str(error.value).startswith(str(path)) and expected in str(error.value)


def test_a_size_mismatch_is_one_line_with_the_file_and_both_sizes(tmp_path):
    path = write(tmp_path / "glove.6B.50d.txt", ["the 1 2 3"])
    message = (
        f"model.embedding.pretrained: {path} holds 3-dimensional vectors, but "
        "model.embedding_dim is 64; set model.embedding_dim=3"
    )
    with pytest.raises(ValueError) as error:
        read_word_vectors(
            path, ["<pad>", "the"], 64, "model.embedding_dim", "model.embedding.pretrained"
        )
    assert str(error.value) == message
    with pytest.raises(ValueError) as error:
        check_vector_size(path, 64, "model.embedding_dim", "model.embedding.pretrained")
    assert str(error.value) == message
    assert check_vector_size(path, 3, "model.embedding_dim", "model.embedding.pretrained") == 3


def test_missing_and_binary_files_are_refused(tmp_path):
    with pytest.raises(FileNotFoundError) as error:
        read_word_vectors(tmp_path / "nope.vec", ["<pad>"])
    assert error.value.filename == str(tmp_path / "nope.vec")
    binary = tmp_path / "GoogleNews-vectors-negative300.bin"
    binary.write_bytes(b"3 2\nthe \x00\x00\x80?\x00\x00\x00@")
    with pytest.raises(ValueError, match="binary vectors file; rnnkit reads the text formats"):
        read_word_vectors(binary, ["<pad>", "the"])


def test_unknown_rows_are_drawn_at_the_scale_of_the_found_ones(tmp_path):
    rows = np.random.default_rng(0).normal(0, 0.3, size=(200, 4))
    lines = [f"w{i} " + " ".join(map(str, row)) for i, row in enumerate(rows)]
    vectors = read_word_vectors(
        write(tmp_path / "v.txt", lines), ["<pad>", *map("w{}".format, range(200))]
    )
    assert unknown_row_scale(vectors) == pytest.approx(rows.std(), rel=1e-5)
    empty = read_word_vectors(write(tmp_path / "w.txt", lines), ["<pad>", "other"])
    assert unknown_row_scale(empty) == 1.0
