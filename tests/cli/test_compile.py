"""``compile: true`` (or torch.compile's keyword arguments) compiles a task's model: the same
training losses as eager, every built-in task trains (slow), and bad settings are one line."""

from __future__ import annotations

import pytest

from hydra_helpers import BUILTIN_TASKS, compose_run, one_thread
from rnnkit.cli.errors import ConfigError
from rnnkit.cli.recorded_run import train_recorded_run
from rnnkit.cli.train import prepare, train
from rnnkit.cli.validation import validate_run_config

pytestmark = pytest.mark.filterwarnings("ignore")

# aot_eager traces with dynamo and AOT autograd, as inductor does, without compiling C++.
AOT_EAGER = "compile={backend: aot_eager}"


def test_compile_setting_compiles_forward_and_loss(make_config):
    _, task = prepare(make_config(["experiment=translation", AOT_EAGER]))
    assert task.model._compiled_call_impl is not None
    assert hasattr(task.model.loss, "_torchdynamo_orig_callable")
    assert list(task.state_dict()) == list(
        prepare(make_config(["experiment=translation"]))[1].state_dict()
    )


def test_compiled_training_losses_equal_eager(tmp_path):
    losses = {}
    for name, extra in (("eager", []), ("compiled", [AOT_EAGER])):
        overrides = [
            "experiment=sentiment",
            "num_threads=1",
            "data.batch_size=16",
            "trainer.max_epochs=1",
            "trainer.limit_train_batches=3",
            "trainer.limit_val_batches=1",
            "trainer.enable_progress_bar=false",
            "test=false",
            *extra,
        ]
        with one_thread():
            losses[name] = train_recorded_run(compose_run(overrides, tmp_path / name)).losses
    assert len(losses["eager"]) == 3
    assert losses["compiled"] == pytest.approx(losses["eager"], rel=1e-5, abs=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("experiment", BUILTIN_TASKS)
def test_every_builtin_task_trains_compiled(make_config, experiment):
    cfg = make_config(
        [
            f"experiment={experiment}",
            "debug=fast_dev_run",
            "num_threads=1",
            "data.batch_size=8",
            "compile=true",
        ]
    )
    train(cfg)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("compile=3", "compile: expected true, false or a mapping"),
        ("compile={mdoe: default}", r"compile\.mdoe: unknown key; did you mean compile\.mode"),
    ],
)
def test_bad_compile_setting_is_a_config_error(make_config, value, expected):
    with pytest.raises(ConfigError, match=expected):
        validate_run_config(make_config([value]))
