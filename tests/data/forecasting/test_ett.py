"""ETT (ETT-small CSV files): the standard 12/4/4-month split, settings, verified download;
the real ETTh1/ETTm1 when present."""

from __future__ import annotations

import hashlib
import math
import re
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from local_server import local_server
from rnnkit.cli.train import build_datamodule
from rnnkit.data.forecasting.ett import (
    ETT_COLUMNS,
    ETT_SHA256,
    ETT_URL,
    ETTDataModule,
    standard_rows,
)
from rnnkit.data.io.download import DownloadError
from shared_data import shared_dataset

START = datetime(2016, 7, 1)


def date_of(row: int, minutes: int = 60) -> str:
    return (START + timedelta(minutes=minutes * row)).strftime("%Y-%m-%d %H:%M:%S")


def ett_csv(rows: int, minutes: int = 60) -> bytes:
    """An ETT file: header, then ``rows`` rows of float32 values printed at full precision."""
    lines = ["date," + ",".join(ETT_COLUMNS)]
    for r in range(rows):
        values = [(c + 1) * (2 + math.sin(r / 7)) + 0.001 * r for c in range(len(ETT_COLUMNS))]
        lines.append(",".join([date_of(r, minutes)] + [repr(float(np.float32(v))) for v in values]))
    return ("\n".join(lines) + "\n").encode()


HOURLY = ett_csv(14_500)  # the standard split needs 14,400 rows; the real files have 17,420


def write_ett(folder: Path, name: str = "ETTh1", data: bytes = HOURLY) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.csv").write_bytes(data)
    return folder


def test_standard_rows_are_twelve_four_four_months():
    assert (
        standard_rows("ETTh1")
        == standard_rows("ETTh2")
        == [
            (0, 8640),
            (8640, 11520),
            (11520, 14400),
        ]
    )
    assert (
        standard_rows("ETTm1")
        == standard_rows("ETTm2")
        == [
            (0, 34560),
            (34560, 46080),
            (46080, 57600),
        ]
    )


def test_standard_split_window_counts_and_history_overlap(tmp_path):
    dm = ETTDataModule(path=str(write_ett(tmp_path)), input_length=96, horizon=24)
    dm.setup()
    counts = {split: len(windows) for split, windows in dm.datasets.items()}
    assert counts == {"train": 8640 - 96 - 24 + 1, "val": 2880 - 24 + 1, "test": 2880 - 24 + 1}
    assert dm.segments() == {"train": (0, 8640), "val": (8544, 11520), "test": (11424, 14400)}
    assert dm.datasets["val"][0]["horizon_dates"][0] == date_of(8640)
    assert dm.datasets["test"][0]["horizon_dates"][0] == date_of(11520)
    assert dm.datasets["test"][-1]["horizon_dates"][-1] == date_of(14399)  # rows >= 14400 unused
    values = np.array([line.split(",")[1:] for line in HOURLY.decode().split("\n")[1:8641]], float)
    np.testing.assert_allclose(dm.mean, values.mean(axis=0), rtol=1e-12)  # train rows only
    np.testing.assert_allclose(dm.std, values.std(axis=0), rtol=1e-12)
    assert dm.spec["target_names"] == list(ETT_COLUMNS)  # multivariate "M" by default
    assert "history from 8544" in dm.summary()["split_rows"]


def test_fifteen_minute_files_take_four_times_the_rows(tmp_path):
    write_ett(tmp_path, "ETTm2", ett_csv(57_600, minutes=15))
    dm = ETTDataModule(path=str(tmp_path), name="ETTm2", input_length=96, horizon=96, stride=8)
    dm.setup()
    counts = {split: len(windows) for split, windows in dm.datasets.items()}
    spans = {"train": 34560 - 96, "val": 11520, "test": 11520}
    assert counts == {s: len(range(0, n - 96 + 1, 8)) for s, n in spans.items()}


def test_ratio_split_and_univariate_target(tmp_path):
    dm = ETTDataModule(
        path=str(write_ett(tmp_path, data=ett_csv(1000))),
        split="ratio",
        target_columns=["OT"],
        input_length=24,
        horizon=12,
    )
    dm.setup()
    assert dm.borders(1000) == {"train": (0, 700), "val": (700, 800), "test": (800, 1000)}
    assert {s: len(w) for s, w in dm.datasets.items()} == {"train": 665, "val": 89, "test": 189}
    assert (dm.spec["num_features"], dm.spec["target_names"]) == (7, ["OT"])


def test_a_short_file_cannot_take_the_standard_split(tmp_path):
    dm = ETTDataModule(path=str(write_ett(tmp_path, data=ett_csv(1000))))
    with pytest.raises(ValueError, match="split: the standard ETT split .* needs 14400 data rows"):
        dm.setup()


@pytest.mark.parametrize(
    "options, expected",
    [
        ({"name": "ETTh3"}, r"name: expected one of \['ETTh1', 'ETTh2', 'ETTm1', 'ETTm2'\]"),
        ({"file": "other.csv"}, "file: the ETT layout is fixed"),
        ({"date_column": "time"}, "date_column: the ETT layout is fixed"),
        ({"split_rows": [[0, 10], [10, 20], [20, 30]]}, "split_rows: only used with split=rows"),
        ({"split": "random"}, r"split: expected one of \['standard', 'ratio', 'rows'\]"),
    ],
)
def test_options_are_checked(tmp_path, options, expected):
    with pytest.raises(ValueError, match=f"^{expected}"):
        ETTDataModule(path=str(tmp_path), **options)


def test_a_bad_row_names_the_file_line_and_column(tmp_path):
    lines = HOURLY.decode().split("\n")
    lines[101] = lines[101].replace(lines[101].split(",")[7], "")  # OT of row 100 missing
    folder = write_ett(tmp_path, data="\n".join(lines).encode())
    file = re.escape(str(folder / "ETTh1.csv"))
    with pytest.raises(ValueError, match=f"^{file}, line 102: column 'OT': empty cell"):
        ETTDataModule(path=str(folder)).setup()


# ---- download -------------------------------------------------------------------------------


def test_missing_file_names_the_canonical_url(tmp_path):
    with pytest.raises(FileNotFoundError, match=re.escape(ETT_URL.format(name="ETTm1"))):
        ETTDataModule(path=str(tmp_path), name="ETTm1").setup()


def test_download_fetches_name_csv_into_path_and_verifies_it(tmp_path):
    with local_server() as server:
        url = server.add("/ETT-small/ETTh1.csv", HOURLY)
        sha256 = hashlib.sha256(HOURLY).hexdigest()
        dm = ETTDataModule(path=str(tmp_path / "ett"), download=True, url=url, sha256=sha256)
        dm.setup()
        assert (tmp_path / "ett" / "ETTh1.csv").read_bytes() == HOURLY
        assert server.requests == ["/ETT-small/ETTh1.csv"]
    assert len(dm.datasets["train"]) == 8640 - 24 - 6 + 1


def test_download_checks_the_known_checksum(tmp_path):
    with local_server() as server:
        url = server.add("/ETTh1.csv", HOURLY)  # not the real ETTh1.csv: its checksum differs
        dm = ETTDataModule(path=str(tmp_path), download=True, url=url)
        with pytest.raises(
            DownloadError, match=f"checksum mismatch .* sha256 {ETT_SHA256['ETTh1']}"
        ):
            dm.setup()
    assert list(tmp_path.iterdir()) == []


def test_files_without_a_known_checksum_are_not_downloaded_until_one_is_given(tmp_path):
    data = ett_csv(14_400)
    with local_server() as server:
        url = server.add("/ETTh2.csv", data)
        dm = ETTDataModule(path=str(tmp_path), name="ETTh2", download=True, url=url)
        with pytest.raises(ValueError, match="sha256: rnnkit knows no verified checksum for ETTh2"):
            dm.setup()
        assert server.requests == []
        sha256 = hashlib.sha256(data).hexdigest()
        ETTDataModule(
            path=str(tmp_path), name="ETTh2", download=True, url=url, sha256=sha256
        ).setup()
        assert server.requests == ["/ETTh2.csv"]


def test_default_url_and_checksums():
    dm = ETTDataModule(path="/nowhere", name="ETTm1")
    assert (
        dm.url == "https://raw.githubusercontent.com/zhouhaoyi/ETDataset/main/ETT-small/ETTm1.csv"
    )
    assert dm.sha256 == ETT_SHA256["ETTm1"]
    assert all(re.fullmatch(r"[0-9a-f]{64}", ETT_SHA256[n]) for n in ("ETTh1", "ETTm1"))
    assert ETT_SHA256["ETTh2"] is None and ETT_SHA256["ETTm2"] is None


def test_the_data_config_points_at_data_root_with_a_verified_download(make_config, tmp_path):
    cfg = make_config(["data=ett", f"paths.data_root={tmp_path}"])
    dm = build_datamodule(cfg.data)
    assert isinstance(dm, ETTDataModule) and dm.file == tmp_path / "ett" / "ETTh1.csv"
    assert dm.download is False and dm.sha256 == ETT_SHA256["ETTh1"]
    assert dm.url == ETT_URL.format(name="ETTh1")
    assert (dm.split, dm.input_length, dm.horizon, dm.target_columns) == ("standard", 96, 24, None)


# ---- the real data (../shared/data/ett), when present -----------------------------------------


@pytest.mark.slow
def test_real_etth1_has_the_known_rows_and_standard_window_counts():
    folder = shared_dataset("ett", "ETTh1.csv")
    assert hashlib.sha256((folder / "ETTh1.csv").read_bytes()).hexdigest() == ETT_SHA256["ETTh1"]
    dm = ETTDataModule(path=str(folder), input_length=96, horizon=24)  # on_bad_line="error"
    table = dm.table()
    assert (table.total_rows, len(table.dates), table.columns) == (
        17_420,
        17_420,
        list(ETT_COLUMNS),
    )
    assert table.date_strings(0, 1) + table.date_strings(-1) == [
        "2016-07-01 00:00:00",
        "2018-06-26 19:00:00",
    ]
    dm.setup()
    counts = {split: len(windows) for split, windows in dm.datasets.items()}
    assert counts == {"train": 8640 - 96 - 24 + 1, "val": 2880 - 24 + 1, "test": 2880 - 24 + 1}
    assert dm.spec["num_features"] == dm.spec["num_targets"] == 7
    assert dm.mean[6] == pytest.approx(table.values[:8640, 6].mean())


@pytest.mark.slow
def test_real_ettm1_has_the_known_rows_and_standard_window_counts():
    folder = shared_dataset("ett", "ETTm1.csv")
    assert hashlib.sha256((folder / "ETTm1.csv").read_bytes()).hexdigest() == ETT_SHA256["ETTm1"]
    dm = ETTDataModule(path=str(folder), name="ETTm1", input_length=96, horizon=24)
    assert dm.table().total_rows == 69_680
    dm.setup()
    counts = {split: len(windows) for split, windows in dm.datasets.items()}
    assert counts == {"train": 34560 - 96 - 24 + 1, "val": 11520 - 24 + 1, "test": 11520 - 24 + 1}
