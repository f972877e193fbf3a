"""Plain-text language-modelling corpora: one file per split (PTB, WikiText) or one file cut
into contiguous fractions (tiny-shakespeare)."""

from __future__ import annotations

import codecs
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from rnnkit.data.io.download import check_download
from rnnkit.data.io.download import download as download_file
from rnnkit.data.io.reading import (
    UTF8_BOM,
    BadLinePolicy,
    check_data_folder,
    check_on_bad_line,
    read_line_chunks,
)
from rnnkit.data.language_modeling.datamodule import LanguageModelingDataModule

TINY_SHAKESPEARE_URL = (
    "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"
)
TINY_SHAKESPEARE_SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"
"""sha256 of char-rnn's ``input.txt`` (1,115,394 bytes; md5 6fb458f1232090904fb40fe944165e91, as
listed in ``shared/data/SOURCES.md``)."""


def utf8_characters(path: Path, block: int = 1 << 24) -> int | None:
    """Characters of the text :func:`~rnnkit.data.io.reading.read_lines` makes of a UTF-8
    file (``\r\n`` read as ``\n``, no byte-order mark), decoded block by block without
    keeping lines; None when the file is not valid UTF-8 (the reader then reports the line)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    count = 0
    previous = b""
    try:
        with open(path, "rb") as handle:
            if handle.read(len(UTF8_BOM)) == UTF8_BOM:
                count -= 1
            handle.seek(0)
            while chunk := handle.read(block):
                count += len(decoder.decode(chunk))
                count -= chunk.count(b"\r\n") + (previous == b"\r" and chunk[:1] == b"\n")
                previous = chunk[-1:]
            count += len(decoder.decode(b"", final=True))
    except UnicodeDecodeError:
        return None
    if previous == b"\r":  # a last line ending in a lone \r loses it too
        count -= 1
    return count


class TextFilesDataModule(LanguageModelingDataModule):
    """Language modelling on plain UTF-8 text files, each split one document (one stream).

    Two layouts:

    * one file per split: ``train_file``, ``val_file``, ``test_file`` (PTB's
      ``ptb.{train,valid,test}.txt``; ``level="word"`` then ends every line with ``<eos>`` and
      maps words outside the training vocabulary to ``<unk>``, as PTB's own ``<unk>`` does);
    * one file cut into contiguous parts: ``train_file`` only, with ``split_fractions``, e.g.
      ``[0.9, 0.1]`` (tiny-shakespeare as nanoGPT and char-rnn cut it: the first 90% of the
      characters train, the last 10% validate) or ``[0.8, 0.1, 0.1]``. The cut falls at
      ``int(fraction * characters)``; at word level it moves forward to the next line break so
      no word is cut in two.

    With two fractions (or no ``test_file``) there is no held-out test text: the test split is
    the validation text, said once by a warning, so ``trainer.test`` reports on it.

    Files are read a megabyte at a time and served in pieces of about :attr:`PIECE_CHARACTERS`
    characters cut at line ends (``"continues": True`` after the first), so no file is held
    whole; with ``cache_dir`` they are prepared once into a memory-mapped token array.

    Bad data: a line that is not UTF-8 is an error naming the file and line, or, with
    ``on_bad_line="skip"``, dropped with one counted warning per file. An empty split is an
    error.

    Args:
        path: the folder of relative file names, and where ``download`` puts the file.
        train_file, val_file, test_file: the split files (absolute, or relative to ``path``).
        split_fractions: ``[train, val]`` or ``[train, val, test]`` fractions of
            ``train_file`` summing to 1; null when every split has its own file.
        on_bad_line: ``"error"`` or ``"skip"``.
        download, url, sha256: fetch ``url`` into ``path`` as ``train_file`` when it is
            missing, verified against ``sha256`` (single-file corpora only).
        **kwargs: :class:`LanguageModelingDataModule`'s (``level``, ``sequence_length``, ...).
    """

    PIECE_CHARACTERS = 1 << 20
    prepare_chunk = 2  # pieces of about a million characters each

    def __init__(
        self,
        path: str | None = None,
        train_file: str = "input.txt",
        val_file: str | None = None,
        test_file: str | None = None,
        split_fractions: list[float] | None = None,
        on_bad_line: str = "error",
        download: bool = False,
        url: str | None = None,
        sha256: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.path = Path(str(path)).expanduser() if path is not None else None
        self.files = {"train": train_file, "val": val_file, "test": test_file}
        self.on_bad_line = check_on_bad_line(on_bad_line)
        self.download = check_download(download, url, self.path)
        self.url, self.sha256 = url, sha256
        if split_fractions is None:
            if val_file is None:
                raise ValueError(
                    "split_fractions: expected [train, val] or [train, val, test] fractions of "
                    "train_file when val_file is null, got null"
                )
            self.fractions: list[float] | None = None
        else:
            self.fractions = self._checked_fractions(split_fractions)
            given = {f"{s}_file": self.files[s] for s in ("val", "test") if self.files[s]}
            if given:
                name, value = next(iter(given.items()))
                raise ValueError(
                    f"split_fractions: cuts train_file into the splits; expected val_file and "
                    f"test_file to be null, got {name}={value!r}"
                )
        self._characters: dict[str, int] = {}

    @staticmethod
    def _checked_fractions(fractions: Any) -> list[float]:
        if (
            isinstance(fractions, str)
            or not isinstance(fractions, Sequence)
            or len(fractions) not in (2, 3)
            or any(isinstance(f, bool) or not isinstance(f, (int, float)) for f in fractions)
            or any(f <= 0 for f in fractions)
            or abs(sum(fractions) - 1.0) > 1e-6
        ):
            raise ValueError(
                "split_fractions: expected [train, val] or [train, val, test] positive "
                f"fractions summing to 1, got {fractions!r}"
            )
        return [float(f) for f in fractions]

    @property
    def has_test_text(self) -> bool:
        """Whether the test split is text of its own (not the validation text)."""
        if self.fractions is not None:
            return len(self.fractions) == 3
        return self.files["test"] is not None

    def resolve(self, name: str) -> Path:
        file = Path(str(name)).expanduser()
        return file if file.is_absolute() or self.path is None else self.path / file

    def source_files(self) -> list[Path]:
        names = [self.files["train"]] if self.fractions else [n for n in self.files.values() if n]
        for name in names:
            self._ensure_file(name)
        return [self.resolve(name) for name in names]

    def _ensure_file(self, name: str) -> Path:
        file = self.resolve(name)
        if not file.is_file() and self.download and name == self.files["train"]:
            download_file(self.url, self.sha256, self.path, filename=Path(name).name)
        if not file.is_file():
            check_data_folder(self.path, f"the text files ({name})")
            hint = " (or set data.download=true)" if self.url and not self.download else ""
            raise FileNotFoundError(2, f"text file not found{hint}", str(file))
        return file

    def read_pieces(self, name: str) -> Iterator[str]:
        """The file's text in pieces cut at line ends, line breaks normalised to ``\n``; bad
        lines per ``on_bad_line``. Joined, the pieces are the whole text."""
        file = self._ensure_file(name)
        with open(file, "rb") as handle:
            handle.seek(0, 2)
            ends_with_break = handle.tell() > 0 and (handle.seek(-1, 2), handle.read(1))[1] == b"\n"
        with BadLinePolicy(file, self.on_bad_line) as policy:
            buffer: list[str] = []
            size = 0
            previous: str | None = None  # the last line read: its break depends on what follows
            for chunk in read_line_chunks(file, self.PIECE_CHARACTERS):
                lines = chunk.lines
                if chunk.problems:
                    for number in sorted(chunk.problems):
                        policy.report(chunk.problems[number], number, file)
                    lines = [line for line in lines if line is not None]
                if not lines:
                    continue
                if previous is not None:
                    buffer.append(previous + "\n")
                    size += len(previous) + 1
                if len(lines) > 1:
                    body = "\n".join(lines[:-1]) + "\n"
                    buffer.append(body)
                    size += len(body)
                previous = lines[-1]
                if size >= self.PIECE_CHARACTERS:
                    yield "".join(buffer)
                    buffer, size = [], 0
            if previous is not None:
                buffer.append(previous + ("\n" if ends_with_break else ""))
            if buffer:
                yield "".join(buffer)

    def read_text(self, name: str) -> str:
        """The whole file as one string (small files; :meth:`read_pieces` streams)."""
        return "".join(self.read_pieces(name))

    def characters(self, name: str) -> int:
        """How many characters the file's text holds (remembered). Counted from the bytes (UTF-8
        lead bytes, less the ``\r`` of ``\r\n`` and a byte-order mark) when every line
        decodes; with bad lines skipped, by reading the text."""
        if name not in self._characters:
            file = self._ensure_file(name)
            count = utf8_characters(file) if self.on_bad_line == "error" else None
            if count is None:
                count = sum(len(piece) for piece in self.read_pieces(name))
            self._characters[name] = count
        return self._characters[name]

    def cut_points(self, text: str) -> list[int]:
        """Character offsets ``[0, c1, (c2,) len(text)]`` of the contiguous parts."""
        bounds: list[int] = [0]
        for _, _, bounds in self._walk(iter([text]), len(text)):  # noqa: B007
            pass
        return [*bounds, *[len(text)] * (len(self.fractions) + 1 - len(bounds))]

    def _walk(self, pieces: Iterator[str], total: int) -> Iterator[tuple[str, int, list[int]]]:
        """Each piece with its offset and the part bounds known once it is read.

        A part ends at ``int(fraction * total)`` (cumulative); at word level the cut moves
        forward past the next line break, so no word is cut in two.
        """
        cuts, running = [], 0.0
        for fraction in self.fractions[:-1]:
            running += fraction
            cuts.append(int(running * total))
        bounds = [0]
        offset = 0
        for piece in pieces:
            end = offset + len(piece)
            while len(bounds) <= len(cuts) and cuts[len(bounds) - 1] < end:
                cut = max(cuts[len(bounds) - 1], bounds[-1])
                if self.level == "word":
                    newline = piece.find("\n", max(cut - offset, 0))
                    cut = end if newline < 0 else offset + newline + 1
                bounds.append(max(cut, bounds[-1]))
            yield piece, offset, bounds
            offset = end

    def _part_pieces(self, split: str, name: str) -> Iterator[str]:
        """The pieces of ``name``'s text that fall in ``split``'s part."""
        index = ("train", "val", "test").index(split)
        for piece, offset, bounds in self._walk(self.read_pieces(name), self.characters(name)):
            if len(bounds) <= index:
                continue
            end = offset + len(piece)
            stop = bounds[index + 1] if len(bounds) > index + 1 else end
            low, high = max(bounds[index] - offset, 0), min(stop - offset, len(piece))
            if low < high:
                yield piece[low:high]
            if len(bounds) > index + 1 and stop <= end:
                return

    def split_aliases(self) -> dict[str, str]:
        if self.has_test_text:
            return {}
        warnings.warn(
            "no held-out test text (split_fractions has two parts or test_file is null): "
            "the test split is the validation text",
            UserWarning,
            stacklevel=2,
        )
        return {"test": "val"}

    def load_split(self, split: str) -> Iterator[dict[str, Any]]:
        if split == "test" and not self.has_test_text:
            split = "val"
        if self.fractions is None:
            name = self.files[split]
            pieces = self.read_pieces(name)
            source = str(self.resolve(name))
        else:
            name = self.files["train"]
            pieces = self._part_pieces(split, name)
            source = f"{self.resolve(name)} [{split} part]"
        has_text = False
        for number, piece in enumerate(pieces):
            has_text = has_text or bool(piece.strip())
            yield {"name": source, "text": piece, "continues": number > 0}
        if not has_text:
            raise ValueError(f"{source}: the {split} split holds no text; expected some")
