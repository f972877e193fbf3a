"""The forecasting experiment end to end: train, test, predict from a CSV file, bad options."""

from __future__ import annotations

import csv
import math
from datetime import date, timedelta

import pytest
import torch

from hydra_helpers import compose_run, one_thread
from rnnkit.cli.predict import predict
from rnnkit.cli.train import prepare, train
from rnnkit.data.forecasting import builtin as forecasting
from rnnkit.layers.standard import GRU
from rnnkit.patterns.channel_independent import ChannelIndependent
from rnnkit.patterns.forecaster import Forecaster
from rnnkit.tasks.forecasting import WindowForecaster

SMALL = [
    "experiment=forecasting",
    "data.input_length=26",
    "data.horizon=4",
    "data.stride=3",
    "cell.hidden_size=8",
    "trainer.enable_progress_bar=false",
]
AUTOREGRESSIVE = [
    "model.strategy=autoregressive",
    "model.teacher_forcing={kind: linear, start: 1.0, end: 0.0, decay_steps: 4}",
]


@pytest.fixture(autouse=True)
def _one_thread():
    with one_thread():
        yield


@pytest.mark.parametrize("strategy", [[], AUTOREGRESSIVE], ids=["direct", "autoregressive"])
def test_experiment_runs_under_fast_dev_run(tmp_path, strategy):
    result = train(compose_run([*SMALL, *strategy, "debug=fast_dev_run"], tmp_path))
    assert result is not None and math.isfinite(result)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A short autoregressive run: 1 epoch of 6 batches (the schedule decays over 4 steps)."""
    folder = tmp_path_factory.mktemp("forecasting")
    with one_thread():
        train(
            compose_run(
                [
                    *SMALL,
                    *AUTOREGRESSIVE,
                    "trainer.max_epochs=1",
                    "+trainer.limit_train_batches=6",
                    "+trainer.limit_val_batches=2",
                    "+trainer.limit_test_batches=2",
                    "trainer.log_every_n_steps=1",
                ],
                folder,
            )
        )
    return folder


def test_training_logs_both_scales_baselines_and_the_schedule(trained):
    metrics = (trained / "metrics.json").read_text()
    for name in (
        "test/mse",
        "test/mse_original",
        "test/mae",
        "test/rmse_original",
        "test/mape",
        "test/smape_original",
        "test/baseline_mse",
        "test/baseline_mse_original",
        "test/persistence_mae_original",
    ):
        assert f'"{name}"' in metrics
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(trained), size_guidance={"images": 0}).Reload()
    ratios = [e.value for e in accumulator.Scalars("train/teacher_forcing_ratio")]
    assert ratios and ratios[-1] < ratios[0]
    assert "val/forecast" in accumulator.Tags()["images"]


def write_csv(path, rows, columns=("date", "co2", "season_sin", "season_cos")):
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        writer.writerows(rows)


def test_predict_prints_a_dated_forecast_table_in_ppm(trained, tmp_path, capsys):
    (series,) = forecasting.load("val")
    history = [[d, *v] for d, v in zip(series["dates"][:26], series["values"][:26])]
    future = [[d, "", *v[1:]] for d, v in zip(series["dates"][26:30], series["values"][26:30])]
    write_csv(tmp_path / "input.csv", history + future)
    cfg = compose_run(
        [f"ckpt_path={trained / 'checkpoints' / 'last.ckpt'}", f"input={tmp_path / 'input.csv'}"],
        tmp_path,
        "predict",
    )
    lines = "\n".join(predict(cfg)).split("\n")
    assert lines[1].split("\t") == ["step", "date", "co2"]
    rows = [line.split("\t") for line in lines[2:]]
    assert [r[0] for r in rows] == ["1", "2", "3", "4"]
    assert [r[1] for r in rows] == series["dates"][26:30]
    last = series["values"][25][0]
    assert all(abs(float(r[2]) - last) < 15 for r in rows)  # ppm, near the last observation
    assert lines[-1] in capsys.readouterr().out


def test_predict_names_the_file_and_line_of_a_bad_cell(trained, tmp_path):
    start = date(1990, 1, 6)
    rows = [[(start + timedelta(weeks=i)).isoformat(), 350.0 + i, 0.0, 1.0] for i in range(30)]
    for row in rows[26:]:
        row[1] = ""  # the future rows: known-future cells only
    rows[4][1] = "nan"
    write_csv(tmp_path / "bad.csv", rows)
    cfg = compose_run(
        [f"ckpt_path={trained / 'checkpoints' / 'last.ckpt'}", f"input={tmp_path / 'bad.csv'}"],
        tmp_path,
        "predict",
    )
    with pytest.raises(ValueError, match=r"bad\.csv: line 6: column 'co2'"):
        predict(cfg)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ([*AUTOREGRESSIVE, "cell.bidirectional=true"], "cell.bidirectional"),
        (["model.teacher_forcing={kind: constant, start: 0.5}"], "model.teacher_forcing"),
        (["model.strategy=sideways"], "model.strategy"),
        (["model.window_norm=median"], "window_norm"),
        (["data.known_future=[co2]"], "known_future"),
        (["model.channel_independent=yes"], "model.channel_independent: expected true or false"),
        (["model.segment_length=0"], "model.segment_length: expected a positive integer"),
        (["model.segment_length=4"], r"model.segment_length: data.input_length=26 must be"),
        ([*AUTOREGRESSIVE, "model.segment_length=2"], "model.segment_length: only used by"),
        (["model.highway_length=27"], "model.highway_length: reads the last 27 steps"),
    ],
)
def test_bad_options_are_refused_with_their_name(tmp_path, overrides, message):
    with pytest.raises(ValueError, match=message):
        train(compose_run([*SMALL, *overrides, "debug=fast_dev_run"], tmp_path))


@pytest.mark.parametrize("options", [[], AUTOREGRESSIVE], ids=["direct", "autoregressive"])
def test_literature_options_build_their_model_and_train(tmp_path, options):
    """Channel independence, segments (direct only), a highway and RevIN in one model."""
    extra = ["model.segment_length=13"] if not options else []
    overrides = [
        "model.channel_independent=true",
        "model.highway_length=8",
        "model.window_norm=revin",
        *extra,
    ]
    cfg = compose_run([*SMALL, *options, *overrides, "debug=fast_dev_run"], tmp_path)
    datamodule, task = prepare(cfg)
    spec, model = datamodule.spec, task.model
    assert isinstance(model.forecaster, ChannelIndependent)
    inner = model.forecaster.forecaster
    assert inner.num_targets == 1 and inner.highway.in_features == 8
    others = spec["num_features"] - spec["num_targets"]
    assert inner.encoder.input_size == (1 + others) * (13 if extra else 1)
    result = train(cfg)
    assert result is not None and math.isfinite(result)


@pytest.mark.parametrize("window_norm", ["mean", "revin"])
def test_revin_makes_the_forecast_follow_a_change_of_scale(window_norm):
    """Scaling a window's targets by 3 (about a new level) scales the forecast with RevIN."""
    torch.manual_seed(0)
    model = WindowForecaster(Forecaster(GRU(2, 6, batch_first=True), 3, 2), [0, 1], window_norm)
    model = model.double()
    history = torch.randn(4, 7, 2, dtype=torch.float64)
    scaled = 3.0 * history + 2.0
    difference = model(scaled) - (3.0 * model(history) + 2.0)
    if window_norm == "revin":
        # up to RevIN's eps on the variance
        torch.testing.assert_close(difference, torch.zeros_like(difference), rtol=0, atol=1e-4)
    else:
        assert difference.abs().max() > 1e-2


@pytest.mark.parametrize("window_norm", ["last", "mean", "revin", "none"])
@pytest.mark.parametrize("strategy", ["direct", "autoregressive"])
def test_window_norm_makes_the_forecast_follow_a_level_shift(window_norm, strategy):
    torch.manual_seed(0)
    decoder = GRU(1 + 1, 6, batch_first=True) if strategy == "autoregressive" else None
    forecaster = Forecaster(
        GRU(2, 6, batch_first=True), 3, 1, strategy, decoder, 1, [0] if decoder else None
    )
    model = WindowForecaster(forecaster, [0], window_norm).double()
    history = torch.randn(4, 7, 2, dtype=torch.float64)
    covariates = torch.randn(4, 3, 1, dtype=torch.float64)
    shifted = history.clone()
    shifted[..., 0] += 5.0
    difference = model(shifted, covariates) - model(history, covariates)
    if window_norm == "none":
        assert not torch.allclose(difference, torch.full_like(difference, 5.0), atol=1e-3)
    else:
        torch.testing.assert_close(difference, torch.full_like(difference, 5.0))


@pytest.mark.slow
def test_recurrent_forecaster_beats_the_order_blind_window_mean(tmp_path):
    train(
        compose_run(
            ["experiment=forecasting", "trainer.enable_progress_bar=false", "logger=csv"], tmp_path
        )
    )
    import json

    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["test/mse_original"] < 0.25 * metrics["test/baseline_mse_original"]
    assert metrics["test/mae_original"] < 0.5 * metrics["test/persistence_mae_original"]
