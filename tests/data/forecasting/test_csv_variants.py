"""CSVSeriesDataModule on the CSV files people have: dates in other layouts (``1990/1/1 0:00``,
monthly ``1949-01``), split over columns, or absent; ``NA``/``NaN``/empty cells under each
missing-value policy (pandas as the oracle); text columns; files whose every row is dropped;
and prediction files read the same way. Every file is generated here."""

from __future__ import annotations

import json
import math
import re
import warnings
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from rnnkit.data.forecasting.csv_series import CSVSeriesDataModule
from rnnkit.data.forecasting.dates import format_dates
from rnnkit.data.forecasting.missing_values import MissingValueWarning
from rnnkit.data.io.reading import BadLineWarning

START = datetime(1990, 1, 1)
ROWS = 240
WINDS = ("NW", "SE", "cv", "NE")


def pm(row: int) -> float:
    return round(50 + 20 * math.sin(row / 7) + row / 10, 1)


def temp(row: int) -> float:
    return round(-5 + (row % 24) / 3, 2)


def wind(row: int) -> str:
    return WINDS[row // 13 % 4]


def beijing_like(
    path: Path, layout: str = "slash", missing: dict[int, str] | None = None, rows: int = ROWS
) -> Path:
    """An hourly air-quality file (after the Beijing PM2.5 set): ``pm2.5``, ``TEMP`` and the
    wind direction ``cbwd`` (text); dates as ``1990/1/1 0:00`` (``slash``), in the columns
    year, month, day, hour (``parts``) or absent (``none``). ``missing`` maps data rows to the
    text of their ``pm2.5`` cell (``NA``, ``NaN``, ``""``)."""
    header = {
        "slash": "date,pm2.5,TEMP,cbwd",
        "parts": "No,year,month,day,hour,pm2.5,TEMP,cbwd",
        "none": "pm2.5,TEMP,cbwd",
    }[layout]
    lines = [header]
    for r in range(rows):
        t = START + timedelta(hours=r)
        cells = [(missing or {}).get(r, str(pm(r))), str(temp(r)), wind(r)]
        if layout == "slash":
            cells.insert(0, f"{t.year}/{t.month}/{t.day} {t.hour}:00")
        elif layout == "parts":
            cells[:0] = [str(r + 1), str(t.year), str(t.month), str(t.day), str(t.hour)]
        lines.append(",".join(cells))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def passengers(path: Path, months: int = 144) -> Path:
    """A monthly file in the layout of the airline passengers set: ``Month,Passengers``."""
    lines = ["Month,Passengers"] + [
        f"{1949 + m // 12}-{m % 12 + 1:02d},{100 + 2 * m + 30 * math.sin(m * math.pi / 6):.0f}"
        for m in range(months)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def module(path: Path, **options) -> CSVSeriesDataModule:
    options = {"input_length": 12, "horizon": 4, "batch_size": 16, **options}
    return CSVSeriesDataModule(path=str(path), **options)


def whole_series(dm: CSVSeriesDataModule) -> tuple[list[str], np.ndarray, list[str]]:
    """The train, val and test rows of the file as the module reads them (val and test
    without the history rows they repeat): ``(ISO dates, (T, F) values, feature names)``."""
    dates, values = [], []
    for split in ("train", "val", "test"):
        pieces = list(dm.load_split(split))
        skip = 0 if split == "train" else dm.input_length
        joined = np.concatenate([p["dates"] for p in pieces]).view(np.int64)[skip:]
        dates += format_dates(joined, pieces[0]["date_style"]).tolist()
        values.append(np.concatenate([p["values"] for p in pieces])[skip:])
    return dates, np.concatenate(values), pieces[0]["feature_names"]


def hours(rows) -> list[str]:
    return [(START + timedelta(hours=int(r))).strftime("%Y-%m-%d %H:%M") for r in rows]


# ---- dates ----------------------------------------------------------------------------------


def test_slash_dates_are_read_without_being_told_their_layout(tmp_path):
    dm = module(beijing_like(tmp_path / "air.csv"), exclude_columns=["cbwd"])
    dm.setup()
    dates, values, names = whole_series(dm)
    assert names == ["pm2.5", "TEMP"]
    assert dates == hours(range(ROWS))  # written back as ISO, minutes as the file has them
    np.testing.assert_allclose(values, [[pm(r), temp(r)] for r in range(ROWS)], rtol=1e-6)
    assert dm.summary()["frequency"] == "1h"


def test_dates_split_over_columns_are_the_same_dates(tmp_path):
    slash = module(beijing_like(tmp_path / "air.csv"), exclude_columns=["cbwd"])
    slash.setup()
    parts = module(
        beijing_like(tmp_path / "parts.csv", "parts"),
        date_columns=["year", "month", "day", "hour"],
        exclude_columns=["No", "cbwd"],
    )
    parts.setup()
    assert whole_series(parts)[0] == whole_series(slash)[0]
    np.testing.assert_array_equal(whole_series(parts)[1], whole_series(slash)[1])


def test_a_date_part_out_of_range_names_its_line_and_columns(tmp_path):
    file = beijing_like(tmp_path / "parts.csv", "parts")
    lines = file.read_text().splitlines()
    lines[5] = lines[5].replace(",1990,1,1,4,", ",1990,13,1,4,", 1)  # month 13
    file.write_text("\n".join(lines) + "\n")
    dm = module(file, date_columns=["year", "month", "day", "hour"], exclude_columns=["cbwd"])
    with pytest.raises(ValueError, match=r"parts\.csv, line 6: columns \['year', 'month', 'day', "):
        dm.setup()


def test_a_layout_pandas_cannot_guess_is_given_as_date_format(tmp_path):
    file = tmp_path / "odd.csv"
    rows = [f"{(START + timedelta(hours=r)):day %-d of %-m/%Y %Hh},{pm(r)}" for r in range(60)]
    file.write_text("\n".join(["when,pm", *rows]) + "\n")
    with pytest.raises(ValueError, match=r"line 2: column 'when': expected an ISO date .* set "):
        module(file, date_column="when").setup()
    dm = module(file, date_column="when", date_format="day %d of %m/%Y %Hh")
    dm.setup()
    assert whole_series(dm)[0] == hours(range(60))
    with pytest.raises(ValueError, match="date_format: expected a strftime layout"):
        module(file, date_column="when", date_format="YYYY-MM-DD")


def test_monthly_dates_give_monthly_time_features_and_forecast_dates(tmp_path):
    file = passengers(tmp_path / "passengers.csv")
    dm = module(file, date_column="Month", time_features=True)
    dm.setup()
    dates, values, names = whole_series(dm)
    assert names == ["Passengers", "month_sin", "month_cos"]  # no hour or weekday: constant
    assert dates[:3] == ["1949-01-01", "1949-02-01", "1949-03-01"]
    phase = 2 * np.pi * (np.arange(144) % 12) / 12
    np.testing.assert_allclose(
        values[:, 1:], np.stack([np.sin(phase), np.cos(phase)], 1), atol=1e-6
    )
    assert dm.summary()["frequency"] == "1MS"
    restored = module(tmp_path / "absent.csv", date_column="Month", time_features=True)
    restored.restore(json.loads(json.dumps(dm.artifacts())))
    recent = tmp_path / "recent.csv"
    recent.write_text(
        "\n".join(file.read_text().splitlines()[:1] + file.read_text().splitlines()[-12:])
    )
    batch = restored.batch_from_raw(str(recent))
    assert batch["horizon_dates"] == [["1961-01-01", "1961-02-01", "1961-03-01", "1961-04-01"]]
    january = [np.sin(0.0), np.cos(0.0)]
    scaled = (np.array(january) - restored.mean[1:]) / restored.std[1:]
    np.testing.assert_allclose(batch["future_covariates"][0, 0].numpy(), scaled, atol=1e-5)


def test_a_frequency_that_contradicts_the_dates_is_refused(tmp_path):
    file = passengers(tmp_path / "passengers.csv")
    with pytest.raises(ValueError, match=r"frequency: 'D' \(1D\), but the dates .* step by 1MS"):
        module(file, date_column="Month", frequency="D").setup()
    dm = module(file, date_column="Month", frequency="MS")
    dm.setup()


def test_without_a_date_column_the_rows_are_the_steps_of_a_given_frequency(tmp_path):
    file = beijing_like(tmp_path / "plain.csv", "none")
    with pytest.raises(ValueError, match="frequency: with date_column=null .* must be given"):
        module(file, date_column=None, exclude_columns=["cbwd"])
    with pytest.raises(ValueError, match="time_features: calendar features need dates"):
        module(file, date_column=None, frequency="h", time_features=True)
    dm = module(file, date_column=None, frequency="h", exclude_columns=["cbwd"])
    dm.setup()
    dates, values, _ = whole_series(dm)
    assert set(dates) == {""}
    np.testing.assert_allclose(values[:, 0], [pm(r) for r in range(ROWS)], rtol=1e-6)
    batch = dm.batch_from_raw(str(file))
    assert batch["horizon_dates"] == [[""] * 4]


# ---- missing values ---------------------------------------------------------------------------

GAPS = {0: "NA", 1: "", 30: "NaN", 31: "NA", 32: "", 100: "nan", ROWS - 1: "NA"}
"""pm2.5 cells left out: two at the start, a run of three, one alone, one at the end."""


def pandas_oracle(policy: str) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "pm2.5": [np.nan if r in GAPS else pm(r) for r in range(ROWS)],
            "TEMP": [temp(r) for r in range(ROWS)],
        },
        index=pd.DatetimeIndex([START + timedelta(hours=r) for r in range(ROWS)]),
    )
    if policy == "drop":
        return frame.dropna()
    filled = frame.ffill() if policy == "ffill" else frame.interpolate("time", limit_area="inside")
    return filled.dropna()  # what has no value before (after) it


@pytest.mark.parametrize("policy", ["drop", "ffill", "interpolate"])
def test_missing_cells_are_dropped_or_filled_as_pandas_does(tmp_path, policy):
    file = beijing_like(tmp_path / "air.csv", missing=GAPS)
    dm = module(file, missing=policy, exclude_columns=["cbwd"], time_gaps="warn")
    with pytest.warns(
        MissingValueWarning, match="7 missing values .*first: line 2, column 'pm2.5'"
    ):
        dm.setup()
    expected = pandas_oracle(policy)
    dates, values, _ = whole_series(dm)
    assert dates == [d.strftime("%Y-%m-%d %H:%M") for d in expected.index]
    np.testing.assert_allclose(values, expected.to_numpy(), rtol=1e-6)
    ends = {"drop": (0, 0), "ffill": (2, 0), "interpolate": (2, 1)}[policy]
    summary = dm.summary()["missing"]
    if policy == "drop":
        assert "7 rows dropped" in summary
    else:
        assert f"{ends[0]} rows at the start dropped" in summary
        assert (f"{ends[1]} rows at the end dropped" in summary) == bool(ends[1])


def test_missing_cells_are_errors_by_default_naming_line_and_column(tmp_path):
    file = beijing_like(tmp_path / "air.csv", missing={5: "NA"})
    with pytest.raises(
        ValueError,
        match=r"air\.csv, line 7: column 'pm2.5': missing value 'NA'; "
        r".*data\.missing=drop, ffill or interpolate",
    ):
        module(file, exclude_columns=["cbwd"]).setup()
    with pytest.warns(BadLineWarning, match="skipped 1 bad line"):
        module(file, exclude_columns=["cbwd"], on_bad_line="skip").setup()
    with pytest.raises(ValueError, match="missing: expected one of"):
        module(file, missing="zero")


# ---- text columns -----------------------------------------------------------------------------


def test_a_text_column_is_named_as_categorical_or_excluded(tmp_path):
    file = beijing_like(tmp_path / "air.csv")
    with pytest.raises(
        ValueError,
        match=r"line 2: column 'cbwd': expected a number, got 'NW' \(a text column\? "
        r"name it in data\.categorical_columns .* data\.exclude_columns",
    ):
        module(file).setup()
    dm = module(file, categorical_columns=["cbwd"], target_columns=["pm2.5"])
    dm.setup()
    _, values, names = whole_series(dm)
    assert names == ["pm2.5", "TEMP", "cbwd=NE", "cbwd=NW", "cbwd=SE", "cbwd=cv"]
    np.testing.assert_array_equal(values[:, 2:].sum(axis=1), 1.0)
    expected = [names.index(f"cbwd={wind(r)}") - 2 for r in range(ROWS)]
    np.testing.assert_array_equal(values[:, 2:].argmax(axis=1), expected)
    with pytest.raises(ValueError, match=r"categorical_columns: \['pm2.5'\] are targets"):
        module(file, categorical_columns=["pm2.5"], target_columns=["pm2.5"])


def test_categories_come_from_the_training_rows_only(tmp_path):
    file = beijing_like(tmp_path / "air.csv")
    lines = file.read_text().splitlines()
    lines[-1] = lines[-1].rsplit(",", 1)[0] + ",SW"  # a direction seen in the test rows only
    file.write_text("\n".join(lines) + "\n")
    dm = module(file, categorical_columns=["cbwd"])
    dm.setup()
    _, values, names = whole_series(dm)
    assert "cbwd=SW" not in names
    np.testing.assert_array_equal(values[-1, 2:], 0.0)  # an unseen category: all zeros


# ---- every row dropped --------------------------------------------------------------------------


def test_a_file_whose_every_row_is_dropped_says_so_with_the_counts(tmp_path):
    file = beijing_like(tmp_path / "air.csv", rows=50)
    with pytest.raises(
        ValueError,
        match=r"air\.csv: no rows of data left: skipped 50 bad lines in .*air\.csv \(first: "
        r"line 2: column 'date': expected a date in the layout '%d\.%m\.%Y'",
    ):
        module(file, exclude_columns=["cbwd"], on_bad_line="skip", date_format="%d.%m.%Y").setup()
    empty = beijing_like(tmp_path / "empty.csv", missing={r: "NA" for r in range(50)}, rows=50)
    with pytest.raises(
        ValueError,
        match=r"no rows of data left: 50 missing values \(first: line 2, column 'pm2\.5'\): "
        r"50 rows dropped",
    ):
        module(empty, exclude_columns=["cbwd"], missing="drop").setup()
    with pytest.raises(
        ValueError, match=r"no rows of data left: 50 missing values .* 50 rows at the start dropped"
    ):
        module(empty, exclude_columns=["cbwd"], missing="interpolate").setup()


# ---- the prepared cache and prediction ------------------------------------------------------


def test_each_reading_option_is_part_of_the_prepared_cache_key(tmp_path):
    file = beijing_like(tmp_path / "air.csv")
    base = {"categorical_columns": ["cbwd"], "missing": "error"}
    settings = module(file, **base).preparation_settings()
    for change in (
        {"missing": "ffill"},
        {"categorical_columns": None, "exclude_columns": ["cbwd"]},
        {"date_format": "%Y/%m/%d %H:%M"},
        {"frequency": "h"},
        {"time_features": True},
    ):
        assert module(file, **{**base, **change}).preparation_settings() != settings, change


def test_prediction_reads_a_file_as_training_did_and_derives_every_feature(tmp_path):
    options = {
        "categorical_columns": ["cbwd"],
        "missing": "interpolate",
        "time_features": True,
        "target_columns": ["pm2.5"],
    }
    file = beijing_like(tmp_path / "air.csv", missing={200: "NA", 230: ""})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MissingValueWarning)
        dm = module(file, **options)
        dm.setup()
    restored = module(tmp_path / "absent.csv", **options)
    restored.restore(json.loads(json.dumps(dm.artifacts())))
    # The user's file: the same layout, an NA cell, no calendar or one-hot columns.
    lines = file.read_text().splitlines()
    recent = tmp_path / "recent.csv"
    recent.write_text("\n".join([lines[0], *lines[-36:-4]]) + "\n")  # rows 204-235
    with pytest.warns(MissingValueWarning, match="recent.csv: 1 missing value"):
        batch = restored.batch_from_raw(str(recent))
    window = dm.datasets["test"][len(dm.datasets["test"]) - 1]  # history: the same 12 rows
    np.testing.assert_allclose(batch["history"][0].numpy(), window["history"], atol=1e-5)
    np.testing.assert_allclose(
        batch["future_covariates"][0].numpy(), window["covariates"], atol=1e-5
    )
    assert batch["horizon_dates"] == [hours(range(ROWS - 4, ROWS))]
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join([lines[0], *lines[-36:-4], "1990/1/11 20:00,x,1,NW"]) + "\n")
    with pytest.raises(ValueError, match=r"bad\.csv, line 34: column 'pm2.5': expected a number"):
        restored.parse_raw(str(bad))
    skipping = module(tmp_path / "absent.csv", **options, on_bad_line="skip")
    skipping.restore(json.loads(json.dumps(dm.artifacts())))
    with pytest.warns(BadLineWarning, match="skipped 1 bad line"):
        skipping.parse_raw(str(bad))
    iso = tmp_path / "iso.csv"
    iso.write_text("date,pm2.5,TEMP,cbwd\n" + "".join(f"{d}:00,1,1,NW\n" for d in hours(range(20))))
    with pytest.raises(
        ValueError,
        match=re.escape("a date such as the training file's (the layout '%Y/%m/%d %H:%M')"),
    ):
        restored.parse_raw(str(iso))  # the layout training read, not any other


def test_the_prepared_cache_gives_the_batches_read_directly(tmp_path, monkeypatch):
    from rnnkit.data.forecasting import csv_series

    file = beijing_like(tmp_path / "air.csv", missing={50: "NA", 51: "", 120: "NaN"})
    options = {"categorical_columns": ["cbwd"], "missing": "interpolate", "time_features": True}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MissingValueWarning)
        direct = module(file, **options)
        direct.setup()
        cached = module(file, cache_dir=str(tmp_path / "prepared"), **options)
        cached.setup()
    reads = []
    monkeypatch.setattr(csv_series, "read_csv_chunks", lambda *a, **k: reads.append(a) or iter(()))
    again = module(file, cache_dir=str(tmp_path / "prepared"), **options)
    again.setup()  # the prepared series, with the fitted categories and frequency
    assert reads == [] and again.spec == direct.spec and again.summary()["frequency"] == "1h"
    for dm in (cached, again):
        for split in ("train", "val", "test"):
            loader = f"{split}_dataloader"
            pairs = list(zip(getattr(direct, loader)(), getattr(dm, loader)()))
            assert pairs and len(pairs) == len(getattr(direct, loader)())
            for a, b in pairs:
                for key in ("history", "target", "future_covariates", "window_dates"):
                    assert torch.equal(a[key], b[key]), key


def test_a_missing_month_is_filled_with_the_calendar_month(tmp_path):
    file = passengers(tmp_path / "passengers.csv")
    lines = file.read_text().splitlines()
    file.write_text("\n".join(lines[:4] + lines[6:]) + "\n")  # 1949-04 and 1949-05 left out
    with pytest.raises(ValueError, match="no rows between 1949-03-01 and 1949-06-01"):
        module(file, date_column="Month", time_gaps="error").setup()
    dm = module(file, date_column="Month", time_gaps="fill")
    dm.setup()
    dates, values, _ = whole_series(dm)
    assert dates[:7] == [f"1949-{m:02d}-01" for m in range(1, 8)]
    march, june = float(lines[3].split(",")[1]), float(lines[6].split(",")[1])
    april = march + (june - march) * 31 / 92  # linear in time: 31 of the 92 days
    assert values[3, 0] == pytest.approx(april)
