"""Tatoeba / Anki (manythings.org) sentence-pair files: ``English<TAB>translation[<TAB>...]``."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from rnnkit.data.datamodule import SPLITS
from rnnkit.data.io.reading import BadLinePolicy, check_fraction, read_lines
from rnnkit.data.translation.parallel_text import TextPairDataModule


def split_by_source(
    pairs: list[dict[str, Any]], val_ratio: float, test_ratio: float, seed: int = 0
) -> dict[str, list[dict[str, Any]]]:
    """Deterministic train/val/test split keeping every source sentence in one split.

    The distinct source sentences (in order of first appearance) are shuffled with ``seed``;
    the first ``round(test_ratio * n)`` go to test, the next ``round(val_ratio * n)`` to val,
    the rest to train. All translations of one sentence thus land in the same split (Tatoeba
    has many sentences with several translations: splitting pairs at random would leak them
    into the test set). Pairs keep the file's order within each split. (The split of each
    source sentence is :func:`assign_sources`, which needs only their counts.)
    """
    split_of = assign_sources(
        Counter(pair["source"] for pair in pairs), val_ratio, test_ratio, seed
    )
    splits: dict[str, list[dict[str, Any]]] = {split: [] for split in SPLITS}
    for pair in pairs:
        splits[split_of.get(pair["source"], "train")].append(pair)
    return splits


def assign_sources(
    source_counts: Mapping[str, int], val_ratio: float, test_ratio: float, seed: int = 0
) -> dict[str, str]:
    """The split of each val and test source sentence (the others are train), as
    :func:`split_by_source` makes it, from the pairs per source sentence in order of first
    appearance (a :class:`~collections.Counter` of the file's source column)."""
    sources = list(source_counts)
    random.Random(seed).shuffle(sources)
    num_test = round(test_ratio * len(sources))
    num_val = round(val_ratio * len(sources))
    split_of = {s: "test" for s in sources[:num_test]}
    split_of.update({s: "val" for s in sources[num_test : num_test + num_val]})
    sizes = Counter({"train": sum(source_counts.values())})
    for source, split in split_of.items():
        sizes[split] += source_counts[source]
        sizes["train"] -= source_counts[source]
    empty = [split for split in SPLITS if not sizes[split]]
    if empty:
        raise ValueError(
            f"val_ratio: {len(sources)} distinct source sentences split by val_ratio={val_ratio} "
            f"and test_ratio={test_ratio} leave the {empty[0]} split empty; use more data or "
            "other ratios"
        )
    return split_of


class TatoebaDataModule(TextPairDataModule):
    """Sentence pairs from one tab-separated file, split into train/val/test by ratio.

    The Anki files of manythings.org (``deu.txt``: ``Go.<TAB>Geh.<TAB>CC-BY 2.0 (France)
    Attribution: tatoeba.org #2877272 (CM) & #8597805 (Roujin)``) and Tatoeba exports: the
    first column is the source sentence, the second its translation; further columns
    (attribution) are ignored. Blank lines at the end of the file are ignored.

    Bad lines, reported by file and line (``on_bad_line``: error, or skip the pair): fewer than
    two tab-separated columns, an empty sentence, bytes that are not UTF-8, a blank line
    followed by more pairs.

    Args:
        path: the pair file (``data.path``, as every file-backed dataset; ``data.file`` before
            2026-12, now refused with that hint).
        reverse: translate from the second column to the first (``deu.txt`` is English then
            German: ``reverse=true`` gives German -> English).
        val_ratio, test_ratio, split_seed: the deterministic split
            (:func:`split_by_source`: a source sentence never appears in two splits).
        **kwargs: :class:`~rnnkit.data.translation.parallel_text.TextPairDataModule`'s (tokenizers,
            ``on_bad_line``) and :class:`~.datamodule.TranslationDataModule`'s
            (``lowercase``, ``min_frequency``...).

    Raw examples: ``{"source": str, "target": str, "where": "<file>, line <n>"}``.
    """

    def __init__(
        self,
        path: str,
        reverse: bool = False,
        val_ratio: float = 0.1,
        test_ratio: float = 0.1,
        split_seed: int = 0,
        **kwargs: Any,
    ) -> None:
        if "file" in kwargs:
            raise ValueError(
                f"file: renamed; the pair file is data.path, as for every file-backed dataset "
                f"(use data.path={kwargs['file']})"
            )
        super().__init__(**kwargs)
        if not isinstance(path, (str, Path)) or not str(path):
            raise ValueError(f"path: expected the path of a tab-separated pair file, got {path!r}")
        if not isinstance(reverse, bool):
            raise ValueError(f"reverse: expected true or false, got {reverse!r}")
        self.val_ratio = check_fraction(val_ratio, "val_ratio")
        self.test_ratio = check_fraction(test_ratio, "test_ratio")
        if val_ratio + test_ratio >= 1:
            raise ValueError(
                f"test_ratio: val_ratio + test_ratio must leave pairs to train on (< 1), got "
                f"{val_ratio} + {test_ratio}"
            )
        self.file = Path(str(path)).expanduser()
        self.reverse = reverse
        self.split_seed = split_seed
        self._split_of: dict[str, str] | None = None

    def source_files(self) -> list[Path]:
        self._check_file()
        return [self.file]

    def _check_file(self) -> None:
        if self.file.is_dir():
            raise FileNotFoundError(
                f"{self.file}: a folder; point data.path at the pair file in it (e.g. "
                f"data.path={self.file / 'deu.txt'})"
            )
        if not self.file.is_file():
            raise FileNotFoundError(
                f"{self.file}: not found; put the pair file there (e.g. deu.txt from "
                "manythings.org/anki) or point data.path at it"
            )

    def read_pairs(self) -> Iterator[dict[str, Any]]:
        """Every pair of the file, in order (source and target per ``reverse``), streamed."""
        self._check_file()
        empty, blank = True, None
        with BadLinePolicy(self.file, self.on_bad_line) as policy:
            for number, text in read_lines(self.file, policy):
                if not text.strip():
                    blank = blank or number
                    continue
                if blank is not None:
                    policy.report("blank line (expected source<TAB>target on every line)", blank)
                    blank = None
                columns = text.split("\t")
                if len(columns) < 2:
                    policy.report(
                        f"expected at least 2 tab-separated columns (source<TAB>target), found "
                        f"{len(columns)}: {text[:60]!r}",
                        number,
                    )
                    continue
                first, second = columns[0].strip(), columns[1].strip()
                if not first or not second:
                    policy.report(f"empty sentence in column {1 if not first else 2}", number)
                    continue
                source, target = (second, first) if self.reverse else (first, second)
                empty = False
                yield {"source": source, "target": target, "where": f"{self.file}, line {number}"}
        if empty:
            raise ValueError(f"{self.file}: expected sentence pairs, found none")

    def _assignment(self) -> dict[str, str]:
        """The val/test split of each source sentence (:func:`assign_sources`), from one pass
        over the file that counts the pairs of each distinct source sentence."""
        if self._split_of is None:
            counts = Counter(pair["source"] for pair in self.read_pairs())
            self._split_of = assign_sources(
                counts, self.val_ratio, self.test_ratio, self.split_seed
            )
        return self._split_of

    def load_split(self, split: str) -> Iterator[dict[str, Any]]:
        """The split's pairs, streamed from the file (a generator)."""
        if split not in SPLITS:
            raise ValueError(f"split: expected one of {list(SPLITS)}, got {split!r}")
        split_of = self._assignment()
        pairs = self.read_pairs()
        return (pair for pair in pairs if split_of.get(pair["source"], "train") == split)
