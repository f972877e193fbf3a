"""Plain-text language-modelling corpora: one file per split (PTB, WikiText) or one file cut
into contiguous fractions (tiny-shakespeare)."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rnnkit.data.io.download import check_download
from rnnkit.data.io.download import download as download_file
from rnnkit.data.io.reading import BadLinePolicy, check_on_bad_line, read_lines
from rnnkit.data.language_modeling.datamodule import LanguageModelingDataModule

TINY_SHAKESPEARE_URL = (
    "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"
)
TINY_SHAKESPEARE_SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"
"""sha256 of char-rnn's ``input.txt`` (1,115,394 bytes; md5 6fb458f1232090904fb40fe944165e91, as
listed in ``shared/data/SOURCES.md``)."""


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
        self._text_cache: dict[str, str] = {}

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

    def read_text(self, name: str) -> str:
        """The whole file, line breaks normalised to ``\\n``; bad lines per ``on_bad_line``."""
        file = self.resolve(name)
        if name not in self._text_cache:
            if not file.is_file() and self.download and name == self.files["train"]:
                download_file(self.url, self.sha256, self.path, filename=Path(name).name)
            if not file.is_file():
                hint = " (or set data.download=true)" if self.url and not self.download else ""
                raise FileNotFoundError(2, f"text file not found{hint}", str(file))
            with BadLinePolicy(file, self.on_bad_line) as policy:
                lines = [text for _, text in read_lines(file, policy)]
            ends_with_break = file.read_bytes().endswith(b"\n")
            self._text_cache[name] = "\n".join(lines) + ("\n" if ends_with_break else "")
        return self._text_cache[name]

    def cut_points(self, text: str) -> list[int]:
        """Character offsets ``[0, c1, (c2,) len(text)]`` of the contiguous parts."""
        bounds = [0]
        running = 0.0
        for fraction in self.fractions[:-1]:
            running += fraction
            cut = int(running * len(text))
            if self.level == "word":
                newline = text.find("\n", cut)
                cut = len(text) if newline < 0 else newline + 1
            bounds.append(max(cut, bounds[-1]))
        return [*bounds, len(text)]

    def load_split(self, split: str) -> list[dict[str, Any]]:
        if split == "test" and not self.has_test_text:
            warnings.warn(
                "no held-out test text (split_fractions has two parts or test_file is null): "
                "the test split is the validation text",
                UserWarning,
                stacklevel=2,
            )
            split = "val"
        if self.fractions is None:
            name = self.files[split]
            text = self.read_text(name)
            source = str(self.resolve(name))
        else:
            name = self.files["train"]
            whole = self.read_text(name)
            bounds = self.cut_points(whole)
            index = ("train", "val", "test").index(split)
            text = whole[bounds[index] : bounds[index + 1]]
            source = (
                f"{self.resolve(name)} [{split}: characters {bounds[index]}:{bounds[index + 1]}]"
            )
        if not text.strip():
            raise ValueError(f"{source}: the {split} split holds no text; expected some")
        return [{"name": source, "text": text}]
