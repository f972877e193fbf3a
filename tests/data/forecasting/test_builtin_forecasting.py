"""The built-in forecasting data: chronological splits, filled gaps, and order-blind baselines."""

from datetime import date

import numpy as np
import pytest

from rnnkit.data.forecasting import builtin as forecasting

SPLITS = ("train", "val", "test")
LENGTHS = {"co2": 2284, "sunspots": 309}
STEP_DAYS = {"co2": (7, 7), "sunspots": (365, 366)}


def _segments(series):
    return {split: forecasting.load(split, series=series) for split in SPLITS}


@pytest.mark.parametrize("series", sorted(LENGTHS))
def test_one_example_per_split_with_consistent_fields(series):
    for examples in _segments(series).values():
        assert len(examples) == 1
        example = examples[0]
        values = np.asarray(example["values"])
        assert values.shape == (len(example["dates"]), len(example["feature_names"]))
        assert np.isfinite(values).all()
        assert set(example["target_names"]) <= set(example["feature_names"])
        assert set(example["known_future_names"]) <= set(example["feature_names"])
        assert not set(example["known_future_names"]) & set(example["target_names"])


@pytest.mark.parametrize("series", sorted(LENGTHS))
def test_splits_are_contiguous_chronological_segments(series):
    segments = {split: examples[0] for split, examples in _segments(series).items()}
    dates = [date.fromisoformat(d) for split in SPLITS for d in segments[split]["dates"]]
    assert len(dates) == LENGTHS[series]
    gaps = {(b - a).days for a, b in zip(dates, dates[1:])}
    assert gaps <= set(STEP_DAYS[series])  # strictly increasing, evenly spaced, no overlap
    sizes = [len(segments[split]["dates"]) for split in SPLITS]
    assert np.allclose(np.array(sizes) / sum(sizes), [0.70, 0.15, 0.15], atol=0.01)


def test_co2_agrees_with_statsmodels_and_gaps_are_interpolated():
    co2 = pytest.importorskip("statsmodels.datasets.co2")
    frame = co2.load_pandas().data
    dates, values, _, _ = forecasting._series("co2")
    assert [d.date().isoformat() for d in frame.index] == list(dates)
    measured = frame["co2"].to_numpy()
    missing = np.isnan(measured)
    assert 50 < missing.sum() < 70
    assert np.array_equal(values[~missing, 0], measured[~missing])
    for index in np.flatnonzero(missing):  # between the nearest measured neighbours
        before = measured[:index][~missing[:index]][-1]
        after = measured[index + 1 :][~missing[index + 1 :]][0]
        assert min(before, after) <= values[index, 0] <= max(before, after)


def test_season_covariates_lie_on_the_unit_circle():
    example = forecasting.load("train")[0]
    values = np.asarray(example["values"])
    sin = values[:, example["feature_names"].index("season_sin")]
    cos = values[:, example["feature_names"].index("season_cos")]
    assert np.allclose(sin**2 + cos**2, 1.0)
    assert sin.min() < -0.99 and sin.max() > 0.99


def test_seed_has_no_effect():
    assert forecasting.load("val", seed=0) == forecasting.load("val", seed=123)


def _window_errors(input_length, horizon):
    """Mean absolute errors on the co2 test windows of three simple forecasters."""
    target = np.asarray(forecasting.load("test")[0]["values"])[:, 0]
    errors = {"window_mean": [], "last_value": [], "seasonal_naive": []}
    for start in range(len(target) - input_length - horizon + 1):
        past = target[start : start + input_length]
        future = target[start + input_length : start + input_length + horizon]
        errors["window_mean"].append(np.abs(future - past.mean()).mean())  # order-blind
        errors["last_value"].append(np.abs(future - past[-1]).mean())
        yearly_increase = past[-52:].mean() - past[:52].mean()
        same_week_last_year = past[input_length - 52 : input_length - 52 + horizon]
        errors["seasonal_naive"].append(
            np.abs(future - same_week_last_year - yearly_increase).mean()
        )
    return {name: float(np.mean(values)) for name, values in errors.items()}


def test_order_blind_window_mean_is_far_worse_than_order_aware_rules():
    errors = _window_errors(forecasting.DEFAULT_INPUT_LENGTH, forecasting.DEFAULT_HORIZON)
    assert errors["window_mean"] >= 2.0  # ppm
    assert errors["window_mean"] >= 2 * errors["seasonal_naive"]


@pytest.mark.parametrize("series", sorted(LENGTHS))
def test_default_windows_fit_the_evaluation_segments(series):
    input_length, horizon = forecasting.WINDOWS[series]
    shortest = min(len(forecasting.load(split, series=series)[0]["dates"]) for split in SPLITS)
    assert shortest - input_length - horizon + 1 >= 15  # windows per val/test segment


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [({"split": "future"}, "split"), ({"split": "train", "series": "ozone"}, "series")],
)
def test_bad_arguments_are_named(kwargs, argument):
    with pytest.raises(ValueError, match=argument):
        forecasting.load(**kwargs)


def test_interpolation_rejects_all_missing():
    with pytest.raises(ValueError, match="values"):
        forecasting._interpolate_missing(np.full(4, np.nan))


def test_prediction_computes_the_season_from_the_dates(tmp_path):
    """A CSV of dates and co2 is enough: season_sin/season_cos are derived, as in training."""
    from rnnkit.data.forecasting.builtin import BuiltinForecastingDataModule

    dm = BuiltinForecastingDataModule(input_length=104, horizon=26)
    dm.setup()
    (series,) = forecasting.load("val")
    rows = [f"{d},{v[0]}" for d, v in zip(series["dates"][:104], series["values"][:104])]
    (tmp_path / "co2.csv").write_text("\n".join(["date,co2", *rows]) + "\n")
    batch = dm.batch_from_raw(str(tmp_path / "co2.csv"))
    window = dm.datasets["val"][0]  # the same 104 weeks, then the next 26
    np.testing.assert_allclose(batch["history"][0].numpy(), window["history"], atol=1e-5)
    np.testing.assert_allclose(
        batch["future_covariates"][0].numpy(), window["covariates"], atol=1e-5
    )
    assert batch["horizon_dates"] == [series["dates"][104:130]]
    (tmp_path / "undated.csv").write_text("co2\n" + "\n".join(r.split(",")[1] for r in rows))
    with pytest.raises(ValueError, match=r"missing the columns \['date'\]"):
        dm.parse_raw(str(tmp_path / "undated.csv"))
