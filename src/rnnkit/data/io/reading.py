"""Line-level reading of data files: every bad line is reported by file and line, never dropped
silently.

The loaders of real datasets (SST-2, IMDB, CSV/TSV/JSONL tables, CoNLL, parallel text) share
three things from here:

* :func:`read_lines` yields ``(line_number, text)`` of a UTF-8 file, 1-based, without the line
  ending (``\\n`` or ``\\r\\n``) and without a leading byte-order mark; a line that is not valid
  UTF-8 is reported with its line and byte column instead of failing the whole file with a
  ``UnicodeDecodeError`` that names neither.
* Lines are read with bounded memory: a line longer than :func:`max_line_bytes` (1 MiB unless
  ``RNNKIT_MAX_LINE_BYTES`` says otherwise) is a bad line (``"line longer than 1048576
  bytes ..."``), never read into memory whole, so a file without line ends cannot exhaust it.
* :class:`BadLinePolicy` decides what a malformed line does: ``on_bad_line="error"`` (the
  default everywhere) raises ``ValueError("<file>, line 17: <what is wrong>")``;
  ``"skip"`` drops the line and, when the file is finished, warns once with the count and the
  first problem: ``skipped 3 bad lines in train.tsv (first: line 17: ...)``.
* :func:`read_csv_records` parses CSV records (quoted fields may span lines) and numbers each
  by the line it starts on.
* :func:`read_line_chunks` gives the same lines a chunk (about a megabyte) at a time, decoded
  at once, for readers whose per-line cost matters (a large corpus read line by line).
* :func:`read_block_chunks` gives undecoded chunks of a sentence-per-block file that end at
  blank lines, for parsing in worker processes.
* :func:`read_blocks` groups the lines of a sentence-per-block format (CoNLL, CoNLL-U) into
  blocks ended by blank lines, noting which blocks lost a line to bad bytes.
* :func:`split_off` carves a validation split from the training examples, deterministically.

Example::

    with BadLinePolicy(path, on_bad_line) as policy:
        for line_number, text in read_lines(path, policy):
            fields = text.split("\\t")
            if len(fields) != 2:
                policy.report(f"expected 2 tab-separated columns, found {len(fields)}", line_number)
                continue
            ...
"""

from __future__ import annotations

import csv
import os
import random
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import numpy as np

ON_BAD_LINE = ("error", "skip")
"""The values of every loader's ``on_bad_line`` option."""

UTF8_BOM = b"\xef\xbb\xbf"

MAX_LINE_BYTES = 1 << 20
"""The default longest line (bytes, without its ending) any reader accepts: 1 MiB, a hundred
times a long review; ``RNNKIT_MAX_LINE_BYTES`` overrides it."""
MAX_LINE_BYTES_VARIABLE = "RNNKIT_MAX_LINE_BYTES"

Example = TypeVar("Example")


class BadLineWarning(UserWarning):
    """The summary of the bad lines skipped in one file (``on_bad_line="skip"``)."""


def check_on_bad_line(value: Any, argument: str = "on_bad_line") -> str:
    """``value`` if it is one of :data:`ON_BAD_LINE`, else a ValueError naming ``argument``."""
    if value not in ON_BAD_LINE:
        raise ValueError(f"{argument}: expected one of {list(ON_BAD_LINE)}, got {value!r}")
    return value


def max_line_bytes() -> int:
    """The longest line accepted: ``$RNNKIT_MAX_LINE_BYTES`` or :data:`MAX_LINE_BYTES`."""
    value = os.environ.get(MAX_LINE_BYTES_VARIABLE, "").strip()
    if not value:
        return MAX_LINE_BYTES
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{MAX_LINE_BYTES_VARIABLE}: expected a positive integer, got {value!r}")
    return int(value)


def too_long(limit: int) -> str:
    """The problem of a line longer than ``limit`` bytes."""
    return (
        f"line longer than {limit} bytes (the limit; raise it with "
        f"{MAX_LINE_BYTES_VARIABLE}=<bytes>); expected one example per line"
    )


def check_data_folder(folder: Path | None, contents: str) -> None:
    """Refuse a ``data.path`` that is a file where the folder of ``contents`` (e.g.
    ``"train_file=train.csv"``) is expected, naming the folder to use instead of reporting the
    file name doubled (``X.csv/X.csv: not found``)."""
    if folder is not None and folder.is_file():
        raise NotADirectoryError(
            f"data.path: {folder} is a file, but data.path is the folder of {contents}; set "
            f"data.path={folder.parent}"
        )


def location(path: str | Path, line_number: int | None = None) -> str:
    """``"<path>, line <n>"`` (or just the path), the prefix of every bad-line message."""
    return f"{path}, line {line_number}" if line_number is not None else str(path)


class BadLinePolicy:
    """What happens to the malformed lines of one file (or one folder of files).

    Args:
        source: the file (or folder) being read; messages name it.
        on_bad_line: ``"error"``: :meth:`report` raises ``ValueError("<file>, line <n>:
            <problem>")``. ``"skip"``: :meth:`report` records the line, the caller drops it,
            and :meth:`finish` (or leaving the ``with`` block normally) warns once with a
            :class:`BadLineWarning`: ``skipped 3 bad lines in <source> (first: line 17: ...)``.

    Attributes:
        skipped: ``(where, problem)`` of every skipped line, in reading order.
    """

    def __init__(self, source: str | Path, on_bad_line: str = "error") -> None:
        self.source = source
        self.on_bad_line = check_on_bad_line(on_bad_line)
        self.skipped: list[tuple[str, str]] = []
        self._finished = False

    def report(
        self, problem: str, line_number: int | None = None, path: str | Path | None = None
    ) -> None:
        """A bad line: raise (``"error"``) or record it (``"skip"``); the caller skips it.

        ``path`` names the file when it differs from :attr:`source` (a folder of files).
        """
        where = location(self.source if path is None else path, line_number)
        if self.on_bad_line == "error":
            raise ValueError(f"{where}: {problem}")
        self.skipped.append((where, problem))

    def summary(self) -> str:
        """``"skipped N bad lines in <source> (first: <where>: <problem>)"``, or ``""``."""
        if not self.skipped:
            return ""
        where, problem = self.skipped[0]
        if where.startswith(f"{self.source}, "):
            where = where[len(f"{self.source}, ") :]
        noun = "line" if len(self.skipped) == 1 else "lines"
        return (
            f"skipped {len(self.skipped)} bad {noun} in {self.source} (first: {where}: {problem})"
        )

    def finish(self) -> None:
        """Warn once about the skipped lines (nothing when none was skipped)."""
        if not self._finished and self.skipped:
            warnings.warn(self.summary(), BadLineWarning, stacklevel=3)
        self._finished = True

    def __enter__(self) -> BadLinePolicy:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.finish()


def read_lines(
    path: str | Path, policy: BadLinePolicy | None = None, keep_bad: bool = False
) -> Iterator[tuple[int, str | None]]:
    """``(line_number, text)`` for each line of the UTF-8 file ``path`` (numbers start at 1).

    The line ending (``\\n``, ``\\r\\n``) and a UTF-8 byte-order mark at the start of the file
    are removed; blank lines are yielded like any other (the format decides what they mean).
    A line that is not valid UTF-8 goes to ``policy`` (default: raise) as
    ``"not valid UTF-8: byte 0xe9 at column 12"`` and is not yielded (``keep_bad=True``: yielded
    as ``(line_number, None)`` once reported, for readers that keep two files in step).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: a line is not valid UTF-8, or longer than :func:`max_line_bytes`, and the
            policy is ``"error"``.
    """
    policy = policy if policy is not None else BadLinePolicy(path)
    # A megabyte is decoded at a time (read_line_chunks): a line at a time costs 2-3x more.
    for chunk in read_line_chunks(path):
        if not chunk.problems:
            yield from enumerate(chunk.lines, start=chunk.start)
            continue
        for line_number, text in enumerate(chunk.lines, start=chunk.start):
            if text is None:
                policy.report(chunk.problems[line_number], line_number, path)
                if not keep_bad:
                    continue
            yield line_number, text


def _skip_rest_of_line(stream: Any) -> None:
    """Read past the next line ending, a bounded piece at a time."""
    while piece := stream.readline(1 << 20):
        if piece.endswith(b"\n"):
            return


def _not_utf8(raw: bytes, error: UnicodeDecodeError) -> str:
    return (
        f"not valid UTF-8: byte 0x{raw[error.start]:02x} at column {error.start + 1} "
        "(expected UTF-8 text; re-encode the file, e.g. with iconv -t UTF-8)"
    )


@dataclass
class LineChunk:
    """Consecutive lines of a file, as :func:`read_line_chunks` gives them.

    ``lines[i]`` is line ``start + i`` without its ending, or None where the line is not valid
    UTF-8; ``problems`` says what is wrong with each such line, by line number, for the reader
    to report (:meth:`BadLinePolicy.report`) when it reaches it, so bad lines are reported in
    file order with the reader's own problems.
    """

    start: int
    lines: list[str | None]
    problems: dict[int, str] = field(default_factory=dict)


def read_line_chunks(path: str | Path, chunk_bytes: int = 1 << 20) -> Iterator[LineChunk]:
    """The lines of the UTF-8 file ``path`` as :func:`read_lines` gives them (line endings and
    a leading byte-order mark removed), about ``chunk_bytes`` at a time.

    Each chunk is decoded at once; only a chunk holding bytes that are not UTF-8 is decoded
    line by line, its bad lines given as None (see :class:`LineChunk`), as is a line longer
    than :func:`max_line_bytes` (never read whole). Memory is one chunk, whatever the file's
    size.

    Raises:
        FileNotFoundError: ``path`` does not exist.
    """
    limit = max_line_bytes()
    for start, data in read_byte_chunks(path, chunk_bytes, limit):
        yield decode_lines(data, start, limit)


def read_byte_chunks(
    path: str | Path, chunk_bytes: int = 1 << 20, limit: int | None = None
) -> Iterator[tuple[int, bytes | None]]:
    """:func:`read_line_chunks` before decoding: ``(number of the first line, bytes)``, the
    bytes whole lines joined by ``\\n`` (for :func:`decode_lines`, e.g. in another process);
    a line longer than ``limit`` bytes (default :func:`max_line_bytes`) is skipped unread and
    given as ``(its number, None)``.

    Raises:
        FileNotFoundError: ``path`` does not exist.
    """
    start = 1
    limit = max_line_bytes() if limit is None else limit
    with open(path, "rb") as stream:
        pending = stream.read(len(UTF8_BOM))
        bom = pending == UTF8_BOM
        if bom:
            pending = b""
        while True:
            data = stream.read(chunk_bytes)
            pending += data
            end = pending.rfind(b"\n")
            if end < 0 and len(pending) > limit + 1:  # one line, longer than the limit
                yield start, None
                _skip_rest_of_line(stream)
                pending, start = b"", start + 1
                continue
            if end >= 0:  # whole lines: all but what follows the last line ending
                yield start, pending[:end]
                start += pending.count(b"\n", 0, end) + 1
                pending = pending[end + 1 :]
            if not data:
                break
        if pending or (bom and start == 1):  # the last line, without a line ending
            yield start, pending


def read_block_chunks(
    path: str | Path, chunk_bytes: int = 4 << 20
) -> Iterator[list[tuple[int, bytes | None]]]:
    """:func:`read_byte_chunks` cut at blank lines, for a sentence-per-block format (CoNLL)
    parsed in another process: each item is the ``(first line number, bytes)`` pieces of about
    ``chunk_bytes`` of the file, in order, ending where a blank line (empty, or a ``\\r``)
    follows, so no block is split between two items. A block longer than ``chunk_bytes`` makes
    its item longer; an item holds a line skipped as too long as ``(its number, None)``.

    Raises:
        FileNotFoundError: ``path`` does not exist.
    """
    pending: list[tuple[int, bytes | None]] = []
    for start, data in read_byte_chunks(path, chunk_bytes):
        if data is None:
            pending.append((start, None))
            continue
        # Where the last blank line starts (its first or last line included: framed by line
        # endings, it is the "\n" found plus one, less the frame's first byte).
        framed = b"\n" + data + b"\n"
        cut = max(framed.rfind(b"\n\n"), framed.rfind(b"\n\r\n"))
        if cut < 0 or (cut == 0 and not pending):
            pending.append((start, data))
            continue
        if cut > 0:
            pending.append((start, data[: cut - 1]))
        yield pending
        pending = [(start + data.count(b"\n", 0, cut), data[cut:])]
    if pending:
        yield pending


def decode_lines(data: bytes | None, start: int, limit: int | None = None) -> LineChunk:
    """The lines of ``data`` (lines joined by ``\\n``, the first numbered ``start``); a line
    longer than ``limit`` characters (default :func:`max_line_bytes`), or ``data`` None (a
    line :func:`read_byte_chunks` skipped as too long), is given as None with its problem."""
    limit = max_line_bytes() if limit is None else limit
    if data is None:
        return LineChunk(start, [None], {start: too_long(limit)})
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        chunk = _decoded_line_by_line(data, start)
    else:
        lines = text.split("\n")
        if "\r" in text:
            lines = [line[:-1] if line.endswith("\r") else line for line in lines]
        chunk = LineChunk(start, lines)
    if len(data) > limit:  # the limit is in bytes: a line of limit / 4 characters may pass it
        for index, line in enumerate(chunk.lines):
            if line is not None and len(line) > limit // 4 and len(line.encode()) > limit:
                chunk.lines[index] = None
                chunk.problems[start + index] = too_long(limit)
    return chunk


def _decoded_line_by_line(data: bytes, start: int) -> LineChunk:
    chunk = LineChunk(start, [])
    for line_number, raw in enumerate(data.split(b"\n"), start=start):
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        try:
            chunk.lines.append(raw.decode("utf-8"))
        except UnicodeDecodeError as error:
            chunk.lines.append(None)
            chunk.problems[line_number] = _not_utf8(raw, error)
    return chunk


@dataclass
class LineBlock:
    """Consecutive non-boundary lines of a file: ``(line_number, text)`` pairs.

    ``damaged`` is true when :func:`read_lines` dropped a line inside the block (bytes that are
    not UTF-8, under ``on_bad_line="skip"``): a sentence missing a word would be wrong, so
    readers drop a damaged block.
    """

    lines: list[tuple[int, str]] = field(default_factory=list)
    damaged: bool = False


def is_blank(text: str) -> bool:
    return not text.strip()


def read_blocks(
    path: str | Path, policy: BadLinePolicy, is_boundary: Callable[[str], bool] = is_blank
) -> Iterator[LineBlock]:
    """The non-empty blocks of ``path`` between boundary lines (blank lines by default).

    Boundary lines are not yielded (a predicate with a side effect may count them, e.g. CoNLL's
    ``-DOCSTART-``). Several boundaries in a row, or at the end of the file, are fine.
    """
    block = LineBlock()
    for chunk in read_line_chunks(path):
        for line_number, text in enumerate(chunk.lines, start=chunk.start):
            if text is None:  # not UTF-8: reported (or skipped), and the block is damaged
                policy.report(chunk.problems[line_number], line_number, path)
                block.damaged = True
            elif is_boundary(text):
                if block.lines:
                    yield block
                block = LineBlock()
            else:
                block.lines.append((line_number, text))
    if block.lines:
        yield block


def read_csv_records(
    path: str | Path, policy: BadLinePolicy, delimiter: str = ","
) -> Iterator[tuple[int, list[str]]]:
    """``(first line number, fields)`` of each CSV record of ``path`` (RFC 4180 quoting: a quoted
    field may span lines). A record the csv module cannot parse goes to ``policy`` under the
    line it starts on; lines that are not UTF-8 go there from :func:`read_lines`."""
    lines = read_lines(path, policy)
    first: list[int | None] = [None]

    def feed() -> Iterator[str]:
        for line_number, text in lines:
            if first[0] is None:
                first[0] = line_number
            yield text + "\n"

    reader = csv.reader(feed(), delimiter=delimiter, strict=True)
    while True:
        first[0] = None
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            policy.report(f"malformed CSV ({error}); expected RFC 4180 quoting", first[0])
            continue
        yield first[0], fields


def check_fraction(value: Any, argument: str) -> float:
    """``value`` if it is a number strictly between 0 and 1, else a ValueError naming
    ``argument``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
        raise ValueError(f"{argument}: expected a number in (0, 1), got {value!r}")
    return float(value)


def split_off(
    examples: Sequence[Example],
    fraction: float,
    seed: int = 0,
    group: Callable[[Example], Any] | None = None,
    argument: str = "val_ratio",
) -> tuple[list[Example], list[Example]]:
    """Split ``examples`` into ``(kept, carved)`` with ``round(fraction * n)`` carved.

    Deterministic for a given ``seed`` and input order, and stratified when ``group`` is given
    (e.g. the label): each group gives up ``round(fraction * size)`` of its examples, so the
    carved split keeps the class balance. Both parts keep the input order. The carved
    examples are those of :func:`carved_mask`.

    Raises:
        ValueError: ``fraction`` is not in ``(0, 1)``, or leaves a part empty (named
            ``argument``).
    """
    groups = [group(example) if group is not None else None for example in examples]
    carved = carved_mask(groups, fraction, seed, argument)
    kept_part = [e for e, out in zip(examples, carved) if not out]
    carved_part = [e for e, out in zip(examples, carved) if out]
    return kept_part, carved_part


def carved_mask(
    groups: Iterable[Any], fraction: float, seed: int = 0, argument: str = "val_ratio"
) -> np.ndarray:
    """``(n,)`` bool: which of ``n`` examples :func:`split_off` carves, from their groups only.

    ``groups`` gives each example's group in order (its label, or None for no stratification),
    so a reader can carve a split it streams: one pass collects the labels, a second yields
    the examples on either side of the mask, and no list of examples is ever held.

    Raises:
        ValueError: ``fraction`` is not in ``(0, 1)``, or leaves a part empty (named
            ``argument``).
    """
    check_fraction(fraction, argument)
    members: dict[Any, list[int]] = defaultdict(list)
    size = 0
    for size, key in enumerate(groups, start=1):
        members[key].append(size - 1)
    rng = random.Random(seed)
    carved = np.zeros(size, dtype=bool)
    for key in sorted(members, key=repr):
        indices = members.pop(key)
        rng.shuffle(indices)
        carved[indices[: round(fraction * len(indices))]] = True
    taken = int(carved.sum())
    if taken == 0 or taken == size:
        raise ValueError(
            f"{argument}: {fraction} of {size} examples leaves "
            f"{size - taken} to train on and {taken} to validate on; expected both non-empty"
        )
    return carved
