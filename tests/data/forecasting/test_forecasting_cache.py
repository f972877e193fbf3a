"""Forecasting data prepared once: the CSV series cached as flat arrays, read without the file,
rebuilt when the file or a setting changes, batches equal to the in-memory ones; the table is
read in chunks with the same result whatever their size."""

from __future__ import annotations

import functools
import math
import subprocess
import warnings
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import torch

from rnnkit.data.forecasting import csv_series
from rnnkit.data.forecasting.builtin import BuiltinForecastingDataModule, load
from rnnkit.data.forecasting.csv_series import CSVSeriesDataModule
from rnnkit.data.io.csv_chunks import read_csv_chunks
from rnnkit.data.io.prepared_cache import MappedSplit
from rnnkit.data.io.reading import BadLineWarning

COLUMNS = ["HUFL", "OT", "LULL"]
START = datetime(2016, 7, 1)
ROWS = 700
PIECE_ROWS = 32  # several pieces per split


@pytest.fixture(autouse=True)
def _small_pieces(monkeypatch):
    """Series handed out in pieces of 32 rows, read from the table 64 rows at a time."""
    monkeypatch.setattr(csv_series, "PIECE_ROWS", PIECE_ROWS)
    monkeypatch.setattr(csv_series, "TABLE_READ_ROWS", 2 * PIECE_ROWS)


def date_of(row: int) -> str:
    return (START + timedelta(hours=row)).strftime("%Y-%m-%d %H:%M:%S")


def value_of(row: int, column: int, shift: float = 0.0) -> float:
    return (column + 1) * (2 + math.sin(row / 5)) + 0.01 * row + shift


def write_series(path: Path, rows: int = ROWS, shift: float = 0.0, bad: dict | None = None):
    """An ETT-like file; ``bad`` maps data rows to the line that replaces theirs."""
    lines = ["date," + ",".join(COLUMNS)]
    for r in range(rows):
        line = ",".join([date_of(r)] + [repr(value_of(r, c, shift)) for c in range(len(COLUMNS))])
        lines.append((bad or {}).get(r, line))
    path.write_text("\n".join(lines) + "\n")
    return path


def module(path: Path, cache_dir: Path | None, **options) -> CSVSeriesDataModule:
    options = {"input_length": 24, "horizon": 6, "batch_size": 16, **options}
    return CSVSeriesDataModule(path=str(path), cache_dir=cache_dir, prepare_workers=1, **options)


def all_batches(dm, split: str) -> list[dict]:
    loader = {"train": dm.train_dataloader, "val": dm.val_dataloader, "test": dm.test_dataloader}
    return list(loader[split]())


def assert_same_batches(first: list[dict], second: list[dict]) -> None:
    assert len(first) == len(second)
    for a, b in zip(first, second):
        assert a.keys() == b.keys()
        for key in a:
            if isinstance(a[key], torch.Tensor):
                expected = torch.float32 if a[key].is_floating_point() else torch.int64
                assert a[key].dtype == b[key].dtype == expected  # values, or window_dates
                torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)
            else:
                assert a[key] == b[key]


class ReadCounter:
    """Counts how often the CSV file is read (read_csv_chunks calls)."""

    def __init__(self, monkeypatch) -> None:
        self.calls = 0
        monkeypatch.setattr(csv_series, "read_csv_chunks", self)

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return read_csv_chunks(*args, **kwargs)


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"time_features": True, "target_columns": ["OT"], "stride": 3},
        {"split": "rows", "split_rows": [[10, 400], [420, 560], [560, 690]], "stride": 2},
    ],
    ids=["multivariate", "calendar", "rows"],
)
def test_cached_batches_equal_the_in_memory_batches(tmp_path, options):
    path = write_series(tmp_path / "series.csv")
    in_memory = module(path, None, **options)
    in_memory.setup()
    cached = module(path, tmp_path / "prepared", **options)
    cached.setup()
    assert all(isinstance(d.split, MappedSplit) for d in cached.datasets.values())
    assert cached.spec == in_memory.spec and cached.mean == in_memory.mean
    for split in ("train", "val", "test"):
        assert len(cached.datasets[split]) == len(in_memory.datasets[split])
        assert_same_batches(all_batches(cached, split), all_batches(in_memory, split))
    again = module(path, tmp_path / "prepared", **options)
    again.setup()
    assert_same_batches(all_batches(again, "val"), all_batches(in_memory, "val"))


def test_windows_across_pieces_are_the_rows_of_the_file(tmp_path):
    """Every val window, brute force from the written values: no window is lost or cut at the
    borders of the pieces the series is handed out in."""
    path = write_series(tmp_path / "series.csv")
    borders = [[0, 490], [490, 560], [560, 700]]
    dm = module(path, tmp_path / "prepared", split="rows", split_rows=borders)
    dm.setup()
    values = np.array([[value_of(r, c) for c in range(len(COLUMNS))] for r in range(ROWS)])
    scaled = ((values - np.array(dm.mean)) / np.array(dm.std)).astype(np.float32)
    start = 490 - 24  # val rows [490, 560), history from 24 rows before
    windows = dm.datasets["val"]
    assert len(windows) == 70 - 6 + 1 and PIECE_ROWS < 70 + 24
    for k in range(len(windows)):
        window = windows[k]
        np.testing.assert_array_equal(window["history"], scaled[start + k : start + k + 24])
        np.testing.assert_array_equal(window["target"], scaled[start + k + 24 : start + k + 30])
        assert window["horizon_dates"] == [
            date_of(r) for r in range(start + k + 24, start + k + 30)
        ]
        assert window["source"] == f"{path} rows 466-560 step {k}"


def test_a_second_setup_reads_the_cache_and_not_the_file(tmp_path, monkeypatch):
    path = write_series(tmp_path / "series.csv")
    reads = ReadCounter(monkeypatch)
    first = module(path, tmp_path / "prepared")
    first.setup()
    assert reads.calls == 1  # one reading for the fit and all three splits
    second = module(path, tmp_path / "prepared")
    second.setup()
    assert reads.calls == 1
    assert second.mean == first.mean and second.spec == first.spec
    assert second.summary()["split_rows"] == first.summary()["split_rows"]
    assert second.summary()["train_steps"] == 489  # int(700 * 0.7): 0.7 * 700 < 490
    # The windows are cut (and shuffled) when read: another horizon, stride or seed reuses the
    # prepared series.
    other = module(path, tmp_path / "prepared", horizon=12, stride=5, seed=7)
    other.setup()
    assert reads.calls == 1
    assert len(other.datasets["train"]) == len(range(0, 489 - 36 + 1, 5))
    assert not list((tmp_path / "prepared").glob(".series-table-*"))  # the table is gone


@pytest.mark.parametrize(
    "change",
    [{"input_length": 12}, {"target_columns": ["OT"]}, {"time_features": ["hour"]}],
    ids=["input_length", "target_columns", "time_features"],
)
def test_a_changed_setting_prepares_again(tmp_path, monkeypatch, change):
    path = write_series(tmp_path / "series.csv")
    reads = ReadCounter(monkeypatch)
    module(path, tmp_path / "prepared").setup()
    changed = module(path, tmp_path / "prepared", **change)
    changed.setup()
    assert reads.calls == 2
    in_memory = module(path, None, **change)
    in_memory.setup()
    assert_same_batches(all_batches(changed, "test"), all_batches(in_memory, "test"))


def test_a_changed_file_or_rebuild_cache_prepares_again(tmp_path, monkeypatch):
    path = write_series(tmp_path / "series.csv")
    reads = ReadCounter(monkeypatch)
    first = module(path, tmp_path / "prepared")
    first.setup()
    write_series(path, shift=5.0)
    changed = module(path, tmp_path / "prepared")
    changed.setup()
    assert reads.calls == 2
    np.testing.assert_allclose(np.array(changed.mean) - np.array(first.mean), 5.0)
    rebuilt = module(path, tmp_path / "prepared", rebuild_cache=True)
    rebuilt.setup()
    assert reads.calls == 3 and rebuilt.mean == changed.mean


def test_prepare_data_then_setup_reads_the_file_once(tmp_path, monkeypatch):
    """Lightning's order (prepare_data on one process, then setup)."""
    path = write_series(tmp_path / "series.csv")
    reads = ReadCounter(monkeypatch)
    dm = module(path, tmp_path / "prepared")
    dm.prepare_data()
    dm.setup()
    assert reads.calls == 1 and len(dm.datasets["train"]) == 489 - 30 + 1


def test_cached_windows_go_through_loader_workers(tmp_path):
    path = write_series(tmp_path / "series.csv")
    dm = module(path, tmp_path / "prepared")
    dm.setup()
    single = all_batches(dm, "val")
    dm.num_workers = 1
    assert_same_batches(all_batches(dm, "val"), single)


@pytest.mark.parametrize("on_bad_line", ["error", "skip"])
def test_the_table_is_the_same_whatever_the_chunks(tmp_path, monkeypatch, on_bad_line):
    """Tiny blocks mix chunks taken by column and chunks read row by row (a bad row, a gap
    in the dates, quoting): the rows kept, their numbers and the errors are the same."""
    bad = {}
    if on_bad_line == "skip":
        bad = {
            100: date_of(100) + ",1,nan,1",
            101: "",
            250: date_of(200) + ",1,1,1",
            300: f'"{date_of(300)}",1,2,3',
            400: date_of(400) + ",1,2",
        }
    path = write_series(tmp_path / "series.csv", bad=bad)

    def read(block_bytes):
        monkeypatch.setattr(
            csv_series,
            "read_csv_chunks",
            functools.partial(read_csv_chunks, block_bytes=block_bytes),
        )
        dm = module(path, None, on_bad_line=on_bad_line)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", BadLineWarning)
            table = dm.table()
        result = (
            np.array(table.dates),
            np.array(table.values),
            np.array(table.rows),
            table.total_rows,
            table.date_strings(0, 3),
            [str(w.message) for w in caught],
        )
        dm.close_table()
        return result

    whole, tiny = read(1 << 20), read(700)
    for a, b in zip(whole, tiny):
        np.testing.assert_array_equal(a, b)
    assert whole[3] == ROWS and whole[4] == [date_of(r) for r in range(3)]
    assert len(whole[0]) == ROWS - len(bad) + (1 if bad else 0)  # the quoted row is fine


def test_builtin_data_stays_in_memory_with_a_cache_dir(tmp_path):
    dm = BuiltinForecastingDataModule(cache_dir=tmp_path / "prepared", input_length=104, horizon=26)
    dm.setup()
    assert not (tmp_path / "prepared").exists()
    batch = next(iter(dm.val_dataloader()))
    assert batch["history"].shape == (32, 104, 3) and batch["future_covariates"].shape == (
        32,
        26,
        2,
    )
    dates = load("val")[0]["dates"]
    assert batch["horizon_dates"][1] == dates[105:131]  # weekly dates, written as they were


def test_a_table_left_by_a_killed_preparation_is_removed(tmp_path):
    dead = subprocess.Popen(["true"])  # noqa: S607
    dead.wait()
    stale = tmp_path / "prepared" / f".series-table-{dead.pid}-abc"
    stale.mkdir(parents=True)
    (stale / "values.bin").write_bytes(b"0" * 64)
    dm = module(write_series(tmp_path / "series.csv"), tmp_path / "prepared")
    dm.setup()
    assert not stale.exists()
    assert not list((tmp_path / "prepared").glob(".series-table-*"))
