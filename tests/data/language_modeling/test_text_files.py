"""Plain-text LM corpora: contiguous fraction cuts (tiny-shakespeare), one file per split (PTB),
bad bytes, download; the full tiny-shakespeare when present."""

from __future__ import annotations

import hashlib

import pytest

from local_server import local_server
from rnnkit.data.io.download import DownloadError
from rnnkit.data.io.reading import BadLinePolicy, BadLineWarning, read_lines
from rnnkit.data.io.vocabulary import EOS, UNK
from rnnkit.data.language_modeling.text_files import (
    TINY_SHAKESPEARE_SHA256,
    TINY_SHAKESPEARE_URL,
    TextFilesDataModule,
    utf8_characters,
)
from shared_data import shared_dataset

PLAY = (
    "First Citizen:\nBefore we proceed any further, hear me speak.\n\n"
    "All:\nSpeak, speak.\n\nFirst Citizen:\nYou are all resolved rather to die than to famish?\n"
)

# PTB's layout: one sentence per line, a space before and after, rare words already <unk>.
PTB = {
    "ptb.train.txt": " the cat sat on the mat \n the dog sat on the <unk> \n",
    "ptb.valid.txt": " the cat sat on the dog \n",
    "ptb.test.txt": " a bird sat on the mat \n",
}


def write_play(tmp_path, text=PLAY, name="input.txt"):
    (tmp_path / name).write_text(text)
    return tmp_path


def split_texts(dm):
    return {split: text_of(dm, split) for split in ("train", "val")}


def text_of(dm, split):
    """The split's text, joined from the pieces load_split streams."""
    return "".join(example["text"] for example in dm.load_split(split))


def test_fractions_cut_the_characters_contiguously_as_nanogpt_does(tmp_path):
    dm = TextFilesDataModule(path=str(write_play(tmp_path)), split_fractions=[0.9, 0.1])
    texts = split_texts(dm)
    cut = int(0.9 * len(PLAY))
    assert texts == {"train": PLAY[:cut], "val": PLAY[cut:]}


def test_three_fractions_give_a_held_out_test_text(tmp_path):
    dm = TextFilesDataModule(path=str(write_play(tmp_path)), split_fractions=[0.8, 0.1, 0.1])
    parts = [text_of(dm, s) for s in ("train", "val", "test")]
    assert "".join(parts) == PLAY
    assert [len(p) for p in parts[:2]] == [
        int(0.8 * len(PLAY)),
        int(0.9 * len(PLAY)) - int(0.8 * len(PLAY)),
    ]


def test_without_test_text_the_test_split_is_the_validation_text_and_says_so(tmp_path):
    dm = TextFilesDataModule(path=str(write_play(tmp_path)), split_fractions=[0.9, 0.1])
    with pytest.warns(UserWarning, match="no held-out test text"):
        dm.setup()
    assert list(dm.stream("test")[0]) == list(dm.stream("val")[0])
    assert len(dm.stream("train")[0]) + len(dm.stream("val")[0]) == len(PLAY)


def test_word_level_cut_moves_to_the_next_line_break(tmp_path):
    dm = TextFilesDataModule(
        path=str(write_play(tmp_path)), split_fractions=[0.5, 0.5], level="word"
    )
    texts = split_texts(dm)
    assert texts["train"].endswith("\n") and texts["train"] + texts["val"] == PLAY
    assert len(texts["train"]) >= int(0.5 * len(PLAY))


def test_one_file_per_split_at_word_level_reads_ptb(tmp_path):
    for name, text in PTB.items():
        (tmp_path / name).write_text(text)
    dm = TextFilesDataModule(
        path=str(tmp_path),
        train_file="ptb.train.txt",
        val_file="ptb.valid.txt",
        test_file="ptb.test.txt",
        level="word",
    )
    dm.setup()
    tokens = dm.vocab.tokens
    assert [tokens[i] for i in dm.stream("train")[0]] == (
        ["the", "cat", "sat", "on", "the", "mat", EOS, "the", "dog", "sat", "on", "the", UNK, EOS]
    )
    # "a" and "bird" never occur in train: <unk>, as PTB maps rare words.
    assert [tokens[i] for i in dm.stream("test")[0]][:3] == [UNK, UNK, "sat"]
    assert dm.decode_text(dm.stream("val")[0]) == "the cat sat on the dog\n"


def test_crlf_line_breaks_become_plain_line_breaks(tmp_path):
    (tmp_path / "input.txt").write_bytes(PLAY.replace("\n", "\r\n").encode())
    dm = TextFilesDataModule(path=str(tmp_path), split_fractions=[0.9, 0.1])
    assert "".join(split_texts(dm).values()) == PLAY


def bad_bytes_file(tmp_path):
    (tmp_path / "input.txt").write_bytes(b"Good morrow.\nFair \xe9 Verona.\nAdieu.\n" * 3)
    return tmp_path


def test_a_line_that_is_not_utf8_is_an_error_naming_file_and_line(tmp_path):
    dm = TextFilesDataModule(path=str(bad_bytes_file(tmp_path)), split_fractions=[0.5, 0.5])
    with pytest.raises(ValueError, match=r"input.txt, line 2: not valid UTF-8: byte 0xe9"):
        dm.setup()


def test_skip_drops_the_bad_lines_with_one_counted_warning(tmp_path):
    dm = TextFilesDataModule(
        path=str(bad_bytes_file(tmp_path)), split_fractions=[0.5, 0.5], on_bad_line="skip"
    )
    with pytest.warns(BadLineWarning, match=r"skipped 3 bad lines in .*input.txt \(first: line 2"):
        texts = split_texts(dm)
    assert "".join(texts.values()) == "Good morrow.\nAdieu.\n" * 3


def test_an_empty_split_is_an_error(tmp_path):
    for name, text in PTB.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "ptb.valid.txt").write_text("\n\n")
    dm = TextFilesDataModule(
        path=str(tmp_path), train_file="ptb.train.txt", val_file="ptb.valid.txt", level="word"
    )
    with pytest.raises(ValueError, match=r"ptb.valid.txt: the val split holds no text"):
        list(dm.load_split("val"))


def test_a_missing_file_names_it_and_suggests_the_download(tmp_path):
    dm = TextFilesDataModule(
        path=str(tmp_path), split_fractions=[0.9, 0.1], url=TINY_SHAKESPEARE_URL
    )
    with pytest.raises(FileNotFoundError, match="data.download=true") as error:
        dm.setup()
    assert error.value.filename == str(tmp_path / "input.txt")


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"split_fractions": [0.9, 0.2]}, "summing to 1"),
        ({"split_fractions": [1.0]}, r"\[train, val\]"),
        ({"split_fractions": [0.5, -0.1, 0.6]}, "positive"),
        ({"split_fractions": "0.9,0.1"}, "split_fractions"),
        ({"split_fractions": [0.9, 0.1], "val_file": "valid.txt"}, "val_file='valid.txt'"),
        ({}, "split_fractions: expected .* when val_file is null"),
        ({"split_fractions": [0.9, 0.1], "level": "byte"}, "level: expected one of"),
        (
            {"split_fractions": [0.9, 0.1], "download": True},
            "download: download=true needs data.url",
        ),
    ],
)
def test_bad_options_are_named(tmp_path, options, expected):
    with pytest.raises(ValueError, match=expected):
        TextFilesDataModule(path=str(tmp_path), **options)


def test_download_fetches_and_verifies_the_single_file(tmp_path):
    body = PLAY.encode()
    with local_server() as server:
        url = server.add("/data/tinyshakespeare/input.txt", body)
        dm = TextFilesDataModule(
            path=str(tmp_path),
            split_fractions=[0.9, 0.1],
            download=True,
            url=url,
            sha256=hashlib.sha256(body).hexdigest(),
        )
        assert "".join(split_texts(dm).values()) == PLAY
        TextFilesDataModule(
            path=str(tmp_path), split_fractions=[0.9, 0.1], download=True, url=url
        ).source_files()
        assert len(server.requests) == 1  # the second module found the file


def test_download_refuses_a_file_whose_checksum_differs(tmp_path):
    with local_server() as server:
        url = server.add("/input.txt", PLAY.encode())
        dm = TextFilesDataModule(
            path=str(tmp_path),
            split_fractions=[0.9, 0.1],
            download=True,
            url=url,
            sha256=TINY_SHAKESPEARE_SHA256,
        )
        with pytest.raises(DownloadError, match="sha256"):
            dm.setup()
    assert not (tmp_path / "input.txt").exists()


# ---- the real data (../shared/data/tinyshakespeare), when present ------------------------


@pytest.mark.slow
def test_full_tiny_shakespeare_has_the_known_counts():
    folder = shared_dataset("tinyshakespeare", "input.txt")
    data = (folder / "input.txt").read_bytes()
    assert hashlib.sha256(data).hexdigest() == TINY_SHAKESPEARE_SHA256
    dm = TextFilesDataModule(path=str(folder), split_fractions=[0.9, 0.1])
    with pytest.warns(UserWarning, match="no held-out test text"):
        dm.setup()
    assert len(data) == 1_115_394 and len(set(data.decode())) == 65
    assert [len(dm.stream(s)[0]) for s in ("train", "val")] == [1_003_854, 111_540]
    assert dm.spec["vocab_size"] == 65 + 2  # <pad>, <unk>


@pytest.mark.parametrize("level", ["char", "word"])
@pytest.mark.parametrize("fractions", [[0.5, 0.5], [0.3, 0.3, 0.4]])
@pytest.mark.parametrize("piece", [1, 7, 40, 10_000])
def test_small_pieces_give_the_same_splits_as_the_whole_text(tmp_path, level, fractions, piece):
    """Files stream in pieces cut at line ends; the parts must not depend on the piece size."""
    whole = TextFilesDataModule(
        path=str(write_play(tmp_path)), split_fractions=fractions, level=level
    )
    expected = {s: text_of(whole, s) for s in ("train", "val")}
    bounds = whole.cut_points(PLAY)
    assert "".join(expected.values()) == PLAY[: bounds[2]]
    pieces = TextFilesDataModule(path=str(tmp_path), split_fractions=fractions, level=level)
    pieces.PIECE_CHARACTERS = piece
    streamed = {s: list(pieces.load_split(s)) for s in ("train", "val")}
    for split, examples in streamed.items():
        assert "".join(e["text"] for e in examples) == expected[split]
        assert [e["continues"] for e in examples] == [False] + [True] * (len(examples) - 1)
    # Cached: the prepared stream equals the in-memory one, whatever the piece size.
    pieces.cache_dir = tmp_path / "prepared"
    pieces.setup()
    whole.setup()
    for split in ("train", "val", "test"):
        assert pieces.stream(split)[0].tolist() == whole.stream(split)[0].tolist()
        assert pieces.stream(split)[1].tolist() == [0]


def test_a_second_setup_reads_the_prepared_cache_without_reading_the_file(tmp_path, monkeypatch):
    folder = write_play(tmp_path)
    options = dict(path=str(folder), split_fractions=[0.9, 0.1], cache_dir=str(tmp_path / "c"))
    first = TextFilesDataModule(**options)
    first.setup()
    reads = []
    original = TextFilesDataModule.read_pieces
    monkeypatch.setattr(
        TextFilesDataModule,
        "read_pieces",
        lambda self, name: reads.append(name) or original(self, name),
    )
    second = TextFilesDataModule(**options)
    second.setup()
    assert reads == []
    assert second.vocab.tokens == first.vocab.tokens
    assert second.stream("train")[0].tolist() == first.stream("train")[0].tolist()
    (folder / "input.txt").write_text(PLAY.replace("the", "The"))  # an edited file: rebuilt
    third = TextFilesDataModule(**options)
    third.setup()
    assert reads
    assert "T" in third.vocab.tokens


@pytest.mark.parametrize(
    "raw",
    [
        b"plain\nlines\n",
        b"no final break",
        b"\xef\xbb\xbfbom first\r\nthen crlf\r\n",
        b"caf\xc3\xa9 \xe2\x82\xac\r\nlone\rreturn\r",
        b"",
        b"\n\n\r\n",
    ],
)
@pytest.mark.parametrize("block", [1, 2, 3, 1 << 24])
def test_characters_counted_on_bytes_equal_the_text_read(tmp_path, raw, block):
    (tmp_path / "input.txt").write_bytes(raw)
    dm = TextFilesDataModule(path=str(tmp_path), split_fractions=[0.5, 0.5])
    assert utf8_characters(tmp_path / "input.txt", block) == len(dm.read_text("input.txt"))


def test_characters_of_a_file_with_bad_bytes_are_not_guessed(tmp_path):
    (tmp_path / "input.txt").write_bytes(b"good\nbad \xe9 byte\n")
    assert utf8_characters(tmp_path / "input.txt") is None


@pytest.mark.parametrize("piece", [1, 5, 64, 1 << 20])
@pytest.mark.parametrize(
    "raw",
    [
        b"one\ntwo\n\nthree\n",
        b"no final break\nlast",
        b"\xef\xbb\xbfbom first\r\ncrlf\r\nlone\rcr\n",
        b"\n\n\nblank lines only\n\n",
        b"caf\xc3\xa9 \xe2\x82\xac\nx\n",
    ],
)
def test_pieces_join_to_the_text_read_line_by_line(tmp_path, raw, piece):
    (tmp_path / "input.txt").write_bytes(raw)
    dm = TextFilesDataModule(path=str(tmp_path), split_fractions=[0.5, 0.5])
    dm.PIECE_CHARACTERS = piece
    lines = [line for _, line in read_lines(tmp_path / "input.txt")]
    expected = "\n".join(lines) + ("\n" if raw.endswith(b"\n") else "")
    pieces = list(dm.read_pieces("input.txt"))
    assert "".join(pieces) == expected
    assert all(p.endswith("\n") for p in pieces[:-1])  # cut at line ends


def test_lines_that_are_not_utf8_are_skipped_alike_in_any_piece(tmp_path):
    raw = b"good\nbad \xe9 one\nfine\n\xff\nend"
    (tmp_path / "input.txt").write_bytes(raw)
    policy = BadLinePolicy(tmp_path / "input.txt", "skip")
    lines = [line for _, line in read_lines(tmp_path / "input.txt", policy)]
    for piece in (1, 8, 1 << 20):
        dm = TextFilesDataModule(path=str(tmp_path), split_fractions=[0.5, 0.5], on_bad_line="skip")
        dm.PIECE_CHARACTERS = piece
        with pytest.warns(BadLineWarning, match="skipped 2 bad lines .* line 2: not valid UTF-8"):
            assert "".join(dm.read_pieces("input.txt")) == "\n".join(lines)
