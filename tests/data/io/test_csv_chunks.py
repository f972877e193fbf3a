"""read_csv_chunks: the records, line numbers and bad-line reports of read_csv_records, in
chunks, whatever the block size, quoting, line ends or damaged bytes."""

from __future__ import annotations

import random
import warnings

import numpy as np
import pytest

from rnnkit.data.io.csv_chunks import CsvChunk, read_csv_chunks
from rnnkit.data.io.reading import BadLinePolicy, BadLineWarning, read_csv_records


def reference(path, on_bad_line="skip"):
    """``(rows, skipped)`` as read_csv_records reads them."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BadLineWarning)
        with BadLinePolicy(path, on_bad_line) as policy:
            rows = list(read_csv_records(path, policy))
    return rows, policy.skipped


def chunked(path, on_bad_line="skip", block_bytes=64):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BadLineWarning)
        with BadLinePolicy(path, on_bad_line) as policy:
            chunks = list(read_csv_chunks(path, policy, block_bytes=block_bytes))
    return chunks, [row for chunk in chunks for row in chunk.rows()], policy.skipped


def random_csv(seed: int) -> bytes:
    """Rows of 3 fields with, now and then, quotes, quoted line breaks, blank lines, a wrong
    number of fields, bad bytes, stray quotes and carriage returns."""
    rng = random.Random(seed)
    ending = rng.choice([b"\n", b"\r\n"])
    lines = [b"date,a,b"]
    for row in range(rng.randint(0, 60)):
        fields = [f"2020-01-{row % 28 + 1:02d}".encode(), str(row).encode(), b"1.5"]
        kind = rng.random()
        if kind < 0.05:
            fields[1] = b'"quoted, with comma"'
        elif kind < 0.08:
            fields[2] = b'"two' + ending + b'lines"'
        elif kind < 0.10:
            fields = []
        elif kind < 0.12:
            fields = fields[:2]
        elif kind < 0.14:
            fields[1] = b"caf\xe9"
        elif kind < 0.16:
            fields[1] = b'"unclosed'
        elif kind < 0.18:
            fields[1] = b'a"b'
        elif kind < 0.19:
            fields[1] = b"x\ry"
        lines.append(b",".join(fields))
    data = ending.join(lines) + (ending if rng.random() < 0.8 else b"")
    return (b"\xef\xbb\xbf" if rng.random() < 0.2 else b"") + data


@pytest.mark.parametrize("seed", range(60))
def test_chunks_hold_the_records_of_read_csv_records(tmp_path, seed):
    path = tmp_path / "series.csv"
    path.write_bytes(random_csv(seed))
    expected, expected_skipped = reference(path)
    for block_bytes in (1, 7, 64, 1 << 20):
        _, rows, skipped = chunked(path, block_bytes=block_bytes)
        assert rows == expected, block_bytes
        assert skipped == expected_skipped, block_bytes


@pytest.mark.parametrize("seed", range(60))
def test_the_first_error_is_the_one_read_csv_records_raises(tmp_path, seed):
    path = tmp_path / "series.csv"
    path.write_bytes(random_csv(seed))
    try:
        reference(path, on_bad_line="error")
        expected = None
    except ValueError as error:
        expected = str(error)
    for block_bytes in (7, 1 << 20):
        try:
            chunked(path, on_bad_line="error", block_bytes=block_bytes)
            got = None
        except ValueError as error:
            got = str(error)
        assert got == expected


def test_clean_blocks_come_by_column_after_the_header_alone(tmp_path):
    path = tmp_path / "series.csv"
    rows = [f"2020-01-01 {h:02d}:00:00,{h},{h / 2}" for h in range(24)]
    path.write_text("\n".join(["date,a,b", *rows]) + "\n")
    chunks, _, _ = chunked(path, block_bytes=1 << 20)
    assert [len(c) for c in chunks] == [1, 24]
    assert chunks[0].records == [["date", "a", "b"]]
    assert chunks[1].columns[1] == [str(h) for h in range(24)]
    assert chunks[1].lines.tolist() == list(range(2, 26))


def test_a_block_with_a_wrong_number_of_fields_comes_by_record(tmp_path):
    path = tmp_path / "series.csv"
    path.write_text("date,a\n2020-01-01,1\n2020-01-02,2,3\n\n2020-01-03,3\n")
    chunks, rows, _ = chunked(path, block_bytes=1 << 20)
    assert chunks[1].columns is None
    assert rows[1:] == [
        (2, ["2020-01-01", "1"]),
        (3, ["2020-01-02", "2", "3"]),
        (4, []),
        (5, ["2020-01-03", "3"]),
    ]


def test_rows_of_a_chunk_by_column():
    chunk = CsvChunk(np.array([4, 5]), columns=[["a", "b"], ["1", "2"]])
    assert list(chunk.rows()) == [(4, ["a", "1"]), (5, ["b", "2"])]


def test_an_empty_file_has_no_chunks(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    assert chunked(path)[1] == []
