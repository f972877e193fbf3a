"""ForecastingDataModule: windows, train-only scaler, JSON artifacts, CSV prediction input."""

from __future__ import annotations

import csv
import json
from datetime import date, timedelta

import numpy as np
import pytest
import torch

from rnnkit.data.forecasting.builtin import BuiltinForecastingDataModule
from rnnkit.data.forecasting.datamodule import ForecastingDataModule

FEATURES = ["load", "temperature", "hour_sin"]


def series(length: int, level: float, start: date, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    values = np.stack(
        [
            level + np.arange(length) + rng.normal(size=length),
            rng.normal(20, 5, size=length),
            np.sin(np.arange(length) / 3),
        ],
        axis=1,
    )
    return {
        "dates": [(start + timedelta(days=i)).isoformat() for i in range(length)],
        "values": values.tolist(),
        "feature_names": FEATURES,
        "target_names": ["load"],
        "known_future_names": ["hour_sin"],
    }


class SyntheticForecasting(ForecastingDataModule):
    """Two training series, one val and one test series at another level (a trend)."""

    def load_split(self, split: str) -> list[dict]:
        start = date(2020, 1, 1)
        if split == "train":
            return [series(40, 0.0, start, 0), series(33, 10.0, start, 1)]
        return [series(25, {"val": 100.0, "test": 200.0}[split], start, 2)]


@pytest.mark.parametrize("input_length", [1, 5, 12])
@pytest.mark.parametrize("horizon", [1, 4])
@pytest.mark.parametrize("stride", [1, 3])
def test_windows_are_every_stride_and_hold_the_next_horizon_values(input_length, horizon, stride):
    data = SyntheticForecasting(
        batch_size=4, input_length=input_length, horizon=horizon, stride=stride
    )
    data.setup()
    span = input_length + horizon
    expected = sum(len(range(0, n - span + 1, stride)) for n in (40, 33))
    assert len(data.datasets["train"]) == expected
    raw = data.scale(np.asarray(data.load_split("val")[0]["values"]))  # brute force
    for k, window in enumerate(data.datasets["val"]):
        start = k * stride
        np.testing.assert_allclose(
            window["history"], raw[start : start + input_length], rtol=1e-5, atol=1e-5
        )
        np.testing.assert_allclose(
            window["target"][:, 0],
            raw[start + input_length : start + span, 0],
            rtol=1e-5,
            atol=1e-5,
        )
        np.testing.assert_allclose(
            window["covariates"][:, 0],
            raw[start + input_length : start + span, 2],
            rtol=1e-5,
            atol=1e-5,
        )
    batch = next(iter(data.val_dataloader()))
    n = batch["history"].shape[0]
    assert batch["history"].shape == (n, input_length, 3)
    assert batch["target"].shape == (n, horizon, 1)
    assert batch["future_covariates"].shape == (n, horizon, 1)
    assert len(batch["horizon_dates"][0]) == horizon


def test_scaler_is_fitted_on_train_only_and_round_trips_through_json():
    data = SyntheticForecasting(input_length=6, horizon=2)
    data.setup()
    train = np.concatenate([np.asarray(s["values"]) for s in data.load_split("train")])
    np.testing.assert_allclose(data.mean, train.mean(axis=0))
    np.testing.assert_allclose(data.std, train.std(axis=0))
    restored = SyntheticForecasting(input_length=6, horizon=2)
    restored.restore(json.loads(json.dumps(data.artifacts())))
    restored.setup()
    for split in ("train", "val", "test"):
        first, again = data.datasets[split][3], restored.datasets[split][3]
        np.testing.assert_array_equal(first["history"], again["history"])
    assert restored.spec == data.spec
    target = torch.from_numpy(data.datasets["test"][0]["target"])
    original = data.unscale_targets(target)[:, 0].numpy()
    np.testing.assert_allclose(
        original, np.asarray(data.load_split("test")[0]["values"])[6:8, 0], rtol=1e-5
    )


def test_no_known_future_features_means_no_covariates():
    data = SyntheticForecasting(input_length=6, horizon=2, known_future=[])
    data.setup()
    assert data.spec["num_covariates"] == 0
    assert "future_covariates" not in next(iter(data.train_dataloader()))


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"known_future": ["wind"]}, "known_future"),
        ({"known_future": ["load"]}, "target"),
        ({"input_length": 0}, "input_length"),
        ({"horizon": 30}, "no window"),
    ],
)
def test_bad_options_name_themselves(arguments, message):
    with pytest.raises(ValueError, match=message):
        SyntheticForecasting(**arguments).setup()


def test_nan_in_a_series_names_the_series_and_step():
    class WithNan(SyntheticForecasting):
        def load_split(self, split):
            examples = super().load_split(split)
            examples[0]["values"][7][1] = float("nan")
            examples[0]["source"] = "station 4"
            return examples

    with pytest.raises(ValueError, match="station 4: NaN .* step 7 of temperature"):
        WithNan(input_length=4, horizon=2).setup()


@pytest.fixture
def fitted():
    data = SyntheticForecasting(input_length=5, horizon=3)
    data.setup()
    return data


def write(path, header, rows):
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return str(path)


def good_rows(history: int = 6, future: int = 3) -> list[list]:
    start = date(2021, 3, 1)
    rows = [
        [(start + timedelta(days=i)).isoformat(), 10.0 + i, 20.0, 0.1 * i]
        for i in range(history + future)
    ]
    for row in rows[history:]:
        row[1] = row[2] = ""
    return rows


def test_csv_input_gives_the_last_window_and_the_future_covariates(fitted, tmp_path):
    path = write(
        tmp_path / "in.csv",
        ["date", "temperature", "load", "hour_sin", "extra"],
        [[d, t, v, s, "x"] for d, v, t, s in good_rows()],
    )
    batch = fitted.batch_from_raw(path)
    assert batch["history"].shape == (1, 5, 3)
    expected = fitted.scale(np.array([[11.0 + i, 20.0, 0.1 * (i + 1)] for i in range(5)]))
    np.testing.assert_allclose(batch["history"][0].numpy(), expected, rtol=1e-5)
    assert batch["future_covariates"].shape == (1, 3, 1)
    assert batch["horizon_dates"] == [["2021-03-07", "2021-03-08", "2021-03-09"]]
    assert "target" not in batch


@pytest.mark.parametrize(
    ("header", "rows", "message"),
    [
        (["date", "load", "hour_sin"], good_rows(), r"missing the columns \['temperature'\]"),
        (
            ["date", "load", "temperature", "hour_sin"],
            good_rows(history=3),
            r"at least 5 \(input_length\) rows",
        ),
        (["date", "load", "temperature", "hour_sin"], good_rows(future=1), "future rows"),
        (
            ["date", "load", "temperature", "hour_sin"],
            [r if i != 4 else [r[0], "NaN", 1, 1] for i, r in enumerate(good_rows())],
            r"line 6: column 'load': expected a finite number",
        ),
        (
            ["date", "load", "temperature", "hour_sin"],
            [r if i != 2 else [r[0], 1, "warm", 1] for i, r in enumerate(good_rows())],
            r"line 4: column 'temperature': expected a number, got 'warm'",
        ),
    ],
    ids=["missing-column", "too-few-rows", "no-future-rows", "nan", "not-a-number"],
)
def test_bad_csv_input_names_the_file_and_what_is_wrong(fitted, tmp_path, header, rows, message):
    path = write(tmp_path / "bad.csv", header, rows)
    with pytest.raises(ValueError, match=message) as error:
        fitted.batch_from_raw(path)
    assert "bad.csv" in str(error.value)


def test_a_missing_csv_file_is_file_not_found(fitted, tmp_path):
    with pytest.raises(FileNotFoundError):
        fitted.batch_from_raw(str(tmp_path / "absent.csv"))


def test_builtin_co2_windows_and_spec():
    data = BuiltinForecastingDataModule(input_length=104, horizon=26)
    data.setup()
    assert data.spec["num_features"] == 3 and data.spec["num_covariates"] == 2
    assert data.spec["target_names"] == ["co2"]
    assert len(data.datasets["val"]) == 343 - 130 + 1
