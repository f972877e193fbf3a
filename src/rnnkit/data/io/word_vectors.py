"""Pretrained word vectors from text files, read for one vocabulary.

The text formats of word2vec (``save_word2vec_format(binary=False)``), GloVe (``glove.6B.100d.txt``)
and fastText (``cc.en.300.vec``, ``wiki-news-300d-1M.vec``): one word a line followed by its
values, separated by spaces; word2vec and fastText files start with a ``<count> <dimension>``
header line, GloVe files do not (the header is recognised, not configured). A ``.gz`` file is
read through gzip. Lines are UTF-8; bytes that are not decode to U+FFFD and so match no word.

Such files hold millions of words (GBs): :func:`read_word_vectors` streams the file once and
keeps only the rows of words in the vocabulary, so memory follows the vocabulary, not the file.
A vocabulary word missing from the file also matches a file word that differs only in case
(``Paris`` and ``paris``): the first such word, which in frequency-sorted files is the most
frequent; an exact match always wins. Only the lines of vocabulary words are parsed (the rest
are looked at for their first word), and a malformed one of them stops with its file and line.

    vectors = read_word_vectors("glove.6B.100d.txt", ["<pad>", "<unk>", "the", "Paris"])
    vectors.vectors.shape  # (4, 100): "the" as written, "Paris" as GloVe's "paris"
    vectors.coverage()     # '2 of 2 words found in glove.6B.100d.txt (1 exact, ...'
"""

from __future__ import annotations

import gzip
import io
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import numpy as np

from rnnkit.data.io.reading import location
from rnnkit.data.io.vocabulary import BOS, EOS, PAD, UNK

SPECIAL_TOKENS = (PAD, UNK, BOS, EOS)
"""Vocabulary entries that are no words: never counted in the coverage, ``<pad>`` never loaded."""

BINARY_SUFFIXES = (".bin", ".bin.gz", ".model", ".kv", ".npy")
GZIP_MAGIC = b"\x1f\x8b"


@dataclass
class WordVectors:
    """The rows of a vectors file for one vocabulary.

    Attributes:
        vectors: ``(V, D)`` float32, row ``i`` the vector of vocabulary word ``i`` (zeros where
            :attr:`found` is false).
        found: ``(V,)`` bool, which rows came from the file.
        path: the file read.
        exact: words found as written; ``case_insensitive``: found only under another case.
        missing: the words (special tokens excepted) the file does not have, in vocabulary order.
    """

    vectors: np.ndarray
    found: np.ndarray
    path: Path
    exact: int = 0
    case_insensitive: int = 0
    missing: list[str] = field(default_factory=list)

    @property
    def dimension(self) -> int:
        return int(self.vectors.shape[1])

    def coverage(self, examples: int = 5) -> str:
        """One line: how many words were found, how, and a few that were not."""
        known = self.exact + self.case_insensitive
        total = known + len(self.missing)
        text = (
            f"{known:,} of {total:,} words found in {self.path.name} ({self.exact:,} exact, "
            f"{self.case_insensitive:,} case-insensitive); {len(self.missing):,} not found"
        )
        if self.missing and examples:
            shown = ", ".join(self.missing[:examples])
            text += f" (e.g. {shown}{', ...' if len(self.missing) > examples else ''})"
        return text


def open_vectors_file(path: str | Path) -> TextIO:
    """The file as UTF-8 text, through gzip when it is gzip-compressed (by its first bytes).

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: a binary vectors format (word2vec ``.bin``, gensim models), not text.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(2, "word vectors file not found", str(path))
    if path.name.endswith(BINARY_SUFFIXES):
        raise ValueError(
            f"{path}: a binary vectors file; rnnkit reads the text formats (word2vec text, "
            "GloVe .txt, fastText .vec, optionally .gz): convert it, e.g. with gensim's "
            "KeyedVectors.load_word2vec_format(path, binary=True).save_word2vec_format(out, "
            "binary=False)"
        )
    with open(path, "rb") as probe:
        compressed = probe.read(2) == GZIP_MAGIC
    raw = gzip.open(path, "rb") if compressed else open(path, "rb")  # noqa: SIM115
    return io.TextIOWrapper(raw, encoding="utf-8", errors="replace", newline=None)


def _header_or_first_row(path: Path, handle: TextIO) -> tuple[int, str | None, int]:
    """``(dimension, first row or None, its line number)`` from the file's first line, which
    is either a ``<count> <dimension>`` header or already a word and its values."""
    first = handle.readline()
    number = 1
    while first and not first.strip():
        first, number = handle.readline(), number + 1
    if not first:
        raise ValueError(f"{path}: empty; expected one word and its values a line")
    fields = first.rstrip().split(" ")
    if len(fields) == 2 and fields[0].isdigit() and fields[1].isdigit():
        dimension = int(fields[1])
        if dimension < 1:
            raise ValueError(f"{location(path, number)}: header gives dimension 0")
        return dimension, None, number
    if len(fields) < 2:
        raise ValueError(
            f"{location(path, number)}: expected a word and its values separated by spaces, "
            f"got {first.strip()[:60]!r}"
        )
    return len(fields) - 1, first, number


def vector_file_dimension(path: str | Path) -> int:
    """The vector size of a vectors file, from its header or first line (reads nothing more)."""
    with open_vectors_file(path) as handle:
        return _header_or_first_row(Path(path).expanduser(), handle)[0]


def check_vector_size(path: str | Path, size: int, size_key: str, key: str) -> int:
    """The file's vector size, which must equal the model's ``size`` (named ``size_key``);
    else a ``ValueError`` naming config ``key``, the file and both sizes."""
    dimension = vector_file_dimension(path)
    _check_size(path, dimension, size, size_key, key)
    return dimension


def _check_size(path: str | Path, dimension: int, size: int, size_key: str, key: str) -> None:
    if dimension != size:
        raise ValueError(
            f"{key}: {path} holds {dimension}-dimensional vectors, but {size_key} is {size}; "
            f"set {size_key}={dimension}"
        )


def _numbered_lines(handle: TextIO, first: str | None, number: int) -> Iterator[tuple[int, str]]:
    if first is not None:
        yield number, first
    yield from enumerate(handle, start=number + 1)


def _parse_row(path: Path, number: int, line: str, dimension: int) -> np.ndarray:
    fields = line.rstrip().split(" ")
    if len(fields) != dimension + 1:
        raise ValueError(
            f"{location(path, number)}: expected a word and {dimension} values (the file's "
            f"dimension), got {len(fields) - 1} values"
        )
    try:
        row = np.array(fields[1:], dtype=np.float32)
    except ValueError:
        bad = next(v for v in fields[1:] if not _is_number(v))
        raise ValueError(
            f"{location(path, number)}: {bad[:30]!r} is not a number (word {fields[0]!r})"
        ) from None
    if not np.isfinite(row).all():
        raise ValueError(f"{location(path, number)}: non-finite value for word {fields[0]!r}")
    return row


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def read_word_vectors(
    path: str | Path,
    tokens: Sequence[str],
    size: int | None = None,
    size_key: str = "embedding_dim",
    key: str = "pretrained",
) -> WordVectors:
    """The vectors of the vocabulary ``tokens`` (id order) from the text vectors file ``path``.

    Args:
        path: a word2vec-text, GloVe or fastText ``.vec`` file, optionally gzip-compressed.
        tokens: the vocabulary, row ``i`` for token ``i``. Special tokens (``<pad>``, ``<unk>``,
            ``<bos>``, ``<eos>``) are not counted; ``<pad>`` keeps a zero row.
        size: the model's embedding size, which the file's must equal (None: any).
        size_key, key: the config keys named by the errors (the size; the vectors file).

    Returns:
        :class:`WordVectors` with a ``(len(tokens), D)`` float32 matrix.

    Raises:
        FileNotFoundError: no file. ValueError: an empty file, a binary one, a size that differs
        from ``size``, or a vocabulary word's line that is malformed (``<file>, line <n>: ...``).
    """
    path = Path(path).expanduser()
    wanted = {token: i for i, token in enumerate(tokens) if token != PAD}
    by_lower: dict[str, list[int]] = {}
    for token, i in wanted.items():
        by_lower.setdefault(token.lower(), []).append(i)
    exact: dict[int, np.ndarray] = {}
    folded: dict[str, np.ndarray] = {}
    with open_vectors_file(path) as handle:
        dimension, first, first_number = _header_or_first_row(path, handle)
        if size is not None:
            _check_size(path, dimension, size, size_key, key)
        remaining = len(wanted)
        for number, line in _numbered_lines(handle, first, first_number):
            word = line.partition(" ")[0]
            i = wanted.get(word)
            lowered = word.lower()
            own = i is not None and i not in exact
            fallback = lowered in by_lower and lowered not in folded
            if not (own or fallback):
                continue
            row = _parse_row(path, number, line, dimension)
            if fallback:
                folded[lowered] = row
            if own:
                exact[i] = row
                remaining -= 1
                if not remaining:
                    break  # every word has its own vector: no fallback can matter
    vectors = np.zeros((len(tokens), dimension), dtype=np.float32)
    found = np.zeros(len(tokens), dtype=bool)
    result = WordVectors(vectors, found, path)
    for token, i in wanted.items():
        row = exact.get(i)
        counted = token not in SPECIAL_TOKENS
        if row is None:
            row = folded.get(token.lower())
            if row is None:
                if counted:
                    result.missing.append(token)
                continue
            result.case_insensitive += counted
        else:
            result.exact += counted
        vectors[i], found[i] = row, True
    return result


def unknown_row_scale(vectors: WordVectors) -> float:
    """The standard deviation of the found vectors' values (1.0 when none was found): the
    scale at which rows for unknown words are drawn, so they look like the pretrained ones."""
    rows = vectors.vectors[vectors.found]
    if not rows.size:
        return 1.0
    scale = float(rows.std())
    return scale if math.isfinite(scale) and scale > 0 else 1.0
