"""SST-2 (GLUE's binary Stanford Sentiment Treebank): ``sentence<TAB>label`` TSV files."""

from __future__ import annotations

from typing import Any

from rnnkit.data.sentiment.text_table import TextTableDataModule

GLUE_SST2_URL = "https://dl.fbaipublicfiles.com/glue/data/SST-2.zip"
GLUE_SST2_SHA256 = "d67e16fb55739c1b32cdce9877596db1c127dc322d93c082281f64057c16deaa"
"""sha256 of GLUE's ``SST-2.zip`` (7,439,277 bytes), as published by TensorFlow Datasets'
``glue/sst2`` download checksums and Transformers.jl's ``GLUE-SST`` data dependency. The
archive holds ``SST-2/{train,dev,test}.tsv``; its ``test.tsv`` has no labels."""

SST2_LABELS = {"0": "negative", "1": "positive"}


class SST2DataModule(TextTableDataModule):
    """GLUE SST-2: ``train.tsv`` (67,349 rows) → train, ``dev.tsv`` (872) → val,
    ``test_labeled.tsv`` (1,821) → test.

    The files have a ``sentence<TAB>label`` header; sentences are lower-cased, PTB-tokenised
    phrases, and in train/dev every sentence ends in a space before the tab (stripped here).
    Labels ``0``/``1`` are named ``negative``/``positive``.

    GLUE withholds the test labels: its ``test.tsv`` is ``index<TAB>sentence`` and is refused as
    a test split (a clear error), but it is accepted as prediction input
    (``rnnkit-predict input=.../test.tsv``). ``test_labeled.tsv`` is the GLUE test text with the
    labels of the original SST release (see ``shared/data/SOURCES.md``); it is not in GLUE's
    archive, so with ``download=true`` either provide it or set ``test_file=None`` (no test
    split).

    Args:
        path: the folder of the TSV files (or of the ``SST-2/`` folder the GLUE archive
            unpacks to).
        download: fetch GLUE's ``SST-2.zip`` into ``path`` (verified against ``sha256``) when a
            file is missing.
        **kwargs: :class:`TextTableDataModule`'s (``on_bad_line``, ``batch_size``,
            ``min_frequency``, ...).
    """

    archive_folder = "SST-2"
    header_hint = (
        " (GLUE's test.tsv has only index and sentence columns, its labels are withheld; "
        "the labelled SST-2 test split is test_labeled.tsv)"
    )
    missing_hint = (
        " GLUE's SST-2.zip holds train.tsv, dev.tsv and an unlabelled test.tsv: for a test "
        "split, get test_labeled.tsv (see shared/data/SOURCES.md) or set data.test_file=null."
    )

    def __init__(
        self,
        path: str,
        train_file: str = "train.tsv",
        val_file: str | None = "dev.tsv",
        test_file: str | None = "test_labeled.tsv",
        download: bool = False,
        url: str = GLUE_SST2_URL,
        sha256: str | None = GLUE_SST2_SHA256,
        **kwargs: Any,
    ) -> None:
        for fixed in ("format", "text_column", "label_column", "has_header", "label_names"):
            if fixed in kwargs:
                raise ValueError(
                    f"{fixed}: SST-2's layout is fixed (sentence<TAB>label, header, labels "
                    f"0/1); use TextTableDataModule for other tables, got {kwargs[fixed]!r}"
                )
        super().__init__(
            train_file=train_file,
            val_file=val_file,
            test_file=test_file,
            path=path,
            format="tsv",
            text_column="sentence",
            label_column="label",
            has_header=True,
            label_names=SST2_LABELS,
            download=download,
            url=url,
            sha256=sha256,
            **kwargs,
        )
