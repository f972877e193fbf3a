"""Line-level reading: line numbers, line endings, UTF-8 errors by line, bad-line policies."""

from __future__ import annotations

import warnings
from collections import Counter

import pytest

from rnnkit.data.io.reading import (
    BadLinePolicy,
    BadLineWarning,
    carved_mask,
    check_on_bad_line,
    decode_lines,
    read_block_chunks,
    read_blocks,
    read_lines,
    split_off,
)

LINES = ["sentence\tlabel", "a fine film \t1", "", "dull\t0"]


@pytest.mark.parametrize("ending", ["\n", "\r\n"])
@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"])
@pytest.mark.parametrize("final_newline", [True, False])
def test_read_lines_numbers_lines_and_strips_endings(tmp_path, ending, bom, final_newline):
    text = ending.join(LINES) + (ending if final_newline else "")
    path = tmp_path / "train.tsv"
    path.write_bytes(bom + text.encode())
    assert list(read_lines(path)) == list(enumerate(LINES, start=1))


def write_with_bad_bytes(path, bad_line_numbers, total=6):
    lines = [
        b"caf\xe9 cr\xe8me\t1" if n in bad_line_numbers else f"line {n} \u00e9t\u00e9\t0".encode()
        for n in range(1, total + 1)
    ]
    path.write_bytes(b"\n".join(lines) + b"\n")


def test_non_utf8_line_is_an_error_naming_file_line_and_byte(tmp_path):
    path = tmp_path / "dev.tsv"
    write_with_bad_bytes(path, {4})
    with pytest.raises(
        ValueError, match=r"dev\.tsv, line 4: not valid UTF-8: byte 0xe9 at column 4"
    ):
        list(read_lines(path))


@pytest.mark.parametrize("bad", [{1}, {2, 5}, {3, 4, 6}])
def test_non_utf8_lines_are_skipped_and_counted(tmp_path, bad):
    path = tmp_path / "train.tsv"
    write_with_bad_bytes(path, bad)
    with pytest.warns(BadLineWarning) as caught, BadLinePolicy(path, "skip") as policy:
        lines = list(read_lines(path, policy))
    assert [n for n, _ in lines] == [n for n in range(1, 7) if n not in bad]
    assert all(text == f"line {n} \u00e9t\u00e9\t0" for n, text in lines)
    (warning,) = caught
    noun = "line" if len(bad) == 1 else "lines"
    assert str(warning.message).startswith(
        f"skipped {len(bad)} bad {noun} in {path} (first: line {min(bad)}: not valid UTF-8"
    )


@pytest.mark.parametrize("mode", ["error", "skip"])
def test_policy_reports_by_mode(tmp_path, mode):
    policy = BadLinePolicy(tmp_path / "x.csv", mode)
    if mode == "error":
        with pytest.raises(ValueError, match=r"x\.csv, line 17: expected 2 columns, found 3$"):
            policy.report("expected 2 columns, found 3", 17)
        return
    policy.report("expected 2 columns, found 3", 17)
    policy.report("empty sentence", 20)
    policy.report("empty review", path=tmp_path / "pos" / "3_9.txt")
    assert [problem for _, problem in policy.skipped] == [
        "expected 2 columns, found 3",
        "empty sentence",
        "empty review",
    ]
    assert policy.summary() == (
        f"skipped 3 bad lines in {tmp_path / 'x.csv'} (first: line 17: expected 2 columns, found 3)"
    )
    with pytest.warns(BadLineWarning):
        policy.finish()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        policy.finish()  # warns only once


def test_policy_is_silent_without_bad_lines_and_on_errors(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with BadLinePolicy(tmp_path / "a.tsv", "skip"):
            pass
        with pytest.raises(RuntimeError), BadLinePolicy(tmp_path / "a.tsv", "skip") as policy:
            policy.report("bad", 1)
            raise RuntimeError("reading failed")  # the error, not a summary, reaches the user


@pytest.mark.parametrize("value", ["warn", "ignore", None, True, "SKIP"])
def test_on_bad_line_values_are_checked(value):
    with pytest.raises(ValueError, match="on_bad_line: expected one of"):
        check_on_bad_line(value)
    with pytest.raises(ValueError, match="on_bad_line"):
        BadLinePolicy("x", value)


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        list(read_lines(tmp_path / "absent.tsv"))


EXAMPLES = [{"id": i, "label": "pos" if i % 3 else "neg"} for i in range(90)]


@pytest.mark.parametrize("fraction", [0.1, 0.25, 0.5])
@pytest.mark.parametrize("seed", [0, 1])
def test_split_off_is_stratified_disjoint_and_deterministic(fraction, seed):
    kept, carved = split_off(EXAMPLES, fraction, seed, group=lambda e: e["label"])
    assert sorted(e["id"] for e in kept + carved) == list(range(90))
    counts = Counter(e["label"] for e in carved)
    assert counts == {"neg": round(fraction * 30), "pos": round(fraction * 60)}
    assert [e["id"] for e in kept] == sorted(e["id"] for e in kept)  # input order kept
    assert (kept, carved) == split_off(EXAMPLES, fraction, seed, group=lambda e: e["label"])


def test_split_off_depends_on_the_seed():
    assert split_off(EXAMPLES, 0.2, 0)[1] != split_off(EXAMPLES, 0.2, 1)[1]


@pytest.mark.parametrize("stratified", [True, False])
@pytest.mark.parametrize("seed", [0, 3])
def test_carved_mask_from_a_stream_of_labels_is_what_split_off_carves(stratified, seed):
    group = (lambda e: e["label"]) if stratified else None
    _, carved = split_off(EXAMPLES, 0.2, seed, group=group)
    labels = (e["label"] if stratified else None for e in EXAMPLES)  # a generator, read once
    mask = carved_mask(labels, 0.2, seed)
    assert mask.dtype == bool and mask.shape == (len(EXAMPLES),)
    assert [e for e, out in zip(EXAMPLES, mask) if out] == carved


def test_carved_mask_refuses_a_fraction_that_leaves_a_part_empty():
    with pytest.raises(
        ValueError, match="^val_ratio: 0.1 of 3 examples leaves 3 to train on and 0"
    ):
        carved_mask(["a", "b", "c"], 0.1)


@pytest.mark.parametrize("fraction", [0, 1, -0.1, 1.5, "0.1", True, 0.001])
def test_split_off_rejects_bad_fractions(fraction):
    with pytest.raises(ValueError, match="^val_ratio:"):
        split_off(EXAMPLES, fraction)


# ---- read_blocks ---------------------------------------------------------------------------


def blocks_of(tmp_path, data: bytes, **options):
    path = tmp_path / "blocks.txt"
    path.write_bytes(data)
    policy = BadLinePolicy(path, "skip")  # not finished: no warning, the tests read .skipped
    return [(b.lines, b.damaged) for b in read_blocks(path, policy, **options)], policy


def test_blocks_are_the_lines_between_blank_lines(tmp_path):
    blocks, _ = blocks_of(tmp_path, b"\n\na 1\nb 2\n\n\n\nc 3\n\n")
    assert blocks == [([(3, "a 1"), (4, "b 2")], False), ([(8, "c 3")], False)]


def test_a_custom_boundary_also_ends_blocks(tmp_path):
    seen = []

    def is_boundary(text):
        seen.append(text)
        return not text.strip() or text.startswith("#")

    blocks, _ = blocks_of(tmp_path, b"a\n# doc\nb\n", is_boundary=is_boundary)
    assert blocks == [([(1, "a")], False), ([(3, "b")], False)] and "# doc" in seen


@pytest.mark.parametrize(
    ("data", "damaged"),
    [
        (b"caf\xe9\nb\n\nc\n", [True, False]),  # the first line of a block
        (b"a\ncaf\xe9\n\nc\n", [True, False]),  # the last line before a boundary
        (b"a\n\ncaf\xe9\nc\n", [False, True]),  # right after a boundary
        (b"a\n\nc\ncaf\xe9", [False, True]),  # the file's last line
    ],
)
def test_a_block_that_lost_a_non_utf8_line_is_damaged_and_no_other(tmp_path, data, damaged):
    blocks, policy = blocks_of(tmp_path, data)
    assert [d for _, d in blocks] == damaged and len(policy.skipped) == 1


def test_reports_of_the_reader_do_not_damage_the_next_block(tmp_path):
    path = tmp_path / "blocks.txt"
    path.write_bytes(b"a\n\nb\n")
    with pytest.warns(BadLineWarning), BadLinePolicy(path, "skip") as policy:
        damaged = []
        for block in read_blocks(path, policy):
            policy.report("a problem the format found", block.lines[0][0])
            damaged.append(block.damaged)
    assert damaged == [False, False]


@pytest.mark.parametrize("ending", [b"\n", b"\r\n"])
@pytest.mark.parametrize("chunk_bytes", [8, 64, 1 << 20])
def test_block_chunks_end_at_blank_lines_and_keep_every_line(tmp_path, ending, chunk_bytes):
    blocks = [[f"w{b}_{i} x" for i in range(b % 5 + 1)] for b in range(40)]
    text = "".join("".join(f"{w}\n" for w in block) + "\n" for block in blocks)
    path = tmp_path / "blocks.txt"
    path.write_bytes(text.encode().replace(b"\n", ending))
    expected = list(read_lines(path))
    seen = []
    items = list(read_block_chunks(path, chunk_bytes))
    for item in items:
        lines = [
            (n, line)
            for start, data in item
            for n, line in enumerate(decode_lines(data, start).lines, start=start)
        ]
        # An item ends with a whole block: its last lines are words, the next item's first
        # line (if any) is the blank line after them.
        assert lines[-1][1] != "" or lines == [(lines[0][0], "")]
        seen += lines
    assert seen == expected
    if chunk_bytes == 8:
        assert len(items) > 10  # cut at (nearly) every block


def test_block_chunks_keep_a_too_long_line_in_its_block(tmp_path, monkeypatch):
    monkeypatch.setenv("RNNKIT_MAX_LINE_BYTES", "16")
    path = tmp_path / "long.txt"
    path.write_bytes(b"a x\n" + b"b" * 100 + b"\nc x\n\nd x\n")
    items = list(read_block_chunks(path, 8))
    pieces = [piece for item in items for piece in item]
    assert (2, None) in pieces
    first = [piece for item in items for piece in item if piece[0] <= 3]
    assert first[0] == (1, b"a x") and (3, b"c x") in first
