"""IMDB Large Movie Review Dataset (aclImdb v1): one review per ``.txt`` file, label by folder."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from rnnkit.data.datamodule import SPLITS
from rnnkit.data.io.download import check_download
from rnnkit.data.io.download import download as download_file
from rnnkit.data.io.reading import (
    BadLinePolicy,
    check_fraction,
    check_on_bad_line,
    read_lines,
    split_off,
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
    (``"Great film!"`` → ``great film !`` when lower-cased), optionally cut to ``max_tokens``.
    A review file that is empty or not valid UTF-8 is an error naming the file and line
    (``on_bad_line="error"``), or is skipped with one warning per split folder (``"skip"``).

    Args:
        path: the folder holding ``aclImdb/`` (or the ``aclImdb`` folder itself).
        val_ratio, split_seed: the carved validation split.
        max_tokens: keep the first ``max_tokens`` tokens of each review (None: all; reviews
            run to about 2,500 tokens, the median is about 230).
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
        max_tokens: int | None = None,
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
        if max_tokens is not None and (
            isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1
        ):
            raise ValueError(f"max_tokens: expected a positive integer or null, got {max_tokens!r}")
        self.max_tokens = max_tokens
        self.on_bad_line = check_on_bad_line(on_bad_line)
        self.download = check_download(download, url)
        self.url, self.sha256 = url, sha256
        self._carved: tuple[list[dict[str, Any]], list[dict[str, Any]]] | None = None

    def tokenize(self, text: str) -> list[str]:
        tokens = TOKEN.findall(text.lower() if self.lowercase else text)
        return tokens[: self.max_tokens] if self.max_tokens else tokens

    # ---- files -------------------------------------------------------------------------

    def root(self) -> Path:
        """The ``aclImdb`` folder (downloaded first when missing and ``download`` is set)."""
        for candidate in (self.path / "aclImdb", self.path):
            if (candidate / "train").is_dir() and (candidate / "test").is_dir():
                return candidate
        if self.download:
            download_file(self.url, self.sha256, self.path, extract=True)
            if (self.path / "aclImdb" / "train").is_dir():
                return self.path / "aclImdb"
            raise FileNotFoundError(
                f"{self.path / 'aclImdb'}: not found after extracting {self.url}"
            )
        raise FileNotFoundError(
            f"{self.path / 'aclImdb'}: not found; expected aclImdb/train/{{pos,neg}} and "
            f"aclImdb/test/{{pos,neg}} in {self.path} (extract aclImdb_v1.tar.gz there, or set "
            f"data.download=true to fetch {self.url})"
        )

    def load_split(self, split: str) -> list[dict[str, Any]]:
        if split not in SPLITS:
            raise ValueError(f"split: expected one of {list(SPLITS)}, got {split!r}")
        if split == "test":
            return self.read_folder(self.root() / "test")
        if self._carved is None:
            self._carved = split_off(
                self.read_folder(self.root() / "train"),
                self.val_ratio,
                self.split_seed,
                lambda e: e["label"],
            )
        return self._carved[0] if split == "train" else self._carved[1]

    def read_folder(self, folder: Path) -> list[dict[str, Any]]:
        """The reviews of ``folder/neg`` and ``folder/pos``, in file-name order."""
        examples = []
        with BadLinePolicy(folder, self.on_bad_line) as policy:
            for label_folder, label in LABEL_FOLDERS.items():
                if not (folder / label_folder).is_dir():
                    raise FileNotFoundError(
                        f"{folder / label_folder}: not found; expected the IMDB layout "
                        "aclImdb/{train,test}/{pos,neg}/*.txt"
                    )
                for file in sorted((folder / label_folder).glob("*.txt")):
                    text = self._read_review(file, policy)
                    if text is not None:
                        examples.append({"text": text, "label": label, "source": str(file)})
        if not examples:
            skipped = f" ({len(policy.skipped)} bad files skipped)" if policy.skipped else ""
            raise ValueError(f"{folder}: expected reviews in pos/ and neg/, found none{skipped}")
        return examples

    def _read_review(self, file: Path, policy: BadLinePolicy) -> str | None:
        """The cleaned review, or None when it is bad (reported to ``policy``)."""
        lines = BadLinePolicy(file, "skip")  # a bad line spoils the whole review
        text = clean_review(" ".join(line for _, line in read_lines(file, lines)))
        if lines.skipped:
            where, problem = lines.skipped[0]
            policy.report(problem, path=where)
            return None
        if not self.tokenize(text):
            policy.report("empty review; expected the text of a review", 1, file)
            return None
        return text

    def parse_raw(self, raw: str) -> list[dict[str, Any]]:
        """A review, or a text file with one review per line (``<br />`` tags are removed)."""
        return [{**e, "text": clean_review(e["text"])} for e in super().parse_raw(raw)]
