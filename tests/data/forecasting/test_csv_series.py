"""CSVSeriesDataModule: one dated CSV series (ETT layout), chronological splits, bad rows,
calendar features, download, prediction input."""

from __future__ import annotations

import hashlib
import json
import math
import re
import warnings
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from local_server import local_server
from rnnkit.data.forecasting import csv_series
from rnnkit.data.forecasting.csv_series import CSVSeriesDataModule, time_feature_values
from rnnkit.data.forecasting.dates import format_dates
from rnnkit.data.io.download import DownloadError
from rnnkit.data.io.reading import BadLineWarning

COLUMNS = ["HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL", "OT"]
START = datetime(2016, 7, 1)


def date_of(row: int) -> str:
    """The date of data row ``row`` (hourly, as ETTh1 writes it)."""
    return (START + timedelta(hours=row)).strftime("%Y-%m-%d %H:%M:%S")


def value_of(row: int, column: int) -> str:
    """A float32 printed at full precision, as the ETT files write them."""
    value = (column + 1) * (2 + math.sin(row / 5)) + 0.01 * row
    return repr(float(np.float32(value)))


def ett_lines(rows: int) -> list[str]:
    """Header and ``rows`` data rows in the ETT format; data row ``r`` is on line ``r + 2``."""
    return ["date," + ",".join(COLUMNS)] + [
        ",".join([date_of(r)] + [value_of(r, c) for c in range(len(COLUMNS))]) for r in range(rows)
    ]


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def table(rows: int) -> np.ndarray:
    """``(rows, 7)`` the values as written (float32 precision)."""
    return np.array([[float(value_of(r, c)) for c in range(len(COLUMNS))] for r in range(rows)])


def module(path: Path, **options) -> CSVSeriesDataModule:
    options = {"input_length": 8, "horizon": 4, "batch_size": 16, **options}
    return CSVSeriesDataModule(path=str(path), **options)


def series_of(dm: CSVSeriesDataModule, split: str) -> tuple[list[str], np.ndarray]:
    """The split's series with its pieces joined: ``(ISO dates, (T, F) values)``."""
    pieces = list(dm.load_split(split))
    assert [p["continues"] for p in pieces] == [False] + [True] * (len(pieces) - 1)
    assert all(len(p["values"]) <= csv_series.PIECE_ROWS for p in pieces)
    dates = np.concatenate([p["dates"] for p in pieces]).view(np.int64)
    return format_dates(dates, pieces[0]["date_style"]).tolist(), np.concatenate(
        [p["values"] for p in pieces]
    )


# ---- splits and windows ---------------------------------------------------------------------


def test_ratio_split_borders_window_counts_and_the_val_test_history_overlap(tmp_path):
    file = write(tmp_path / "series.csv", ett_lines(200))
    dm = module(file)  # 0.7 / 0.1 / 0.2: train int(140), test int(40), val the 20 between
    with warnings.catch_warnings():
        warnings.simplefilter("error", BadLineWarning)  # a clean file warns about nothing
        dm.setup()
    assert dm.borders(200) == {"train": (0, 140), "val": (140, 160), "test": (160, 200)}
    assert dm.segments() == {"train": (0, 140), "val": (132, 160), "test": (152, 200)}
    counts = {split: len(windows) for split, windows in dm.datasets.items()}
    assert counts == {"train": 140 - 8 - 4 + 1, "val": 20 - 4 + 1, "test": 40 - 4 + 1}
    train, val, test = (series_of(dm, s)[0] for s in ("train", "val", "test"))
    assert (train[0], train[-1], len(train)) == (date_of(0), date_of(139), 140)
    assert (val[0], val[-1]) == (date_of(132), date_of(159))
    assert (test[0], test[-1]) == (date_of(152), date_of(199))
    # The first val window's history is the last 8 train rows; its targets start at row 140.
    first = dm.datasets["val"][0]
    assert first["horizon_dates"] == [date_of(r) for r in range(140, 144)]
    expected = dm.scale(table(200)[132:140])
    np.testing.assert_allclose(first["history"], expected, rtol=1e-5, atol=1e-5)
    # Every val/test target lies inside its split.
    for split, (start, end) in {"val": (140, 160), "test": (160, 200)}.items():
        dates = {d for w in dm.datasets[split] for d in w["horizon_dates"]}
        assert dates == {date_of(r) for r in range(start, end)}
    assert dm.summary()["split_rows"] == (
        "train [0, 140), val [140, 160) (history from 132), test [160, 200) (history from 152)"
    )


def test_explicit_row_borders_leave_gaps_and_the_rest_unused(tmp_path):
    file = write(tmp_path / "series.csv", ett_lines(220))
    dm = module(file, split="rows", split_rows=[[10, 110], [120, 150], [150, 190]])
    dm.setup()
    assert dm.segments() == {"train": (10, 110), "val": (112, 150), "test": (142, 190)}
    counts = {split: len(windows) for split, windows in dm.datasets.items()}
    assert counts == {"train": 100 - 12 + 1, "val": 30 - 4 + 1, "test": 40 - 4 + 1}
    assert series_of(dm, "train")[0][0] == date_of(10)
    assert dm.datasets["test"][-1]["horizon_dates"][-1] == date_of(189)


def test_the_scaler_is_fitted_on_exactly_the_train_rows(tmp_path):
    file = write(tmp_path / "series.csv", ett_lines(200))
    dm = module(file)
    dm.setup()
    values = table(200)
    np.testing.assert_allclose(dm.mean, values[:140].mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(dm.std, values[:140].std(axis=0), rtol=1e-12)
    assert not np.allclose(dm.mean, values[:168].mean(axis=0))  # not the val history rows
    assert dm.spec["target_mean"] == dm.mean  # all 7 columns are targets by default


@pytest.mark.parametrize("stride", [1, 3])
def test_stride_spaces_the_window_starts(tmp_path, stride):
    file = write(tmp_path / "series.csv", ett_lines(200))
    dm = module(file, stride=stride)
    dm.setup()
    for split, length in {"train": 140, "val": 28, "test": 48}.items():
        assert len(dm.datasets[split]) == len(range(0, length - 12 + 1, stride))


def test_target_and_feature_columns_choose_the_setting(tmp_path):
    file = write(tmp_path / "series.csv", ett_lines(200))
    multivariate = module(file)
    multivariate.setup()
    assert multivariate.spec["num_features"] == multivariate.spec["num_targets"] == 7
    one_target = module(file, target_columns=["OT"])  # "MS": OT from all seven
    one_target.setup()
    assert (one_target.spec["num_features"], one_target.spec["target_indices"]) == (7, [6])
    batch = next(iter(one_target.train_dataloader()))
    assert batch["history"].shape == (16, 8, 7) and batch["target"].shape == (16, 4, 1)
    univariate = module(file, target_columns=["OT"], feature_columns=["OT"])  # "S"
    univariate.setup()
    assert univariate.spec["feature_names"] == ["OT"]
    assert univariate.mean == pytest.approx([table(200)[:140, 6].mean()])


def test_columns_that_are_not_read_may_hold_anything(tmp_path):
    lines = ett_lines(200)
    lines = [lines[0] + ",note"] + [line + ",n/a" for line in lines[1:]]
    dm = module(write(tmp_path / "series.csv", lines), feature_columns=["OT", "HUFL"])
    dm.setup()
    assert dm.spec["feature_names"] == ["OT", "HUFL"]


# ---- calendar features ----------------------------------------------------------------------


def test_time_features_are_known_future_covariates_never_targets(tmp_path):
    file = write(tmp_path / "series.csv", ett_lines(200))
    dm = module(file, time_features=True, target_columns=["OT"])
    dm.setup()
    names = [f"{k}_{w}" for k in ("hour", "weekday", "day_of_year") for w in ("sin", "cos")]
    assert dm.spec["feature_names"] == COLUMNS + names
    assert dm.known_future_names == names and dm.spec["num_covariates"] == 6
    batch = next(iter(dm.val_dataloader()))
    assert batch["future_covariates"].shape == (16, 4, 6)
    raw = series_of(dm, "val")[1]  # row 132 = 2016-07-06 12:00, a Wednesday
    np.testing.assert_allclose(raw[0, 7:9], [0.0, -1.0], atol=1e-12)  # noon
    np.testing.assert_allclose(
        raw[0, 9:11], [math.sin(2 * math.pi * 2 / 7), math.cos(2 * math.pi * 2 / 7)]
    )
    only_hours = module(file, time_features=["hour"])
    only_hours.setup()
    assert only_hours.known_future_names == ["hour_sin", "hour_cos"]
    with pytest.raises(ValueError, match="target_columns: \\['hour_sin'\\] are calendar"):
        module(file, time_features=True, target_columns=["hour_sin"])
    with pytest.raises(ValueError, match="time_features: expected"):
        module(file, time_features=["minute"])


def test_time_feature_phases():
    dates = [datetime(2016, 7, 1, 6), datetime(2016, 7, 1, 18, 30), datetime(2020, 12, 31)]
    values = time_feature_values(dates, ["hour", "day_of_year"])
    np.testing.assert_allclose(values[0, :2], [1.0, 0.0], atol=1e-12)  # 06:00: a quarter day
    assert values[1, 0] == pytest.approx(math.sin(2 * math.pi * 18.5 / 24))
    assert values[2, 2] == pytest.approx(math.sin(2 * math.pi * 365 / 366))  # a leap year


# ---- bad rows -------------------------------------------------------------------------------


def replace_cell(column: str, cell: str):
    def change(lines: list[str]) -> list[str]:
        fields = lines[7].split(",")
        fields[(["date"] + COLUMNS).index(column)] = cell
        return [*lines[:7], ",".join(fields), *lines[8:]]

    return change


def swap_rows(lines: list[str]) -> list[str]:
    return [*lines[:6], lines[7], lines[6], *lines[8:]]


def duplicate_date(lines: list[str]) -> list[str]:
    return [*lines[:7], lines[6].split(",")[0] + lines[7][19:], *lines[8:]]


BAD_ROWS = {
    # case: (change of the lines, line of the problem, expected message)
    "NaN cell": (replace_cell("HULL", "nan"), 8, "column 'HULL': missing value 'nan'; expected"),
    "NA cell": (replace_cell("HULL", "NA"), 8, "column 'HULL': missing value 'NA'; expected"),
    "empty cell": (replace_cell("LUFL", ""), 8, "column 'LUFL': empty cell \\(a missing value\\)"),
    "non-numeric cell": (
        replace_cell("OT", "n.a."),
        8,
        "column 'OT': expected a number, got 'n.a.' \\(a text column\\? name it in "
        "data.categorical_columns to one-hot encode it, or in data.exclude_columns",
    ),
    "infinite cell": (replace_cell("OT", "inf"), 8, "column 'OT': expected a finite number"),
    "bad date": (
        replace_cell("date", "07/01/2016 06:00"),
        8,
        "column 'date': expected an ISO date such as 2016-07-01 00:00:00 \\(as the first row; "
        "another layout: set data.date_format",
    ),
    "too few columns": (lambda ls: [*ls[:7], ls[7].rsplit(",", 1)[0], *ls[8:]], 8, "expected 8"),
    "blank line": (lambda ls: [*ls[:7], "", *ls[8:]], 8, "blank line"),
    "unsorted dates": (
        swap_rows,
        8,
        "column .date.: date not in increasing order: 2016-07-01 05:00:00 is not ",
    ),
    "duplicate date": (
        duplicate_date,
        8,
        "column .date.: duplicate date: 2016-07-01 05:00:00 is not after",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_ROWS))
def test_a_bad_row_is_an_error_naming_file_line_and_column(tmp_path, case):
    change, line, expected = BAD_ROWS[case]
    file = write(tmp_path / "series.csv", change(ett_lines(200)))
    with pytest.raises(ValueError, match=f"^{re.escape(str(file))}, line {line}: {expected}"):
        module(file).setup()


@pytest.mark.parametrize("case", sorted(BAD_ROWS))
def test_skip_drops_a_bad_row_with_a_counted_warning(tmp_path, case):
    change, line, expected = BAD_ROWS[case]
    file = write(tmp_path / "series.csv", change(ett_lines(200)))
    dm = module(file, on_bad_line="skip")
    with pytest.warns(BadLineWarning, match=f"skipped 1 bad line in .*series.csv .*line {line}"):
        dm.setup()
    counts = {split: len(windows) for split, windows in dm.datasets.items()}
    assert counts == {"train": 140 - 12, "val": 17, "test": 37}  # the row leaves a gap in train


def test_skip_counts_every_dropped_row(tmp_path):
    lines = replace_cell("HULL", "nan")(ett_lines(200))
    lines[150] = lines[150].replace(lines[150].split(",")[0], date_of(100))  # out of order
    file = write(tmp_path / "series.csv", lines)
    with pytest.warns(BadLineWarning, match=r"skipped 2 bad lines in .* \(first: line 8: "):
        module(file, on_bad_line="skip").setup()


def test_trailing_blank_lines_and_a_byte_order_mark_are_fine(tmp_path):
    file = tmp_path / "series.csv"
    file.write_bytes(b"\xef\xbb\xbf" + "\n".join(ett_lines(200)).encode() + b"\n\n\n")
    dm = module(file)
    dm.setup()
    assert len(dm.datasets["test"]) == 37


@pytest.mark.parametrize(
    "options, expected",
    [
        ({"target_columns": ["oil"]}, r"expected the columns \['oil'\] \(target_columns\)"),
        ({"feature_columns": ["OT", "x"]}, r"expected the columns \['x'\] \(feature_columns\)"),
        ({"date_column": "time"}, "expected a date column named 'time'"),
    ],
)
def test_a_missing_column_names_file_line_and_column(tmp_path, options, expected):
    file = write(tmp_path / "series.csv", ett_lines(200))
    with pytest.raises(ValueError, match=f"^{re.escape(str(file))}, line 1: {expected}.*'OT'"):
        module(file, **options).setup()


def test_an_empty_file_or_a_header_only_file_is_refused(tmp_path):
    empty = write(tmp_path / "empty.csv", [""])
    with pytest.raises(ValueError, match="expected a header row"):
        module(empty).setup()
    header = write(tmp_path / "header.csv", ett_lines(0))
    with pytest.raises(ValueError, match="expected rows of data after the header"):
        module(header).setup()


# ---- options --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options, expected",
    [
        ({"split_ratios": [0.7, 0.2, 0.2]}, "split_ratios: expected three positive fractions"),
        ({"split_ratios": [0.9, 0.1]}, "split_ratios: expected three"),
        ({"split": "random"}, r"split: expected one of \['ratio', 'rows'\]"),
        ({"split": "rows"}, "split_rows: split=rows needs"),
        ({"split_rows": [[0, 10], [10, 20], [20, 30]]}, "split_rows: only used with split=rows"),
        (
            {"split": "rows", "split_rows": [[0, 100], [90, 120], [120, 150]]},
            "split_rows: the val rows start at 90, before the train rows end",
        ),
        ({"split": "rows", "split_rows": [[0, 100], [100, 120]]}, "split_rows: expected three"),
        ({"target_columns": "OT"}, "target_columns: expected a non-empty list"),
        ({"target_columns": ["OT", "OT"]}, "target_columns: expected distinct"),
        ({"target_columns": ["date"]}, r"target_columns: \['date'\] hold the dates"),
        (
            {"target_columns": ["OT"], "feature_columns": ["HUFL"]},
            r"feature_columns: the targets \['OT'\] must be features too",
        ),
        ({"on_bad_line": "warn"}, "on_bad_line: expected one of"),
        ({"download": True}, "download: download=true needs data.url"),
    ],
)
def test_options_are_checked(tmp_path, options, expected):
    with pytest.raises(ValueError, match=expected):
        module(tmp_path / "series.csv", **options)


def test_splits_that_do_not_fit_the_file(tmp_path):
    file = write(tmp_path / "series.csv", ett_lines(200))
    beyond = module(file, split="rows", split_rows=[[0, 100], [100, 150], [150, 250]])
    with pytest.raises(ValueError, match="split_rows: the test rows end at 250, but .* 200 data"):
        beyond.setup()
    long_history = module(file, input_length=150)
    with pytest.raises(ValueError, match="input_length: the first val window needs 150 rows"):
        long_history.setup()
    tiny = write(tmp_path / "tiny.csv", ett_lines(4))
    with pytest.raises(ValueError, match="split_ratios: .* leaves the test split empty"):
        module(tiny).setup()


def test_path_may_be_a_folder_with_file(tmp_path):
    write(tmp_path / "weather.csv", ett_lines(200))
    dm = module(tmp_path, file="weather.csv")
    dm.setup()
    assert len(dm.datasets["train"]) == 129


# ---- download -------------------------------------------------------------------------------


def test_a_missing_file_suggests_the_download(tmp_path):
    dm = module(tmp_path / "series.csv", url="http://127.0.0.1:1/series.csv")
    with pytest.raises(FileNotFoundError, match="data.download=true to fetch http://127.0.0.1"):
        dm.setup()


def test_download_fetches_and_verifies_the_file_once(tmp_path):
    data = write(tmp_path / "source.csv", ett_lines(200)).read_bytes()
    with local_server() as server:
        url = server.add("/data/series.csv", data)
        sha256 = hashlib.sha256(data).hexdigest()
        target = tmp_path / "cache" / "series.csv"
        dm = module(target, download=True, url=url, sha256=sha256)
        dm.setup()
        assert target.read_bytes() == data and len(dm.datasets["train"]) == 129
        module(target, download=True, url=url, sha256=sha256).setup()
        assert server.requests == ["/data/series.csv"]  # the second found the file


def test_download_with_a_checksum_mismatch_keeps_nothing(tmp_path):
    data = write(tmp_path / "source.csv", ett_lines(200)).read_bytes()
    with local_server() as server:
        url = server.add("/series.csv", data)
        target = tmp_path / "cache" / "series.csv"
        dm = module(target, download=True, url=url, sha256="0" * 64)
        with pytest.raises(DownloadError, match="checksum mismatch"):
            dm.setup()
    assert not target.exists()


def test_download_refuses_to_run_without_a_checksum(tmp_path):
    with local_server() as server:
        url = server.add("/series.csv", b"date,OT\n")
        dm = module(tmp_path / "series.csv", download=True, url=url)
        with pytest.raises(ValueError, match="sha256: no checksum given"):
            dm.setup()
        assert server.requests == []


# ---- prediction input and artifacts ---------------------------------------------------------


def test_restored_module_reads_prediction_csvs_with_calendar_features(tmp_path):
    file = write(tmp_path / "series.csv", ett_lines(200))
    dm = module(file, time_features=True, target_columns=["OT"])
    dm.setup()
    restored = module(tmp_path / "nowhere.csv", time_features=True, target_columns=["OT"])
    restored.restore(json.loads(json.dumps(dm.artifacts())))
    assert restored.spec == dm.spec
    recent = write(tmp_path / "recent.csv", ett_lines(30))  # the dates of the horizon: inferred
    batch = restored.batch_from_raw(str(recent))
    assert batch["history"].shape == (1, 8, 13)
    assert batch["future_covariates"].shape == (1, 4, 6)
    assert batch["horizon_dates"] == [[date_of(r) for r in range(30, 34)]]
    window = dm.datasets["train"][22]  # history rows 22-29, horizon 30-33: the same
    np.testing.assert_allclose(batch["history"][0].numpy(), window["history"], atol=1e-5)
    np.testing.assert_allclose(
        batch["future_covariates"][0].numpy(), window["covariates"], atol=1e-5
    )
    future = ett_lines(30) + [date_of(r) + ",,,,,,," for r in range(30, 34)]  # given dates
    given = restored.batch_from_raw(str(write(tmp_path / "future.csv", future)))
    np.testing.assert_allclose(given["future_covariates"], batch["future_covariates"])
    short = write(tmp_path / "short.csv", ett_lines(5))
    with pytest.raises(ValueError, match="expected at least 8 \\(input_length\\) rows"):
        restored.parse_raw(str(short))


def test_prediction_without_calendar_features_reads_the_columns(tmp_path):
    file = write(tmp_path / "series.csv", ett_lines(200))
    dm = module(file)
    dm.setup()
    batch = dm.batch_from_raw(str(write(tmp_path / "recent.csv", ett_lines(30))))
    assert batch["history"].shape == (1, 8, 7) and "future_covariates" not in batch


def test_trains_from_the_csv_series_config(make_config, tmp_path):
    from rnnkit.cli.train import train

    file = write(tmp_path / "series.csv", ett_lines(300))
    cfg = make_config(
        [
            "experiment=forecasting",
            "data=csv_series",
            f"data.path={file}",
            "data.input_length=16",
            "data.horizon=4",
            "data.batch_size=8",
            "data.time_features=true",
            "debug=fast_dev_run",
            "num_threads=1",
        ]
    )
    assert cfg.data._target_ == "rnnkit.data.forecasting.csv_series.CSVSeriesDataModule"
    train(cfg)
