"""Sentences and labels from CSV, TSV or JSON Lines tables: one example per row."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import partial
from itertools import chain, compress, islice, repeat
from operator import itemgetter
from pathlib import Path
from typing import Any

import numpy as np

from rnnkit.data.datamodule import SPLITS
from rnnkit.data.io.download import check_download, is_archive, needs_download
from rnnkit.data.io.download import download as download_file
from rnnkit.data.io.parallel_encoding import map_ordered
from rnnkit.data.io.reading import (
    BadLinePolicy,
    LineChunk,
    carved_mask,
    check_data_folder,
    check_fraction,
    check_on_bad_line,
    decode_lines,
    read_byte_chunks,
    read_csv_records,
    read_line_chunks,
    read_lines,
)
from rnnkit.data.sentiment.datamodule import TextClassificationDataModule, TextRows

FORMATS = {"csv": (".csv",), "tsv": (".tsv", ".tab"), "jsonl": (".jsonl", ".ndjson")}
"""Table formats and the file suffixes that select them when ``format`` is not given."""


TSV_CHUNK_BYTES = 1 << 20
"""Bytes of TSV lines read and made into examples at once."""

WORKER_CHUNK_BYTES = 4 << 20
"""Bytes of TSV lines a preparation worker reads at once (large: what a worker counts in a
chunk is added up in the main process, one step per distinct word)."""


class BadRowError(Exception):
    """One row is malformed; the message says what was expected (caught per row)."""


def format_from_suffix(file: str | Path) -> str:
    """``"csv"``, ``"tsv"`` or ``"jsonl"`` from the suffix of ``file``."""
    suffix = Path(str(file)).suffix.lower()
    for name, suffixes in FORMATS.items():
        if suffix in suffixes:
            return name
    raise ValueError(
        f"format: cannot tell the format of {str(file)!r} from its suffix; "
        f"set format to one of {list(FORMATS)}"
    )


def _check_column(value: Any, argument: str, named_ok: bool) -> str | int:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ValueError(f"{argument}: expected a column name or a 0-based index, got {value!r}")
    if isinstance(value, int) and value < 0:
        raise ValueError(f"{argument}: expected a 0-based column index >= 0, got {value}")
    if isinstance(value, str) and not named_ok:
        raise ValueError(
            f"{argument}: the column name {value!r} needs has_header=true; without a header, "
            "give the 0-based column index"
        )
    return value


class TextTableDataModule(TextClassificationDataModule):
    """Text classification from per-split table files (CSV, TSV or JSON Lines).

    Every row is one example: a text column and a label column, chosen by name (a header name,
    or a JSON key) or by 0-based index. Rows are validated as they are read; a malformed row is
    reported by file and line (``on_bad_line="error"``, the default: ``ValueError``) or skipped
    with one warning per file (``"skip"``), see :mod:`rnnkit.data.io.reading`. Bad rows are:
    a wrong number of columns (CSV/TSV: as many as the header has, or as the first row has
    without a header), an empty text, a missing label, a label outside ``label_names``, a label
    in the val/test file that the training file does not have, bytes that are not UTF-8, a
    line that is not a JSON object/array (JSONL), or a blank line followed by more rows
    (blank lines at the end of a file are ignored).

    Formats:
        ``csv``: RFC 4180 quoting (``"a, quoted"`` fields, ``""`` escapes; a quoted field may
        span lines, reported at its first line), separator ``delimiter`` (default ``,``).
        ``tsv``: split on tabs, no quoting (as GLUE writes it). ``jsonl``: one JSON object per
        line, columns are keys (or a JSON array per line, columns are indices).

    Args:
        train_file, val_file, test_file: the split files, relative to ``path`` unless absolute.
            ``val_file=None`` carves the validation split from the training file
            (``val_ratio`` of each label, chosen by ``split_seed``); ``test_file=None`` means no
            test split.
        path: the folder of relative file names, and where ``download`` puts the files.
        format: ``"csv"``, ``"tsv"``, ``"jsonl"``, or None to tell from ``train_file``'s suffix.
        text_column, label_column: column name (needs ``has_header``, or a JSONL key) or index.
        has_header: the first non-blank CSV/TSV line names the columns (unused for JSONL).
        delimiter: CSV field separator (one character; CSV only).
        label_names: optional mapping from the raw label values to the names the model predicts,
            e.g. ``{"0": "negative", "1": "positive"}``; it then fixes the label set (in its
            order) and a row with any other label is bad in every split. Without it, the labels
            are the training file's, sorted.
        val_ratio, split_seed: the carved validation split when ``val_file`` is None.
        on_bad_line: ``"error"`` or ``"skip"``.
        download, url, sha256: when a split file is missing and ``download`` is true, fetch
            ``url`` into ``path`` with :func:`rnnkit.data.io.download.download` (verified against
            ``sha256``, which is required) and extract it if it is an archive.
        **kwargs: :class:`TextClassificationDataModule`'s (``batch_size``, ``lowercase``, ...).

    Raw examples: ``{"text": str, "label": str, "source": "<file>, line <n>"}``.
    """

    archive_folder: str = ""
    """Sub-folder of ``path`` where the downloaded archive puts the files (SST-2: ``SST-2``)."""
    header_hint: str = ""
    """Appended to a missing-column error (e.g. why a known file lacks a label column)."""
    missing_hint: str = ""
    """Appended to a missing-file error (e.g. where the dataset can be had)."""

    def __init__(
        self,
        train_file: str | None = None,
        val_file: str | None = None,
        test_file: str | None = None,
        path: str | None = None,
        format: str | None = None,
        text_column: str | int = "text",
        label_column: str | int = "label",
        has_header: bool = True,
        delimiter: str | None = None,
        label_names: Mapping[Any, Any] | None = None,
        val_ratio: float = 0.1,
        split_seed: int = 0,
        on_bad_line: str = "error",
        download: bool = False,
        url: str | None = None,
        sha256: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not isinstance(train_file, (str, Path)) or not str(train_file):
            raise ValueError(f"train_file: expected the training file's path, got {train_file!r}")
        self.train_file, self.val_file, self.test_file = train_file, val_file, test_file
        self.path = Path(str(path)).expanduser() if path is not None else None
        if format is None:
            format = format_from_suffix(train_file)
        if format not in FORMATS:
            raise ValueError(f"format: expected one of {list(FORMATS)} or null, got {format!r}")
        self.format = format
        if not isinstance(has_header, bool):
            raise ValueError(f"has_header: expected true or false, got {has_header!r}")
        self.has_header = has_header
        named_ok = has_header or format == "jsonl"
        self.text_column = _check_column(text_column, "text_column", named_ok)
        self.label_column = _check_column(label_column, "label_column", named_ok)
        if self.text_column == self.label_column:
            raise ValueError(
                f"label_column: expected a different column than text_column, got {label_column!r}"
            )
        if delimiter is not None and format != "csv":
            raise ValueError(f"delimiter: only CSV takes a delimiter, but format is {format!r}")
        if delimiter is not None and (not isinstance(delimiter, str) or len(delimiter) != 1):
            raise ValueError(f"delimiter: expected one character, got {delimiter!r}")
        self.delimiter = delimiter or ("\t" if format == "tsv" else ",")
        if label_names is not None:
            if not isinstance(label_names, Mapping) or not label_names:
                raise ValueError(
                    "label_names: expected a non-empty mapping from raw labels to names, "
                    f"got {label_names!r}"
                )
            label_names = {str(raw): str(name) for raw, name in label_names.items()}
        self.label_names: dict[str, str] | None = label_names
        self.val_ratio = val_ratio
        self.split_seed = split_seed
        check_fraction(val_ratio, "val_ratio")
        self.on_bad_line = check_on_bad_line(on_bad_line)
        self.download = check_download(download, url, self.path)
        self.url, self.sha256 = url, sha256
        self._checked_files = False
        self._train_labels: set[str] | None = None
        # Which training rows are carved into the validation split (val_file=None).
        self._carved_mask: np.ndarray | None = None
        # Bad-line summaries already warned about: a file read again warns once.
        self._warned: set[str] = set()

    # ---- files -------------------------------------------------------------------------

    def resolve(self, name: str | Path) -> Path:
        """The path of a split file: absolute as given, else in ``path`` (or its
        :attr:`archive_folder`, where a downloaded archive put it)."""
        file = Path(str(name)).expanduser()
        if file.is_absolute() or self.path is None:
            return file
        candidates = [self.path / file]
        if self.archive_folder:
            candidates.append(self.path / self.archive_folder / file)
        return next((c for c in candidates if c.is_file()), candidates[0])

    def _missing_files(self) -> list[Path]:
        names = [n for n in (self.train_file, self.val_file, self.test_file) if n is not None]
        return [self.resolve(n) for n in names if not self.resolve(n).is_file()]

    def ensure_files(self) -> None:
        """Check that the split files exist; download them first if asked to."""
        if self._checked_files:
            return
        missing = self._missing_files()
        # With download=true, files of an extraction without its completion marker (a run
        # killed while extracting) are not trusted: the archive is extracted again.
        if self.download and (missing or needs_download(self.url, self.sha256, self.path)):
            filename = None if is_archive(self.url) else Path(str(self.train_file)).name
            download_file(
                self.url, self.sha256, self.path, filename=filename, extract=is_archive(self.url)
            )
            missing = self._missing_files()
            if missing:
                raise FileNotFoundError(
                    f"{missing[0]}: not found, and the download from {self.url} does not "
                    f"contain it.{self.missing_hint}"
                )
        if missing:
            check_data_folder(self.path, f"train_file={self.train_file}")
            fetch = f" or set data.download=true to fetch {self.url}" if self.url else ""
            raise FileNotFoundError(
                f"{missing[0]}: not found; put the file there (or point data.path at its "
                f"folder){fetch}.{self.missing_hint}"
            )
        self._checked_files = True

    def source_files(self) -> list[Path]:
        """The split files (downloaded first when missing and ``download`` is set)."""
        self.ensure_files()
        names = [n for n in (self.train_file, self.val_file, self.test_file) if n is not None]
        return [self.resolve(name) for name in names]

    def preparation_settings(self) -> dict[str, Any]:
        """The base class's, less where the files may be downloaded from (it changes no row)."""
        settings = super().preparation_settings()
        for name in ("download", "url", "sha256"):
            settings.pop(name, None)
        return settings

    # ---- splits ------------------------------------------------------------------------

    def load_split(self, split: str) -> Iterator[dict[str, Any]]:
        """The raw examples of ``split``, streamed from its file row by row."""
        if split not in SPLITS:
            raise ValueError(f"split: expected one of {list(SPLITS)}, got {split!r}")
        self.ensure_files()
        if split in ("train", "val") and self.val_file is None:
            return self._carved_part(carved=split == "val")
        if split == "train":
            return self._read_train()
        name = self.val_file if split == "val" else self.test_file
        if name is None:
            return iter(())
        return self.read_table(self.resolve(name), known_labels=self._known_labels())

    def _read_train(self) -> Iterator[dict[str, Any]]:
        file = self.resolve(self.train_file)
        labels: set[str] = set()
        return chain(
            self.read_table(file, labels_seen=labels), self._train_labels_checked(file, labels)
        )

    def _train_labels_checked(self, file: Path, labels: set[str]) -> Iterator[dict[str, Any]]:
        """No example: run once the training file is read, it checks and keeps its labels."""
        self._check_train_labels(file, labels)
        yield from ()

    def _check_train_labels(self, file: Path, labels: set[str]) -> None:
        if len(labels) < 2:
            raise ValueError(
                f"{file}: expected at least 2 different labels in the training split, "
                f"found {sorted(labels)}"
            )
        self._train_labels = labels

    def _carved_part(self, carved: bool) -> Iterator[dict[str, Any]]:
        """The training rows kept for training, or those carved for validation: the same
        rows :func:`~rnnkit.data.io.reading.split_off` would carve from the list of them."""
        if self._carved_mask is None:  # one pass over the labels, then the rows themselves
            labels = map(itemgetter("label"), self._read_train())
            self._carved_mask = carved_mask(labels, self.val_ratio, self.split_seed)
        selected = self._carved_mask if carved else ~self._carved_mask
        return compress(self._read_train(), selected.tobytes())

    def _known_labels(self) -> set[str] | None:
        """Labels a val/test row may have (None: ``label_names`` already restricts them)."""
        if self.label_names is not None:
            return None
        if self.fitted:
            return set(self.labels)
        if self._train_labels is None:
            for _ in self._read_train():  # a pass that notes the training labels
                pass
        return self._train_labels

    def set_fitted(self, counts: Counter, labels: set[str]) -> None:
        """The base class's, with the labels of ``label_names`` (in its order) when given."""
        super().set_fitted(counts, labels)
        if self.label_names is not None:
            self._set_labels(list(dict.fromkeys(self.label_names.values())))

    # ---- preparation: TSV files read in worker processes ---------------------------------

    def map_split(self, split: str, function: Callable[[Any], Any], workers: int) -> Iterator[Any]:
        """The base class's, but a TSV split file with its own validation file and the default
        tokens is read by the workers themselves: this process reads chunks of lines (about a
        megabyte) and sends them on; a worker parses a chunk's rows into :class:`TextRows`
        (checking them as :meth:`read_table` does) and runs ``function`` on them. Bad rows are
        reported in file order, as when read here."""
        reads_in_workers = (
            self.format == "tsv"
            and self.val_file is not None
            and type(self).tokenize is TextClassificationDataModule.tokenize
        )
        replayed = split == "train" and getattr(self, "_spilled_train", None) is not None
        if split not in SPLITS or not reads_in_workers or replayed:
            return super().map_split(split, function, workers)
        self.ensure_files()
        if split == "train":
            return self._map_tsv(self.resolve(self.train_file), None, function, workers, True)
        name = self.val_file if split == "val" else self.test_file
        if name is None:
            return iter(())
        return self._map_tsv(self.resolve(name), self._known_labels(), function, workers, False)

    def _map_tsv(
        self,
        file: Path,
        known_labels: set[str] | None,
        function: Callable[[Any], Any],
        workers: int,
        train: bool,
    ) -> Iterator[Any]:
        policy = BadLinePolicy(file, self.on_bad_line)
        rows = _TableRows(self, file, policy, known_labels, labelled=True)
        labels: set[str] = set()
        found = 0
        tasks = self._tsv_tasks(file, rows, known_labels)
        run = partial(self._tsv_outcome, function, known_labels)
        for outcome in map_ordered(run, tasks, workers):
            outcome.merge_into(rows)
            found += outcome.found
            labels.update(outcome.labels)
            if outcome.found:
                yield outcome.result
        self._finish_file(file, policy, found)
        if train:
            self._check_train_labels(file, labels)

    def _tsv_tasks(
        self, file: Path, rows: _TableRows, known_labels: set[str] | None
    ) -> Iterator[list[dict[str, Any]] | _TsvChunk]:
        """What the workers get: the rows up to the header (and the first row, without one) as
        examples read here, then chunks of undecoded lines."""
        for start, data in read_byte_chunks(file, WORKER_CHUNK_BYTES):
            if rows.width is not None:
                yield _TsvChunk(file, start, data, None, rows.width, rows.header, rows.indices)
                continue
            chunk = decode_lines(data, start)
            examples, position = [], 0
            while rows.width is None and position < len(chunk.lines):
                number = chunk.start + position
                problems = {number: chunk.problems[number]} if number in chunk.problems else {}
                examples += rows.each_row(LineChunk(number, [chunk.lines[position]], problems))
                position += 1
            if examples:
                yield examples
            if position < len(chunk.lines):
                first = chunk.start + position
                rest = LineChunk(
                    first,
                    chunk.lines[position:],
                    {n: problem for n, problem in chunk.problems.items() if n >= first},
                )
                yield _TsvChunk(file, first, b"", rest, rows.width, rows.header, rows.indices)

    def _tsv_outcome(
        self,
        function: Callable[[Any], Any],
        known_labels: set[str] | None,
        task: list[dict[str, Any]] | _TsvChunk,
    ) -> _ChunkOutcome:
        """In a worker: ``function`` of a task's rows, and what reading them found."""
        if isinstance(task, list):  # read here already (bad rows reported)
            rows = TextRows.of(task)
            return _ChunkOutcome(function(rows) if task else None, len(rows), set(rows.labels))
        chunk = task.lines if task.lines is not None else decode_lines(task.data, task.start)
        columns = good_rows(chunk, task.width, task.indices, self.label_names, known_labels)
        if columns is not None:
            texts, labels = columns
            rows = TextRows(texts, labels, file=str(task.file), start=chunk.start)
            return _ChunkOutcome(function(rows), len(rows), set(labels), carried_at=0)
        policy = BadLinePolicy(task.file, self.on_bad_line)
        reader = _ChunkRows(self, task.file, policy, known_labels, labelled=True)
        reader.width, reader.header, reader.indices = task.width, task.header, task.indices
        try:
            examples = reader.each_row(chunk)
        except ValueError as error:
            return _ChunkOutcome(None, 0, set(), reader.carried_at, error=error)
        outcome = _ChunkOutcome(None, len(examples), {e["label"] for e in examples})
        if examples:
            outcome.result = function(TextRows.of(examples))
        outcome.carried_at, outcome.skipped = reader.carried_at, policy.skipped
        outcome.blank_lines = reader.blank_lines
        return outcome

    def parse_raw(self, raw: str) -> list[dict[str, Any]]:
        """A sentence; a text file with one sentence per line; or a table file in this module's
        format (by suffix, e.g. ``dev.tsv``), whose text column is read and labels ignored."""
        path = Path(raw)
        if path.is_file() and path.suffix.lower() in FORMATS[self.format]:
            return list(self.read_table(path, labelled=False))
        return super().parse_raw(raw)

    # ---- rows --------------------------------------------------------------------------

    def read_table(
        self,
        file: Path,
        known_labels: set[str] | None = None,
        labelled: bool = True,
        labels_seen: set[str] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Raw examples of one table file, row by row; bad rows raised or skipped per
        ``on_bad_line`` (a file read several times warns once about the rows it skipped).

        Args:
            known_labels: if given, a label outside it is a bad row (val/test files).
            labelled: False reads only the text column (prediction input; labels None).
            labels_seen: if given, every label read is added to it.
        """
        return chain.from_iterable(self._table_chunks(file, known_labels, labelled, labels_seen))

    def _table_chunks(
        self,
        file: Path,
        known_labels: set[str] | None,
        labelled: bool,
        labels_seen: set[str] | None,
    ) -> Iterator[list[dict[str, Any]]]:
        """:meth:`read_table`'s examples a list at a time (flattened in C: no Python frame
        runs per row), then the file's warning and its check for at least one example."""
        policy = BadLinePolicy(file, self.on_bad_line)
        if self.format == "jsonl":
            rows = self._json_rows(file, policy)
            chunks = self._example_chunks(file, rows, policy, known_labels, labelled)
        else:
            chunks = self._delimited_chunks(file, policy, known_labels, labelled)
        found = 0
        for examples in chunks:
            found += len(examples)
            if labels_seen is not None:
                labels_seen.update([example["label"] for example in examples])
            yield examples
        self._finish_file(file, policy, found)

    def _finish_file(self, file: Path, policy: BadLinePolicy, found: int) -> None:
        """After a file's last row: warn about its skipped rows (once per file, however often
        it is read), and refuse a file without one example."""
        summary = policy.summary()
        if summary not in self._warned:
            self._warned.add(summary)
            policy.finish()
        if not found:
            skipped = f" ({len(policy.skipped)} bad lines skipped)" if policy.skipped else ""
            raise ValueError(f"{file}: expected at least one example, found none{skipped}")

    def _example(
        self, text: Any, label: Any, known_labels: set[str] | None, labelled: bool
    ) -> tuple[str, str | None]:
        """``(text, label)`` of a row, checked; a :class:`BadRowError` says what is wrong.

        Strings (every CSV/TSV field) take the shortest path: this runs once per row.
        """
        if type(text) is not str:
            if text is None:
                raise BadRowError(f"missing text (column {self.text_column!r})")
            if not isinstance(text, str):
                raise BadRowError(
                    f"expected a string of text in column {self.text_column!r}, got {text!r}"
                )
        text = text.strip()
        if not text:  # whitespace only: no token
            raise BadRowError(f"empty sentence (column {self.text_column!r}); expected some text")
        if not labelled:
            return text, None
        if type(label) is not str:
            if label is None:
                raise BadRowError(f"missing label (column {self.label_column!r})")
            if isinstance(label, bool) or not isinstance(label, (str, int)):
                raise BadRowError(f"expected a string or integer label, got {label!r}")
            label = str(label)
        label = label.strip()
        if not label:
            raise BadRowError(f"missing label (column {self.label_column!r})")
        if self.label_names is not None:
            named = self.label_names.get(label)
            if named is None:
                raise BadRowError(
                    f"unknown label {label!r}; expected one of {list(self.label_names)}"
                )
            return text, named
        if known_labels is not None and label not in known_labels:
            raise BadRowError(
                f"unknown label {label!r}: the training file has no such label; expected one "
                f"of {sorted(known_labels)}"
            )
        return text, label

    def _delimited_chunks(
        self,
        file: Path,
        policy: BadLinePolicy,
        known_labels: set[str] | None,
        labelled: bool,
    ) -> Iterator[list[dict[str, Any]]]:
        """The examples of the CSV/TSV rows a list at a time (bad rows go to ``policy``).

        TSV is read a chunk of lines at a time (about a megabyte): a chunk whose rows are all
        good is made into examples at once (:meth:`_TableRows.whole_chunk`), any other row by
        row, so bad rows are reported in file order either way.
        """
        rows = _TableRows(self, file, policy, known_labels, labelled)
        if self.format == "tsv":  # split on tabs, no quoting
            for chunk in read_line_chunks(file, TSV_CHUNK_BYTES):
                examples = rows.whole_chunk(chunk)
                yield rows.each_row(chunk) if examples is None else examples
            return
        records = read_csv_records(file, policy, delimiter=self.delimiter)
        examples = (rows.example(line_number, fields) for line_number, fields in records)
        yield from _lists(example for example in examples if example is not None)

    def _column_indices(
        self, file: Path, line_number: int, header: list[str] | None, width: int, labelled: bool
    ) -> tuple[int, int | None]:
        """Indices of the text and label columns; a ValueError when the file lacks one."""
        roles = [("text_column", self.text_column)]
        if labelled:
            roles.append(("label_column", self.label_column))
        indices: list[int | None] = []
        for role, column in roles:
            if isinstance(column, str):
                if column not in header:
                    raise ValueError(
                        f"{file}, line {line_number}: expected a column named {column!r} "
                        f"({role}) in the header, found columns {header}{self.header_hint}"
                    )
                indices.append(header.index(column))
            elif column >= width:
                raise ValueError(
                    f"{file}, line {line_number}: {role}={column} needs at least {column + 1} "
                    f"columns, found {width}"
                )
            else:
                indices.append(column)
        return indices[0], indices[1] if labelled else None

    def _example_chunks(
        self,
        file: Path,
        rows: Iterator[tuple[int, Any, Any]],
        policy: BadLinePolicy,
        known_labels: set[str] | None,
        labelled: bool,
    ) -> Iterator[list[dict[str, Any]]]:
        """The examples of ``(line_number, text, label)`` rows a list at a time (bad ones go
        to ``policy``)."""
        where = f"{file}, line "

        def examples() -> Iterator[dict[str, Any]]:
            for line_number, text, label in rows:
                try:
                    text, label = self._example(text, label, known_labels, labelled)
                except BadRowError as problem:
                    policy.report(str(problem), line_number)
                    continue
                yield {"text": text, "label": label, "source": where + str(line_number)}

        yield from _lists(examples())

    def _json_rows(self, file: Path, policy: BadLinePolicy) -> Iterator[tuple[int, Any, Any]]:
        """``(line_number, text, label)`` of each JSON Lines record."""
        blank_lines: list[int] = []
        for line_number, text in read_lines(file, policy):
            if not text.strip():
                blank_lines.append(line_number)
                continue
            for blank in blank_lines:
                policy.report("blank line; expected a JSON object", blank)
            blank_lines = []
            try:
                record = json.loads(text)
            except json.JSONDecodeError as error:
                policy.report(
                    f"not valid JSON ({error.msg} at column {error.colno}); expected one JSON "
                    "object per line",
                    line_number,
                )
                continue
            try:
                values = [
                    self._json_value(record, c) for c in (self.text_column, self.label_column)
                ]
            except BadRowError as problem:
                policy.report(str(problem), line_number)
                continue
            yield line_number, values[0], values[1]

    @staticmethod
    def _json_value(record: Any, column: str | int) -> Any:
        if isinstance(column, str):
            if not isinstance(record, dict):
                raise BadRowError(
                    f"expected a JSON object with key {column!r}, found {type(record).__name__}"
                )
            return record.get(column)
        if not isinstance(record, list):
            raise BadRowError(
                f"expected a JSON array for column index {column}, found {type(record).__name__}"
            )
        return record[column] if column < len(record) else None


def _lists(examples: Iterator[dict[str, Any]], size: int = 4096) -> Iterator[list[dict[str, Any]]]:
    """Consecutive lists of ``size`` examples (the last may be shorter, none is empty)."""
    while chunk := list(islice(examples, size)):
        yield chunk


class _TableRows:
    """What reading one CSV/TSV file has learned so far: its header, its number of columns,
    the blank lines not yet known to be bad (they are only if more rows follow)."""

    def __init__(
        self,
        module: TextTableDataModule,
        file: Path,
        policy: BadLinePolicy,
        known_labels: set[str] | None,
        labelled: bool,
    ) -> None:
        self.module, self.file, self.policy = module, file, policy
        self.known_labels, self.labelled = known_labels, labelled
        self.where = f"{file}, line "
        tsv = module.format == "tsv"
        self.kind = "tab-separated" if tsv else f"{module.delimiter!r}-separated"
        self.width: int | None = None
        self.header: list[str] | None = None
        self.indices: tuple[int, int | None] = (0, None)
        self.blank_lines: list[int] = []

    def each_row(self, chunk: LineChunk) -> list[dict[str, Any]]:
        """The examples of a chunk of TSV lines, row by row (bad rows reported)."""
        examples = []
        for line_number, line in enumerate(chunk.lines, start=chunk.start):
            if line is None:  # not UTF-8
                self.policy.report(chunk.problems[line_number], line_number, self.file)
                continue
            example = self.example(line_number, line.split("\t"))
            if example is not None:
                examples.append(example)
        return examples

    def example(self, line_number: int, fields: list[str]) -> dict[str, Any] | None:
        """The example of one row; None for a header, a blank or a bad row (reported)."""
        if len(fields) <= 1 and not "".join(fields).strip():
            self.blank_lines.append(line_number)  # an error only if more rows follow
            return None
        self.report_blank_lines()
        if self.width is None:
            self.width = len(fields)
            if self.module.has_header:
                self.header = [name.strip() for name in fields]
            self.indices = self.module._column_indices(
                self.file, line_number, self.header, self.width, self.labelled
            )
            if self.header is not None:
                return None
        if len(fields) != self.width:
            names = f" ({', '.join(self.header)})" if self.header else ""
            self.policy.report(
                f"expected {self.width} {self.kind} columns{names}, found {len(fields)}",
                line_number,
            )
            return None
        text_index, label_index = self.indices
        try:
            text, label = self.module._example(
                fields[text_index],
                fields[label_index] if label_index is not None else None,
                self.known_labels,
                self.labelled,
            )
        except BadRowError as problem:
            self.policy.report(str(problem), line_number)
            return None
        return {"text": text, "label": label, "source": self.where + str(line_number)}

    def report_blank_lines(self) -> None:
        """The blank lines read so far are bad: a row follows them."""
        for blank in self.blank_lines:
            self.policy.report(f"blank line; expected a row of {self.width or '?'} columns", blank)
        self.blank_lines = []

    def whole_chunk(self, chunk: LineChunk) -> list[dict[str, Any]] | None:
        """The examples of a chunk of TSV lines when every one is a good row (UTF-8, the
        header already read, no blank line pending), made column by column; None otherwise
        (the caller then goes row by row, reporting the bad ones)."""
        start = chunk.start
        if self.width is None or self.blank_lines:
            return None
        columns = good_rows(
            chunk, self.width, self.indices, self.module.label_names, self.known_labels
        )
        if columns is None:
            return None
        texts, labels = columns
        where = self.where
        return [
            {"text": text, "label": label, "source": where + str(number)}
            for number, text, label in zip(range(start, start + len(texts)), texts, labels)
        ]


@dataclass
class _TsvChunk:
    """A chunk of TSV lines for a worker to decode (``data``, lines from ``start``) or decoded
    already (``lines``), with what the reader knows of the file's columns."""

    file: Path
    start: int
    data: bytes | None
    lines: LineChunk | None
    width: int
    header: list[str] | None
    indices: tuple[int, int | None]


def good_rows(
    chunk: LineChunk,
    width: int,
    indices: tuple[int, int | None],
    label_names: dict[str, str] | None,
    known: set[str] | None,
) -> tuple[list[str], list[Any]] | None:
    """``(texts, labels)`` of a chunk of TSV lines when every line is a good row of ``width``
    columns (the text and label columns at ``indices``; no label column: labels None), made
    column by column with no Python step per row; None when any line is not (the rows are
    then read one by one, the bad ones reported)."""
    lines = chunk.lines
    if chunk.problems or not lines:
        return None
    if set(map(str.count, lines, repeat("\t"))) != {width - 1}:
        return None
    fields = "\t".join(lines).split("\t")
    text_index, label_index = indices
    texts = list(map(str.strip, fields[text_index::width]))
    if not all(texts):
        return None
    if label_index is None:
        return texts, [None] * len(texts)
    raw = list(map(str.strip, fields[label_index::width]))
    if label_names is not None:
        labels = list(map(label_names.get, raw))
        return None if None in labels else (texts, labels)
    if not all(raw) or (known is not None and not known.issuperset(raw)):
        return None
    return texts, raw


class _ChunkRows(_TableRows):
    """A worker's reader of one chunk: the blank lines that ended the chunk before are not
    known here, so it notes where a row would have reported them (:attr:`carried_at`: the
    number of lines skipped before that row; None: no row)."""

    carried_at: int | None = None

    def report_blank_lines(self) -> None:
        if self.carried_at is None:
            self.carried_at = len(self.policy.skipped)
        super().report_blank_lines()


@dataclass
class _ChunkOutcome:
    """What a worker read in a chunk: ``function``'s result, the examples, their labels, and
    for the reading process the bad lines the worker skipped (in order), where the blank lines
    carried from the chunk before are reported among them (``carried_at``, None: nowhere),
    the blank lines the chunk ends with, or the error that stopped it."""

    result: Any
    found: int
    labels: set[str]
    carried_at: int | None = None
    skipped: list[tuple[str, str]] = field(default_factory=list)
    blank_lines: list[int] = field(default_factory=list)
    error: ValueError | None = None

    def merge_into(self, rows: _TableRows) -> None:
        """Report in ``rows``' policy what this chunk found, in file order (raises the first
        error when the policy is ``"error"``)."""
        if self.carried_at is None:
            if self.error is not None:
                raise self.error
            rows.policy.skipped.extend(self.skipped)
            rows.blank_lines.extend(self.blank_lines)
            return
        rows.policy.skipped.extend(self.skipped[: self.carried_at])
        rows.report_blank_lines()
        if self.error is not None:
            raise self.error
        rows.policy.skipped.extend(self.skipped[self.carried_at :])
        rows.blank_lines = list(self.blank_lines)
