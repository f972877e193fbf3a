"""``trainer.precision=bf16-mixed`` trains every built-in task on CPU, with the losses of the
first steps within 2% of float32's, and a bad precision is one clear line."""

from __future__ import annotations

import pytest

from hydra_helpers import BUILTIN_TASKS, compose_run, one_thread
from rnnkit.cli.errors import ConfigError
from rnnkit.cli.recorded_run import train_recorded_run
from rnnkit.cli.train import train
from rnnkit.cli.validation import validate_run_config


@pytest.mark.parametrize("experiment", BUILTIN_TASKS)
def test_bf16_mixed_fast_dev_run(make_config, experiment):
    cfg = make_config(
        [
            f"experiment={experiment}",
            "debug=fast_dev_run",
            "num_threads=1",
            "data.batch_size=8",
            "trainer.precision=bf16-mixed",
        ]
    )
    train(cfg)


def test_bf16_mixed_losses_stay_within_two_percent_of_float32(tmp_path):
    """Translation (GRU encoder-decoder with attention: embeddings, a bridge to the decoder's
    initial state, step-by-step decoding) from the same seed and batches: every one of the
    first training losses within 2% of float32's."""
    losses = {}
    for precision in ("32-true", "bf16-mixed"):
        overrides = [
            "experiment=translation",
            "num_threads=1",
            "data.batch_size=16",
            "trainer.max_epochs=1",
            "trainer.limit_train_batches=6",
            "trainer.limit_val_batches=1",
            "trainer.enable_progress_bar=false",
            f"trainer.precision={precision}",
            "test=false",
        ]
        with one_thread():
            run = train_recorded_run(compose_run(overrides, tmp_path / precision))
        losses[precision] = run.losses
    assert len(losses["32-true"]) == 6
    for step, (full, mixed) in enumerate(zip(losses["32-true"], losses["bf16-mixed"], strict=True)):
        assert abs(mixed - full) <= 0.02 * abs(full), f"step {step}: {mixed} against {full}"
    # The two runs really differ in precision (identical losses would mean no autocast).
    assert losses["32-true"] != losses["bf16-mixed"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [("bogus", r"^trainer\.precision: expected .*'bf16-mixed'.*got 'bogus'"), ("16-mixed", "GPU")],
)
def test_bad_precision_is_a_config_error_naming_the_key(make_config, value, expected):
    cfg = make_config([f"trainer.precision={value}", "trainer.accelerator=cpu"])
    with pytest.raises(ConfigError, match=expected):
        validate_run_config(cfg)
