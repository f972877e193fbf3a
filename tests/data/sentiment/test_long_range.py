"""The long-range (copy-the-first-symbol) data and the long_range experiment end to end."""

from __future__ import annotations

import json
import math

import pytest

from hydra_helpers import compose_run, one_thread
from rnnkit.cli.predict import predict
from rnnkit.cli.train import train
from rnnkit.data.sentiment.long_range import BLANK, QUERY, LongRangeDataModule, long_range_examples

SMALL = dict(train_size=64, val_size=16, test_size=16)


@pytest.mark.parametrize(
    ("lag", "num_classes", "num_distractors"), [(0, 2, 0), (7, 8, 0), (5, 3, 4)]
)
def test_examples_have_the_promised_shape(lag, num_classes, num_distractors):
    examples = long_range_examples(200, lag, num_classes, num_distractors, seed=3)
    fillers = {f"d{k}" for k in range(num_distractors)} or {BLANK}
    for example in examples:
        tokens = example["text"].split()
        assert len(tokens) == lag + 2
        assert tokens[0] == example["label"] and tokens[-1] == QUERY
        assert set(tokens[1:-1]) <= fillers
    assert {e["label"] for e in examples} == {f"s{k}" for k in range(num_classes)}
    assert examples == long_range_examples(200, lag, num_classes, num_distractors, seed=3)
    assert examples != long_range_examples(200, lag, num_classes, num_distractors, seed=4)


def test_splits_are_deterministic_distinct_and_sized():
    first, second = LongRangeDataModule(lag=4, **SMALL), LongRangeDataModule(lag=4, **SMALL)
    splits = {split: first.load_split(split) for split in ("train", "val", "test")}
    assert {split: len(v) for split, v in splits.items()} == {"train": 64, "val": 16, "test": 16}
    assert splits["train"] == second.load_split("train")
    assert splits["val"] != splits["test"][: len(splits["val"])]
    assert LongRangeDataModule(lag=4, data_seed=1, **SMALL).load_split("train") != splits["train"]


def test_artifacts_come_from_train_and_round_trip_through_json():
    datamodule = LongRangeDataModule(lag=6, num_distractors=3, batch_size=5, **SMALL)
    datamodule.setup("fit")
    reference = LongRangeDataModule(lag=6, num_distractors=3, **SMALL)
    reference.fit_artifacts(reference.load_split("train"))
    assert datamodule.artifacts() == reference.artifacts()

    restored = LongRangeDataModule(lag=6, num_distractors=3, **SMALL)
    restored.restore(json.loads(json.dumps(datamodule.artifacts())))
    assert restored.spec == datamodule.spec
    assert datamodule.spec["num_classes"] == 8
    example = datamodule.load_split("test")[0]
    assert restored.encode(example) == datamodule.encode(example)

    batch = next(iter(datamodule.train_dataloader()))
    assert tuple(batch["tokens"].shape) == (5, 8)
    assert batch["lengths"].tolist() == [8] * 5
    raw = restored.batch_from_raw("s3 _ _ _ ?")
    assert raw["tokens"].shape == (1, 5) and raw["labels"].tolist() == [-1]
    assert "chance_accuracy" in datamodule.summary()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"lag": -1}, "lag: expected an integer >= 0, got -1"),
        ({"lag": 2.5}, "lag: expected an integer >= 0"),
        ({"num_classes": 1}, "num_classes: expected an integer >= 2"),
        ({"num_distractors": True}, "num_distractors: expected an integer >= 0"),
        ({"train_size": 0}, "train_size: expected an integer >= 1"),
        ({"test_size": "9"}, "test_size: expected an integer >= 1"),
    ],
)
def test_bad_arguments_name_what_is_wrong(arguments, message):
    with pytest.raises(ValueError, match=message):
        LongRangeDataModule(**arguments)


def test_unknown_split_is_refused():
    with pytest.raises(ValueError, match="split: expected one of"):
        LongRangeDataModule(**SMALL).load_split("dev")


EXPERIMENT = [
    "experiment=long_range",
    "data.lag=5",
    "data.train_size=96",
    "data.val_size=32",
    "data.test_size=32",
    "data.batch_size=16",
    "cell.hidden_size=8",
    "trainer.enable_progress_bar=false",
]


def test_experiment_runs_under_fast_dev_run(tmp_path):
    with one_thread():
        result = train(compose_run([*EXPERIMENT, "debug=fast_dev_run"], tmp_path))
    assert result is not None and math.isfinite(result)


def test_short_training_logs_gradient_flow_and_predicts(tmp_path, capsys):
    overrides = [
        *EXPERIMENT,
        "trainer.max_epochs=1",
        "callbacks.gradient_flow.every_n_steps=2",
        "callbacks.gradient_norms.every_n_steps=1",
    ]
    with one_thread():
        train(compose_run(overrides, tmp_path))
    snapshots = json.loads((tmp_path / "gradient_flow.json").read_text())
    assert [s["step"] for s in snapshots] == [0, 2, 4]
    assert all(len(s["grad_norms"]["model.rnn.l0"]) == 7 for s in snapshots)

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(tmp_path), size_guidance={"images": 0}).Reload()
    scalars = events.Tags()["scalars"]
    assert "grad_flow/first_to_last_ratio/model.rnn.l0" in scalars
    assert "grad_norm/post_clip/global" in scalars
    assert max(e.value for e in events.Scalars("grad_norm/post_clip/global")) <= 1.0 + 1e-5
    assert {"grad_flow/norm_vs_time", "grad_flow/heatmap"} <= set(events.Tags()["images"])

    cfg = compose_run(
        [f"ckpt_path={tmp_path / 'checkpoints' / 'last.ckpt'}", "input=s3 _ _ _ _ _ ?"],
        tmp_path,
        "predict",
    )
    (line,) = predict(cfg)
    label, probability, sequence = line.split("\t")
    assert label in {f"s{k}" for k in range(8)} and 0 < float(probability) <= 1
    assert sequence == "s3 _ _ _ _ _ ?"
    assert line in capsys.readouterr().out


@pytest.mark.slow
def test_lstm_remembers_where_the_order_blind_baseline_cannot(tmp_path):
    """The built-in experiment (lag 10): LSTM near 1.0, cell=feedforward at chance (~0.125)."""
    accuracies = {}
    for cell in ("lstm", "feedforward"):
        overrides = ["experiment=long_range", f"cell={cell}", "trainer.enable_progress_bar=false"]
        with one_thread():
            accuracies[cell] = train(compose_run(overrides, tmp_path / cell))
    assert accuracies["lstm"] >= 0.9
    assert accuracies["feedforward"] <= 0.25
