"""``rnnkit-draw``: every experiment config draws; config -> spec mapping; errors name the key."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

# Globbed when the tests are collected: experiments added later are covered automatically.
from hydra_helpers import CONFIG_DIR, EXPERIMENTS  # noqa: E402
from rnnkit.cli.draw import draw
from rnnkit.diagrams import artists_with_role, draw_unrolled
from rnnkit.diagrams.from_config import cell_name, spec_from_config, task_kind

PNG = b"\x89PNG\r\n\x1a\n"
# The pattern each task kind draws (forecasting depends on model.strategy, tested below).
PATTERN_OF_KIND = {
    "sentiment": "many_to_one",
    "tagging": "many_to_many",
    "translation": "encoder_decoder",
    "captioning": "one_to_many",
    "language_model": "many_to_many",
    "speech": "many_to_many",
    "music": "many_to_many",
    "forecasting": ("encoder_decoder", "many_to_one"),
}


@pytest.fixture
def make_config():
    def make(overrides: list[str]):
        GlobalHydra.instance().clear()
        with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
            return compose("draw", overrides=overrides)

    yield make
    GlobalHydra.instance().clear()


def test_there_are_experiments_to_draw():
    assert "sentiment" in EXPERIMENTS


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_draws(make_config, tmp_path, experiment):
    cfg = make_config([f"experiment={experiment}", f"output={tmp_path / 'arch.png'}"])
    path = draw(cfg)
    assert path == tmp_path / "arch.png"
    assert path.read_bytes().startswith(PNG)
    spec = spec_from_config(cfg)
    expected = PATTERN_OF_KIND[task_kind(cfg.task._target_)]
    assert spec.pattern in (expected if isinstance(expected, tuple) else (expected,))
    assert spec.num_layers == cfg.cell.num_layers
    assert spec.bidirectional == cfg.cell.get("bidirectional", False)
    assert spec.title.startswith(f"{cfg.experiment_name}: ")


def test_svg_output(make_config, tmp_path):
    cfg = make_config(["experiment=sentiment", f"output={tmp_path / 'sub' / 'arch.svg'}"])
    text = draw(cfg).read_text()
    assert text.lstrip().startswith("<?xml") and "<svg" in text


@pytest.mark.parametrize("output", ["arch.jpg", "arch", "arch.svgz"])
def test_unknown_output_extension_is_a_clear_error(make_config, tmp_path, output):
    cfg = make_config(["experiment=sentiment", f"output={tmp_path / output}"])
    with pytest.raises(ValueError, match=r"^output: expected .*\.png.*\.svg.*got"):
        draw(cfg)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("experiment", ["sentiment", "tagging"])
def test_bidirectional_override_adds_rows(make_config, experiment):
    one = spec_from_config(make_config([f"experiment={experiment}", "cell.bidirectional=false"]))
    two = spec_from_config(
        make_config([f"experiment={experiment}", "cell.bidirectional=true", "cell.num_layers=2"])
    )
    assert (one.hidden_rows, two.hidden_rows) == (1, 4)
    hidden = [len(artists_with_role(draw_unrolled(s), "hidden")) for s in (one, two)]
    assert hidden[1] == 4 * hidden[0]


@pytest.mark.parametrize(
    ("cell", "name", "recurrent", "cell_state"),
    [
        ("lstm", "lstm", True, True),
        ("gru", "gru", True, False),
        ("rnn", "rnn", True, False),
        ("peephole_lstm", "peephole_lstm", True, True),
        ("layer_norm_lstm", "layer_norm_lstm", True, True),
        ("feedforward", "feed_forward", False, False),
    ],
)
def test_cell_group_override(make_config, cell, name, recurrent, cell_state):
    cfg = make_config(["experiment=tagging", f"cell={cell}", "steps=3"])
    spec = spec_from_config(cfg)
    assert (spec.cell, spec.is_recurrent, spec.has_cell_state) == (name, recurrent, cell_state)
    assert spec.steps_in == 3
    figure = draw_unrolled(spec)
    arrows = 2 * spec.hidden_rows if recurrent else 0  # 3 steps: 2 arrows per row
    assert len(artists_with_role(figure, "recurrence")) == arrows


def synthetic(task: str, model: dict | None = None, **cell) -> dict:
    """A composed config for a task whose configs may not exist yet."""
    return {
        "experiment_name": "demo",
        "task": {"_target_": task},
        "cell": {"_target_": "rnnkit.GRU", "num_layers": 1, "bidirectional": False, **cell},
        "model": model or {},
        "data": {"horizon": 6},
    }


@pytest.mark.parametrize(
    ("task", "model", "expected"),
    [
        (
            "rnnkit.tasks.sentiment.SentimentTask",
            {"pooling": "max"},
            {"pattern": "many_to_one", "pooling": "max", "steps_out": 1},
        ),
        (
            "rnnkit.tasks.tagging.TaggingTask",
            {"crf": True},
            {"pattern": "many_to_many", "feedback": "none"},
        ),
        (
            "rnnkit.tasks.translation.TranslationTask",
            {"attention": "general"},
            {"pattern": "encoder_decoder", "attention": "general", "feedback": "dashed"},
        ),
        (
            "rnnkit.tasks.translation.TranslationTask",
            {"attention": "none"},
            {"pattern": "encoder_decoder", "attention": None},
        ),
        (
            "rnnkit.tasks.captioning.CaptioningTask",
            {"attention": "additive"},
            {"pattern": "one_to_many", "attention": "additive", "steps_out": 4},
        ),
        (
            "rnnkit.tasks.forecasting.ForecastingTask",
            {"strategy": "autoregressive"},
            {"pattern": "encoder_decoder", "feedback": "solid", "steps_out": 4},
        ),
        (
            "rnnkit.tasks.forecasting.ForecastingTask",
            {"strategy": "direct", "horizon": 2},
            {"pattern": "many_to_one", "steps_out": 2, "feedback": "none"},
        ),
        (
            "rnnkit.tasks.language_model.LanguageModelTask",
            {},
            {"pattern": "many_to_many", "feedback": "dashed"},
        ),
    ],
)
def test_task_to_pattern(task, model, expected):
    spec = spec_from_config(synthetic(task, model))
    assert {key: getattr(spec, key) for key in expected} == expected
    draw_unrolled(spec)


@pytest.mark.parametrize("task", ["translation.TranslationTask", "forecasting.ForecastingTask"])
def test_decoder_overrides(task):
    model = {"strategy": "autoregressive", "decoder": {"num_layers": 3, "hidden_size": 8}}
    spec = spec_from_config(synthetic(f"rnnkit.tasks.{task}", model, num_layers=2))
    assert (spec.pattern, spec.num_layers, spec.decoder_layers) == ("encoder_decoder", 2, 3)
    model["decoder"] = {"bidirectional": True}
    with pytest.raises(ValueError, match=r"^model\.decoder\.bidirectional: .*got True"):
        spec_from_config(synthetic(f"rnnkit.tasks.{task}", model))
    model["decoder"] = {"num_layers": 0}
    with pytest.raises(ValueError, match=r"^model\.decoder\.num_layers: .*got 0"):
        spec_from_config(synthetic(f"rnnkit.tasks.{task}", model))


def test_translation_encoder_may_be_bidirectional():
    config = synthetic(
        "rnnkit.tasks.translation.TranslationTask",
        {"attention": "dot"},
        bidirectional=True,
        num_layers=2,
    )
    spec = spec_from_config(config)
    figure = draw_unrolled(spec)
    assert spec.hidden_rows == 4
    # encoder: 4 rows x 4 steps; decoder: 2 rows x 3 steps.
    assert len(artists_with_role(figure, "hidden")) == 4 * 4 + 2 * 3
    assert len(artists_with_role(figure, "attention")) == 4 * 3


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ({"_target_": "rnnkit.LSTM"}, "lstm"),
        ({"_target_": "torch.nn.GRU"}, "gru"),
        ({"_target_": "rnnkit.layers.standard.RNN"}, "rnn"),
        ({"_target_": "rnnkit.Recurrent", "cell": {"_target_": "rnnkit.cells.LSTMCell"}}, "lstm"),
        (
            {"_target_": "rnnkit.Recurrent", "cell": {"_target_": "my.cells.MinimalRNNCell"}},
            "minimal_rnn",
        ),
        (
            {"_target_": "rnnkit.Recurrent", "cell": {"_target_": "x.LayerNormLSTMCell"}},
            "layer_norm_lstm",
        ),
    ],
)
def test_cell_name(cell, expected):
    assert cell_name(cell) == expected


@pytest.mark.parametrize(
    ("config", "key"),
    [
        (synthetic("rnnkit.tasks.mystery.MysteryTask"), "task._target_"),
        ({**synthetic("x"), "task": {}}, "task._target_"),
        (
            synthetic("rnnkit.tasks.forecasting.ForecastingTask", {"strategy": "teleport"}),
            "model.strategy",
        ),
        (synthetic("rnnkit.tasks.forecasting.ForecastingTask", {"horizon": 0}), "model.horizon"),
        (
            synthetic("rnnkit.tasks.captioning.CaptioningTask", bidirectional=True),
            "cell.bidirectional",
        ),
        (
            synthetic("rnnkit.tasks.language_model.LanguageModelTask", bidirectional=True),
            "cell.bidirectional",
        ),
        (synthetic("rnnkit.tasks.tagging.TaggingTask", num_layers=0), "cell.num_layers"),
        (synthetic("rnnkit.tasks.sentiment.SentimentTask", {"pooling": "median"}), "model.pooling"),
        (
            synthetic("rnnkit.tasks.translation.TranslationTask", {"attention": 7}),
            "model.attention",
        ),
        (
            {
                **synthetic("rnnkit.tasks.tagging.TaggingTask"),
                "cell": {"_target_": "rnnkit.Recurrent"},
            },
            "cell.cell._target_",
        ),
        (
            {**synthetic("rnnkit.tasks.tagging.TaggingTask"), "cell": {"hidden_size": 3}},
            "cell._target_",
        ),
    ],
)
def test_config_errors_name_the_key(config, key):
    with pytest.raises(ValueError, match=rf"^{key.replace('.', '[.]')}: .*"):
        spec_from_config(OmegaConf.create(config))


def test_draw_runs_in_place(make_config):
    """draw.yaml keeps rnnkit-draw from creating a run folder, .hydra/ or a log file."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        hydra_config = compose("draw", ["experiment=sentiment"], return_hydra_config=True).hydra
    assert hydra_config.run.dir == "." and hydra_config.output_subdir is None
    assert list(hydra_config.job_logging.root.handlers) == ["console"]
    assert hydra_config.job_logging.handlers.file.delay is True


@pytest.mark.slow
def test_command_line(tmp_path):
    """The console entry point: Hydra composes draw.yaml, and nothing but the picture is
    written (no run folder, no .hydra/, no log file)."""
    environment = {**os.environ, "HYDRA_FULL_ERROR": "0"}
    command = [sys.executable, "-m", "rnnkit.cli.draw", "experiment=sentiment", "cell=gru"]
    done = subprocess.run(
        command + ["output=out/arch.png"],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "wrote out/arch.png" in done.stdout
    assert [p.name for p in tmp_path.rglob("*")] == ["out", "arch.png"]
    assert (tmp_path / "out" / "arch.png").read_bytes().startswith(PNG)
    failed = subprocess.run(
        command + ["output=arch.gif"],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert failed.returncode == 2
    assert "rnnkit: error: output: expected" in failed.stderr
