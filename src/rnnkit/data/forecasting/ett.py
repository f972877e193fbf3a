"""ETT (Electricity Transformer Temperature, "ETT-small"): the Informer benchmark's CSV files.

Four files, two transformers at two resolutions: ``ETTh1.csv``/``ETTh2.csv`` hourly (17,420
rows), ``ETTm1.csv``/``ETTm2.csv`` every 15 minutes (69,680 rows), from 2016-07-01 00:00 to
2018-06-26. Columns ``date,HUFL,HULL,MUFL,MULL,LUFL,LULL,OT``: six load series and the oil
temperature ``OT``, the usual univariate target.
"""

from __future__ import annotations

from typing import Any

from rnnkit.data.forecasting.csv_series import CSVSeriesDataModule

ETT_NAMES = ("ETTh1", "ETTh2", "ETTm1", "ETTm2")
ETT_COLUMNS = ("HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL", "OT")
ETT_URL = "https://raw.githubusercontent.com/zhouhaoyi/ETDataset/main/ETT-small/{name}.csv"
"""The canonical copy (``zhouhaoyi/ETDataset``, CC BY-ND 4.0); ``{name}`` is the file's name."""
ETT_SHA256: dict[str, str | None] = {
    "ETTh1": "f18de3ad269cef59bb07b5438d79bb3042d3be49bdeecf01c1cd6d29695ee066",
    "ETTm1": "6ce1759b1a18e3328421d5d75fadcb316c449fcd7cec32820c8dafda71986c9e",
    "ETTh2": None,
    "ETTm2": None,
}
"""sha256 of the canonical files: ETTh1 (md5 8381763947c85f4be6ac456c508460d6) and ETTm1 (md5
82d6bd89109c63d075d99c1077b33f38, git blob 62c9f979e2dc5b05d9cc5b38891e60e6baf77417 as listed
in ``zhouhaoyi/ETDataset``) were computed from byte-identical copies (see
``shared/data/SOURCES.md``). ETTh2 and ETTm2 have not been checked here: they are not
downloaded until a checksum is passed (``data.sha256=...``)."""

MONTH_ROWS = 30 * 24
"""Rows of a 30-day month in the hourly files (the 15-minute files have 4 times as many)."""
STANDARD_MONTHS = ((0, 12), (12, 16), (16, 20))
"""The Informer/Autoformer split: 12 months train, 4 val, 4 test; months 20-24 unused."""


def rows_per_hour(name: str) -> int:
    """1 for the hourly files (``ETTh*``), 4 for the 15-minute ones (``ETTm*``)."""
    return 4 if name.startswith("ETTm") else 1


def standard_rows(name: str) -> list[tuple[int, int]]:
    """``[start, end)`` data rows of train, val and test in the standard 12/4/4-month split:
    ``[(0, 8640), (8640, 11520), (11520, 14400)]`` hourly, 4 times those every 15 minutes."""
    step = MONTH_ROWS * rows_per_hour(name)
    return [(start * step, end * step) for start, end in STANDARD_MONTHS]


ETT_FIXED = (
    "file",
    "date_column",
    "date_format",
    "date_columns",
    "frequency",
    "categorical_columns",
    "exclude_columns",
)
"""CSVSeriesDataModule arguments the ETT layout fixes (refused when given)."""


class ETTDataModule(CSVSeriesDataModule):
    """One ETT file, ``<path>/<name>.csv``, in the protocol of Informer (Zhou et al., 2021) and
    its successors (Autoformer, DLinear, ...).

    ``split="standard"`` (the default) takes 12/4/4 months: rows ``[0, 8640)`` /
    ``[8640, 11520)`` / ``[11520, 14400)`` of the hourly files, 4 times those of the 15-minute
    ones; as in the Informer code the val and test series begin ``input_length`` rows earlier
    (see :class:`~.csv_series.CSVSeriesDataModule`), and the scaler is fitted on the
    train rows. ``split="ratio"`` (``split_ratios``) and ``"rows"`` (``split_rows``) work as
    there.

    By default all seven columns are features and targets (the multivariate "M" setting of the
    published MSE/MAE tables); ``target_columns=[OT]`` forecasts the oil temperature from all
    seven ("MS"), and with ``feature_columns=[OT]`` from itself alone ("S"). The papers report
    MSE and MAE on the normalised scale (``test/mse``); ``test/mse_original`` is in the data's
    units.

    Args:
        path: the folder of the ETT files.
        name: ``ETTh1``, ``ETTh2``, ``ETTm1`` or ``ETTm2``.
        split: ``"standard"``, ``"ratio"`` or ``"rows"``.
        download: fetch ``<name>.csv`` from ``url`` into ``path`` when it is missing.
        url: None: the canonical copy, :data:`ETT_URL`.
        sha256: None: the known checksum of ``name`` (:data:`ETT_SHA256`; ETTh2 and ETTm2 have
            none, so their download needs one given here).
        **kwargs: :class:`~.csv_series.CSVSeriesDataModule`'s (``target_columns``,
            ``feature_columns``, ``time_features``, ``split_ratios``, ``split_rows``,
            ``on_bad_line``, ``input_length``, ``horizon``, ``batch_size``, ...).
    """

    split_modes = ("standard", "ratio", "rows")

    def __init__(
        self,
        path: str,
        name: str = "ETTh1",
        split: str = "standard",
        split_rows: list[list[int]] | None = None,
        download: bool = False,
        url: str | None = None,
        sha256: str | None = None,
        **kwargs: Any,
    ) -> None:
        if name not in ETT_NAMES:
            raise ValueError(f"name: expected one of {list(ETT_NAMES)}, got {name!r}")
        for fixed in ETT_FIXED:
            if fixed in kwargs:
                raise ValueError(
                    f"{fixed}: the ETT layout is fixed (<path>/<name>.csv, hourly or 15-minute "
                    "ISO dates in 'date', seven numeric columns); "
                    f"use CSVSeriesDataModule (data=csv_series) for other files, got "
                    f"{kwargs[fixed]!r}"
                )
        if split == "standard" and split_rows is not None:
            raise ValueError(
                "split_rows: only used with split=rows (split is 'standard', the fixed 12/4/4 "
                "months); set it to null or set split=rows"
            )
        self.name = name
        super().__init__(
            path=path,
            file=f"{name}.csv",
            date_column="date",
            split="rows" if split == "standard" else split,
            split_rows=standard_rows(name) if split == "standard" else split_rows,
            download=download,
            url=url or ETT_URL.format(name=name),
            sha256=sha256 if sha256 is not None else ETT_SHA256[name],
            **kwargs,
        )
        self.split = split

    def ensure_file(self) -> None:
        if not self.file.is_file() and self.download and self.sha256 is None:
            raise ValueError(
                f"sha256: rnnkit knows no verified checksum for {self.name}.csv (only ETTh1 "
                f"and ETTm1 were checked against the canonical files), and downloads only what "
                f"it can verify; pass data.sha256=<64 hex digits> for {self.url}, or put "
                f"{self.name}.csv in {self.path} by hand"
            )
        super().ensure_file()

    def borders(self, total_rows: int) -> dict[str, tuple[int, int]]:
        if self.split == "standard":
            needed = standard_rows(self.name)[-1][1]
            if total_rows < needed:
                raise ValueError(
                    f"split: the standard ETT split (12/4/4 months) needs {needed} data rows, "
                    f"but {self.file} has {total_rows}; expected the full {self.name}.csv or "
                    f"split=ratio"
                )
            return dict(zip(("train", "val", "test"), standard_rows(self.name)))
        return super().borders(total_rows)
