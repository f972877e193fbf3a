"""CSV records in chunks, at the speed of ``str.split`` wherever the text allows it.

:func:`read_csv_chunks` yields the records of a CSV file exactly as
:func:`rnnkit.data.io.reading.read_csv_records` yields them one by one (the same fields, numbered
by the line each starts on, RFC 4180 quoting), but in chunks of thousands, with bounded memory.
Lines that are not UTF-8 and malformed quoting go to the
:class:`~rnnkit.data.io.reading.BadLinePolicy` in the same order relative to the records: a
chunk never holds a record that comes after a problem not yet reported.

The file is read in blocks of :data:`BLOCK_BYTES` cut at line ends; a line longer than
:func:`~rnnkit.data.io.reading.max_line_bytes` is reported as a bad line and skipped unread.
A block without quote characters, without a carriage return other than in ``\\r\\n`` line
ends and with valid UTF-8 (the usual case for numeric tables) is what the csv module would
split at every delimiter, so it is split with ``str.split``; when every line has the header's
number of fields, its chunk comes by column (:attr:`CsvChunk.columns`), ready for
``np.array(column, dtype=float)``. Any other block goes through the csv module record by
record, and a quoted field may run on into the next block.
"""

from __future__ import annotations

import csv
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import repeat
from pathlib import Path

import numpy as np

from rnnkit.data.io.reading import UTF8_BOM, BadLinePolicy, max_line_bytes, too_long

BLOCK_BYTES = 8 << 20
"""Bytes read at a time (then cut at the last line end)."""
CHUNK_RECORDS = 65_536
"""Records per chunk when the csv module parses them."""


@dataclass
class CsvChunk:
    """Consecutive records of a CSV file, either by record or by column.

    Attributes:
        lines: ``(n,)`` int64, the 1-based line on which each record starts.
        records: the fields of each record (None when :attr:`columns` holds them).
        columns: when every record has the header's ``width`` fields: ``columns[j][i]`` is
            field ``j`` of record ``i`` (None otherwise).
    """

    lines: np.ndarray
    records: list[list[str]] | None = None
    columns: list[list[str]] | None = None

    def __len__(self) -> int:
        return len(self.lines)

    def rows(self) -> Iterator[tuple[int, list[str]]]:
        """``(line, fields)`` of each record, as :func:`read_csv_records` yields them."""
        records = self.records
        if records is None:
            records = [list(fields) for fields in zip(*self.columns)]
        return zip(self.lines.tolist(), records)


@dataclass
class _Block:
    """Whole lines of the file: decoded text (None where a line is not UTF-8)."""

    first_line: int
    lines: list[str | _Undecodable]
    simple: bool


@dataclass
class _Undecodable:
    problem: str


def read_csv_chunks(
    path: str | Path,
    policy: BadLinePolicy,
    delimiter: str = ",",
    block_bytes: int = BLOCK_BYTES,
) -> Iterator[CsvChunk]:
    """The records of the CSV file ``path`` in chunks (see the module docstring).

    The first record (the header) comes alone in the first chunk; its number of fields is the
    width that later chunks are checked against to come by column.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: a bad line (not UTF-8, malformed quoting) under ``on_bad_line="error"``.
    """
    blocks = _blocks(Path(path), block_bytes)
    feed = _Feed(blocks)
    reader = csv.reader(feed, delimiter=delimiter, strict=True)
    width: int | None = None
    for block in blocks:  # the feed pulls blocks from the same iterator when a record runs on
        if width is not None and block.simple and not feed.queue:
            yield _split(block.first_line, block.lines, delimiter, width)
            continue
        feed.push(block)
        if width is None:
            pulls = feed.pulls
            for chunk in _parse(reader, feed, policy, path, limit=1):
                if width is None and chunk.records:
                    width = len(chunk.records[0])
                yield chunk
            if width is None:
                continue
            if block.simple and feed.queue and feed.pulls == pulls:
                # The rest of the header's block (the header did not run on into the next).
                first, lines = feed.next_line, list(feed.queue)
                feed.queue.clear()
                yield _split(first, lines, delimiter, width)
                continue
        yield from _parse(reader, feed, policy, path)


def _blocks(path: Path, block_bytes: int) -> Iterator[_Block]:
    """The file's whole lines, ``block_bytes`` at a time, decoded (a leading BOM removed)."""
    limit = max_line_bytes()
    with open(path, "rb") as stream:
        carry = b""
        line = 1
        start = True
        while True:
            data = stream.read(max(block_bytes, len(UTF8_BOM)) if start else block_bytes)
            if not data:
                if carry:  # the last line, without a line end
                    yield _decode(carry, line, final=True, limit=limit)
                return
            if start:
                data = data[len(UTF8_BOM) :] if data.startswith(UTF8_BOM) else data
                start = False
            data = carry + data if carry else data
            cut = data.rfind(b"\n")
            if cut < 0 and len(data) > limit + 1:  # one line, longer than the limit: skip it
                yield _Block(line, [_Undecodable(too_long(limit))], simple=False)
                while (piece := stream.read(block_bytes)) and b"\n" not in piece:
                    pass
                rest, line = piece[piece.find(b"\n") + 1 :] if piece else b"", line + 1
                cut = rest.rfind(b"\n")
                if cut >= 0:
                    yield _decode(rest[: cut + 1], line, final=False, limit=limit)
                    line += rest.count(b"\n")
                carry = rest[cut + 1 :]
                continue
            if cut < 0:
                carry = data
                continue
            block, carry = data[: cut + 1], data[cut + 1 :]
            yield _decode(block, line, final=False, limit=limit)
            line += block.count(b"\n")


def _decode(block: bytes, first_line: int, final: bool, limit: int) -> _Block:
    """Lines without their ends (``\\n``, ``\\r\\n``), as :func:`read_lines` cuts them; a
    line longer than ``limit`` characters becomes a problem to report."""
    decoded = _decode_block(block, first_line, final)
    if len(block) > limit and any(len(t) > limit for t in decoded.lines if isinstance(t, str)):
        decoded.lines = [
            _Undecodable(too_long(limit)) if isinstance(t, str) and len(t) > limit else t
            for t in decoded.lines
        ]
        decoded.simple = False
    return decoded


def _decode_block(block: bytes, first_line: int, final: bool) -> _Block:
    try:
        text = block.decode("utf-8")
    except UnicodeDecodeError:
        return _Block(first_line, _decode_lines(block, final), simple=False)
    if "\r" in text:
        text = text.replace("\r\n", "\n")
        if final and text.endswith("\r"):
            text = text[:-1]
    lines = text.split("\n")
    if not final:
        lines.pop()  # the empty text after the block's last line end
    return _Block(first_line, lines, simple='"' not in text and "\r" not in text)


def _decode_lines(block: bytes, final: bool) -> list[str | _Undecodable]:
    raw_lines = block.split(b"\n")
    if not final:
        raw_lines.pop()
    lines: list[str | _Undecodable] = []
    for raw in raw_lines:
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        try:
            lines.append(raw.decode("utf-8"))
        except UnicodeDecodeError as error:
            lines.append(
                _Undecodable(
                    f"not valid UTF-8: byte 0x{raw[error.start]:02x} at column {error.start + 1} "
                    "(expected UTF-8 text; re-encode the file, e.g. with iconv -t UTF-8)"
                )
            )
    return lines


def _split(first_line: int, lines: list[str], delimiter: str, width: int) -> CsvChunk:
    """Lines without quotes, split at every delimiter (what the csv module does to them)."""
    numbers = np.arange(first_line, first_line + len(lines), dtype=np.int64)
    if width == 1:
        if "" not in lines and not any(map(str.__contains__, lines, repeat(delimiter))):
            return CsvChunk(numbers, columns=[lines])
    elif set(map(str.count, lines, repeat(delimiter))) == {width - 1}:
        fields = delimiter.join(lines).split(delimiter)
        return CsvChunk(numbers, columns=[fields[j::width] for j in range(width)])
    return CsvChunk(numbers, records=[line.split(delimiter) if line else [] for line in lines])


class _Feed:
    """The csv reader's lines: queued blocks, and the next block pulled when a record runs on.

    Lines that are not UTF-8 are not passed on (as :func:`read_lines` drops them); their
    problems wait in :attr:`problems` for the parser to report in order.
    """

    def __init__(self, blocks: Iterator[_Block]) -> None:
        self.blocks = blocks
        self.queue: deque[str | _Undecodable] = deque()
        self.next_line = 1  # the line number of queue[0]
        self.started: int | None = None  # the first line passed on since reset
        self.problems: list[tuple[int, str]] = []
        self.pulls = 0  # blocks pulled by the reader itself

    def push(self, block: _Block) -> None:
        if not self.queue:
            self.next_line = block.first_line
        self.queue.extend(block.lines)

    def __iter__(self) -> _Feed:
        return self

    def __next__(self) -> str:
        while True:
            if not self.queue:
                block = next(self.blocks, None)
                if block is None:
                    raise StopIteration
                self.pulls += 1
                self.push(block)
            item = self.queue.popleft()
            line = self.next_line
            self.next_line += 1
            if isinstance(item, str):
                if self.started is None:
                    self.started = line
                return item + "\n"
            self.problems.append((line, item.problem))


def _parse(
    reader: Iterator[list[str]],
    feed: _Feed,
    policy: BadLinePolicy,
    path: str | Path,
    limit: int | None = None,
) -> Iterator[CsvChunk]:
    """Records through the csv module until the queued lines are used up (or ``limit``)."""
    lines: list[int] = []
    records: list[list[str]] = []

    def chunk() -> CsvChunk:
        done = CsvChunk(np.asarray(lines, dtype=np.int64), records=list(records))
        lines.clear()
        records.clear()
        return done

    def report_waiting() -> Iterator[CsvChunk]:
        if records:
            yield chunk()
        for line, problem in feed.problems:
            policy.report(problem, line, path)
        feed.problems.clear()

    while feed.queue and (limit is None or len(records) < limit):
        feed.started = None
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            yield from report_waiting()
            policy.report(f"malformed CSV ({error}); expected RFC 4180 quoting", feed.started)
            continue
        if feed.problems:  # lines dropped while reading this record come before it
            yield from report_waiting()
        lines.append(feed.started)
        records.append(fields)
        if len(records) >= CHUNK_RECORDS:
            yield chunk()
    if feed.problems:
        yield from report_waiting()
    if records:
        yield chunk()
