"""IMDB Large Movie Review Dataset (aclImdb v1): one review per ``.txt`` file, label by folder."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator
from itertools import compress
from pathlib import Path
from typing import Any

import numpy as np

from rnnkit.data.datamodule import SPLITS
from rnnkit.data.io.download import check_download, needs_download
from rnnkit.data.io.download import download as download_file
from rnnkit.data.io.reading import (
    BadLinePolicy,
    carved_mask,
    check_data_folder,
    check_fraction,
    check_on_bad_line,
    read_lines,
)
from rnnkit.data.sentiment.datamodule import TextClassificationDataModule

IMDB_URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
IMDB_SHA256 = "c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe"
"""sha256 of ``aclImdb_v1.tar.gz`` (84,125,825 bytes; md5 7c2ac02c03563afcf9b574c7e56c153a,
the checksum torchtext and Paddle use), as published by several independent loaders."""

LABEL_FOLDERS = {"neg": "negative", "pos": "positive"}
"""Sub-folders of ``train/`` and ``test/`` and the label of their reviews (``unsup/`` is not
read)."""

LINE_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)
TOKEN = re.compile(r"[\w']+|[^\w\s]")


def clean_review(text: str) -> str:
    """The review with its HTML line breaks (``<br />``) replaced by spaces, stripped."""
    return " ".join(LINE_BREAK.sub(" ", text).split())


class IMDBDataModule(TextClassificationDataModule):
    """IMDB reviews: ``aclImdb/{train,test}/{pos,neg}/<id>_<rating>.txt``, 25,000 + 25,000.

    The validation split is carved from the training reviews: ``val_ratio`` of each label,
    chosen by ``split_seed`` (not by ``seed``, so the split stays fixed while the shuffling
    seed changes); the test split is ``test/``. Reviews are read as UTF-8, their ``<br />``
    tags become spaces, and they are tokenised into words and punctuation marks
    (``"Great film!"`` → ``great film !`` when lower-cased). Reviews run to about 2,500 tokens
    (the median is about 230): ``max_length`` and ``truncation`` say which tokens a batch keeps
    (:class:`TextClassificationDataModule`; ``data=imdb`` keeps whole reviews, and with a
    ``max_length`` Sun et al. 2019's head+tail).
    A review file that is empty or not valid UTF-8 is an error naming the file and line
    (``on_bad_line="error"``), or is skipped with one warning per split folder (``"skip"``).

    Args:
        path: the folder holding ``aclImdb/`` (or the ``aclImdb`` folder itself).
        val_ratio, split_seed: the carved validation split.
        on_bad_line: ``"error"`` or ``"skip"``.
        download, url, sha256: fetch and extract ``aclImdb_v1.tar.gz`` (84 MB) into ``path``
            when the reviews are missing, verified against ``sha256``.
        **kwargs: :class:`TextClassificationDataModule`'s (``batch_size``, ``min_frequency``,
            ``max_vocab_size``, ...).
    """

    def __init__(
        self,
        path: str,
        val_ratio: float = 0.1,
        split_seed: int = 0,
        on_bad_line: str = "error",
        download: bool = False,
        url: str = IMDB_URL,
        sha256: str | None = IMDB_SHA256,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.path = Path(str(path)).expanduser()
        check_fraction(val_ratio, "val_ratio")
        self.val_ratio, self.split_seed = val_ratio, split_seed
        self.on_bad_line = check_on_bad_line(on_bad_line)
        self.download = check_download(download, url)
        self.url, self.sha256 = url, sha256
        # Which training files are carved into the validation split.
        self._carved_mask: np.ndarray | None = None
        self._warned: set[str] = set()

    def tokenize(self, text: str) -> list[str]:
        return TOKEN.findall(text.lower() if self.lowercase else text)

    # ---- files -------------------------------------------------------------------------

    def root(self) -> Path:
        """The ``aclImdb`` folder (downloaded first when missing and ``download`` is set)."""
        # With download=true, files of an extraction without its completion marker (a run
        # killed while extracting) are not trusted: the archive is extracted again.
        stale = self.download and needs_download(self.url, self.sha256, self.path)
        for candidate in (self.path / "aclImdb", self.path):
            if not stale and (candidate / "train").is_dir() and (candidate / "test").is_dir():
                return candidate
        if self.download:
            download_file(self.url, self.sha256, self.path, extract=True)
            if (self.path / "aclImdb" / "train").is_dir():
                return self.path / "aclImdb"
            raise FileNotFoundError(
                f"{self.path / 'aclImdb'}: not found after extracting {self.url}"
            )
        check_data_folder(self.path, "aclImdb/")
        raise FileNotFoundError(
            f"{self.path / 'aclImdb'}: not found; expected aclImdb/train/{{pos,neg}} and "
            f"aclImdb/test/{{pos,neg}} in {self.path} (extract aclImdb_v1.tar.gz there, or set "
            f"data.download=true to fetch {self.url})"
        )

    def source_files(self) -> list[Path]:
        """The four review folders (``{train,test}/{neg,pos}``): a review added or removed
        changes a folder's identity; the reviews themselves are keyed by
        :meth:`preparation_settings`, which is much cheaper than one identity per file."""
        root = self.root()
        return [root / split / folder for split in ("train", "test") for folder in LABEL_FOLDERS]

    def preparation_settings(self) -> dict[str, Any]:
        """Every setting but where the reviews may be downloaded from (it changes none), and
        a digest of every review file's name, size, modification and change time (ns): an
        edited review gives another key, like an edited file of any other dataset."""
        settings = super().preparation_settings()
        for name in ("download", "url", "sha256"):
            settings.pop(name, None)
        settings["reviews"] = self._reviews_digest()
        return settings

    def _reviews_digest(self) -> str:
        digest = hashlib.sha256()
        for folder in self.source_files():
            if not folder.is_dir():
                raise FileNotFoundError(
                    f"{folder}: not found; expected the IMDB layout "
                    "aclImdb/{train,test}/{pos,neg}/*.txt"
                )
            with os.scandir(folder) as entries:
                reviews = sorted(
                    (entry.name, entry.stat())
                    for entry in entries
                    if entry.name.endswith(".txt") and entry.is_file()
                )
            digest.update(f"{folder}\n".encode())
            for name, stat in reviews:
                line = f"{name} {stat.st_size} {stat.st_mtime_ns} {stat.st_ctime_ns}\n"
                digest.update(line.encode())
        return digest.hexdigest()

    def listing(self, folder: str) -> list[tuple[Path, str]]:
        """``(review file, label)`` of ``<root>/<folder>/{neg,pos}/*.txt``, in file-name order
        (neg first)."""
        base = self.root() / folder
        files = []
        for label_folder, label in LABEL_FOLDERS.items():
            if not (base / label_folder).is_dir():
                raise FileNotFoundError(
                    f"{base / label_folder}: not found; expected the IMDB layout "
                    "aclImdb/{train,test}/{pos,neg}/*.txt"
                )
            files.extend((file, label) for file in sorted((base / label_folder).glob("*.txt")))
        return files

    def load_split(self, split: str) -> Iterator[dict[str, Any]]:
        """The reviews of ``split``, read file by file.

        The validation split is carved from the list of training files (``val_ratio`` of each
        label): the reviews :func:`~rnnkit.data.io.reading.split_off` carves when no file is
        bad, found without reading them first.
        """
        if split not in SPLITS:
            raise ValueError(f"split: expected one of {list(SPLITS)}, got {split!r}")
        if split == "test":
            return self.read_folder(self.root() / "test", self.listing("test"))
        files = self.listing("train")
        if self._carved_mask is None:
            labels = (label for _, label in files)
            self._carved_mask = carved_mask(labels, self.val_ratio, self.split_seed)
        if len(self._carved_mask) != len(files):
            raise ValueError(
                f"{self.root() / 'train'}: the review files changed while being read "
                f"({len(self._carved_mask)} then {len(files)}); prepare again"
            )
        selected = self._carved_mask if split == "val" else ~self._carved_mask
        return self.read_folder(self.root() / "train", list(compress(files, selected.tolist())))

    def read_folder(
        self, folder: Path, files: list[tuple[Path, str]] | None = None
    ) -> Iterator[dict[str, Any]]:
        """The reviews of ``files`` (default: all of ``folder/neg`` and ``folder/pos``, see
        :meth:`listing`), bad ones reported to one policy for ``folder``."""
        if files is None:
            files = self.listing(folder.name)
        policy = BadLinePolicy(folder, self.on_bad_line)
        found = 0
        for file, label in files:
            text = self._read_review(file, policy)
            if text is not None:
                found += 1
                yield {"text": text, "label": label, "source": str(file)}
        summary = policy.summary()
        if summary not in self._warned:  # a folder read again warns once
            self._warned.add(summary)
            policy.finish()
        if not found:
            skipped = f" ({len(policy.skipped)} bad files skipped)" if policy.skipped else ""
            raise ValueError(f"{folder}: expected reviews in pos/ and neg/, found none{skipped}")

    def _read_review(self, file: Path, policy: BadLinePolicy) -> str | None:
        """The cleaned review, or None when it is bad (reported to ``policy``)."""
        lines = BadLinePolicy(file, "skip")  # a bad line spoils the whole review
        text = clean_review(" ".join(line for _, line in read_lines(file, lines)))
        if lines.skipped:
            where, problem = lines.skipped[0]
            policy.report(problem, path=where)
            return None
        if not text:  # clean_review left no character, so no token
            policy.report("empty review; expected the text of a review", 1, file)
            return None
        return text

    def parse_raw(self, raw: str) -> list[dict[str, Any]]:
        """A review, or a text file with one review per line (``<br />`` tags are removed)."""
        return [{**e, "text": clean_review(e["text"])} for e in super().parse_raw(raw)]
