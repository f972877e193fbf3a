"""read_line_chunks: the lines read_lines gives, a chunk at a time, bad bytes left for the
reader to report in order; and read_blocks built on it."""

from __future__ import annotations

import pytest

from rnnkit.data.io.reading import BadLinePolicy, read_blocks, read_line_chunks, read_lines

FILES = {
    "plain": b"a b\nc d\n\ne\n",
    "no final newline": b"a\nb",
    "crlf": b"a\r\nb\r\n\r\nc\r\n",
    "bom": b"\xef\xbb\xbfa\nb\n",
    "bom only": b"\xef\xbb\xbf",
    "empty": b"",
    "blank lines only": b"\n\n\n",
    "carriage return inside": b"a\rb\nc\r\r\n",
    "unicode": "Ünïcode ✓\n日本\n".encode(),
}


def lines_of(path, chunk_bytes: int) -> list[tuple[int, str | None]]:
    return [
        (chunk.start + i, line)
        for chunk in read_line_chunks(path, chunk_bytes)
        for i, line in enumerate(chunk.lines)
    ]


@pytest.mark.parametrize("name", sorted(FILES))
@pytest.mark.parametrize("chunk_bytes", [1, 2, 3, 7, 1 << 20])
def test_the_same_lines_as_read_lines_whatever_the_chunk_size(tmp_path, name, chunk_bytes):
    path = tmp_path / "file.txt"
    path.write_bytes(FILES[name])
    assert lines_of(path, chunk_bytes) == list(read_lines(path))


@pytest.mark.parametrize("chunk_bytes", [1, 5, 1 << 20])
def test_a_line_that_is_not_utf8_is_none_and_its_problem_is_left_to_the_reader(
    tmp_path, chunk_bytes
):
    path = tmp_path / "file.txt"
    path.write_bytes(b"a\ncaf\xe9 x\nb\r\n")
    assert lines_of(path, chunk_bytes) == [(1, "a"), (2, None), (3, "b")]
    problems = {k: v for c in read_line_chunks(path, chunk_bytes) for k, v in c.problems.items()}
    assert problems == {
        2: "not valid UTF-8: byte 0xe9 at column 4 (expected UTF-8 text; "
        "re-encode the file, e.g. with iconv -t UTF-8)"
    }
    policy = BadLinePolicy(path, "skip")
    assert list(read_lines(path, policy)) == [(1, "a"), (3, "b")]
    assert policy.skipped == [(f"{path}, line 2", problems[2])]  # the same message


def test_a_missing_file_raises(tmp_path):
    with pytest.raises(FileNotFoundError):
        next(read_line_chunks(tmp_path / "missing.txt"))


def test_read_blocks_reports_bad_bytes_in_file_order(tmp_path):
    """A bad line is reported when the block reader reaches it, after the problems the
    format found on earlier lines of the same chunk."""
    path = tmp_path / "blocks.txt"
    path.write_bytes(b"a\n\nb\ncaf\xe9\n")
    order = []
    with pytest.raises(ValueError, match=r"line 1: the format's problem"):
        for block in read_blocks(path, BadLinePolicy(path, "error")):
            order.append(block.lines)
            raise ValueError(f"{path}, line {block.lines[0][0]}: the format's problem")
    assert order == [[(1, "a")]]
    with pytest.raises(ValueError, match=r"blocks\.txt, line 4: not valid UTF-8"):
        list(read_blocks(path, BadLinePolicy(path, "error")))
