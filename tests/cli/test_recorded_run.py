"""train_recorded_run trains what rnnkit-train trains and keeps what the callbacks recorded."""

from __future__ import annotations

import json
import math

from hydra_helpers import compose_run, one_thread
from rnnkit.cli.recorded_run import RecordedRun, train_recorded_run
from rnnkit.cli.train import train
from rnnkit.layers.initialization import chrono_init

RUN = [
    "experiment=long_range",
    "data.lag=5",
    "data.train_size=96",
    "data.val_size=32",
    "data.test_size=32",
    "data.batch_size=16",
    "cell.hidden_size=8",
    "trainer.max_epochs=2",
    "trainer.enable_progress_bar=false",
    "callbacks.gradient_flow.every_n_steps=4",
    "callbacks.gradient_norms.every_n_steps=1",
]


def test_a_recorded_run_keeps_every_loss_and_the_callbacks_history(tmp_path):
    seen = []

    def initialise(task):
        seen.append(task)
        chrono_init(task.model.rnn, max_timescale=10)

    with one_thread():
        run = train_recorded_run(compose_run(RUN, tmp_path / "recorded"), initialise)
    assert isinstance(run, RecordedRun)
    assert run.steps == 12  # 96 / 16 batches, 2 epochs
    assert len(run.losses) == 12 and all(math.isfinite(loss) for loss in run.losses)
    assert [snapshot.step for snapshot in run.grad_flow] == [0, 4, 8]
    assert [entry["step"] for entry in run.grad_norms] == list(range(12))
    assert {"val/acc", "test/acc", "test/loss"} <= set(run.metrics)
    assert run.seconds > 0
    (task,) = seen
    forget = task.model.rnn.bias_ih_l0[8:16].detach()  # trained from chrono biases
    assert forget.min() > -1 and forget.max() < math.log(9) + 1
    assert (tmp_path / "recorded" / "metrics.csv").is_file()
    assert (tmp_path / "recorded" / "checkpoints" / "best.ckpt").is_file()


def test_without_initialise_it_is_the_run_rnnkit_train_makes(tmp_path):
    overrides = [*RUN, "trainer.max_epochs=3"]
    with one_thread():
        run = train_recorded_run(compose_run(overrides, tmp_path / "recorded"))
        train(compose_run(overrides, tmp_path / "cli"))
    reported = json.loads((tmp_path / "cli" / "metrics.json").read_text())
    assert reported["test/acc"] == run.metrics["test/acc"]
    assert reported["val/acc"] == run.metrics["val/acc"]
    assert reported["test/loss"] == run.metrics["test/loss"]
