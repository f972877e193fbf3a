"""The captioning experiment end to end: train, test, caption an image file, bad options."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from hydra_helpers import compose_run, one_thread
from rnnkit.cli.predict import predict
from rnnkit.cli.train import train
from rnnkit.data.captioning import builtin as captioning
from rnnkit.tasks.image_encoder import ImageEncoder

SMALL = [
    "experiment=captioning",
    "data.num_train=192",
    "data.num_val=64",
    "data.num_test=64",
    "data.batch_size=32",
    "cell.hidden_size=16",
    "model.embedding_dim=8",
    "model.encoder_channels=[8,8,8]",
    "model.feature_size=8",
    "trainer.enable_progress_bar=false",
]


@pytest.fixture(autouse=True)
def _one_thread():
    with one_thread():
        yield


@pytest.mark.parametrize(
    "options",
    [
        ["model.attention=additive", "model.condition=both"],
        ["model.attention=none", "model.condition=init"],
        [
            "model.attention=general",
            "model.condition=input",
            "model.teacher_forcing={kind: linear, start: 1.0, end: 0.5, decay_steps: 2}",
        ],
    ],
    ids=["additive-both", "none-init", "general-input-scheduled"],
)
def test_experiment_runs_under_fast_dev_run(tmp_path, options):
    result = train(compose_run([*SMALL, *options, "debug=fast_dev_run"], tmp_path))
    assert result is not None and 0.0 <= result <= 1.0


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("captioning")
    with one_thread():
        train(
            compose_run(
                [
                    *SMALL,
                    "trainer.max_epochs=1",
                    "trainer.log_every_n_steps=1",
                    "model.teacher_forcing={kind: exponential, start: 1.0, k: 0.5}",
                ],
                folder,
            )
        )
    return folder


def test_training_logs_bleu_baseline_schedule_samples_and_attention_figure(trained):
    metrics = json.loads((trained / "metrics.json").read_text())
    for name in (
        "bleu1",
        "bleu2",
        "bleu3",
        "bleu4",
        "exact_match",
        "baseline_bleu1",
        "baseline_bleu4",
    ):
        assert 0.0 <= metrics[f"test/{name}"] <= 1.0
    assert metrics["test/baseline_bleu1"] > 0.15  # the constant caption shares digit words
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(trained), size_guidance={"images": 0, "tensors": 0}).Reload()
    ratios = [e.value for e in events.Scalars("train/teacher_forcing_ratio")]
    assert ratios[0] == 1.0 and ratios[1] == 0.5
    assert "val/captioned_image" in events.Tags()["images"]
    assert any(tag.startswith("val/samples") for tag in events.Tags()["tensors"])


def save_png(path, image: np.ndarray, scale: int = 1) -> None:
    pixels = (np.clip(image, 0.0, 1.0) * 255).astype(np.uint8)
    Image.fromarray(pixels).resize((image.shape[1] * scale, image.shape[0] * scale)).save(path)


def test_predict_captions_an_image_file_of_any_size(trained, tmp_path, capsys):
    example = captioning.load("test", num_test=1)[0]
    save_png(tmp_path / "digits.png", example["image"], scale=3)
    cfg = compose_run(
        [f"ckpt_path={trained / 'checkpoints' / 'last.ckpt'}", f"input={tmp_path / 'digits.png'}"],
        tmp_path,
        "predict",
    )
    (line,) = predict(cfg)
    caption, source = line.split("\t")
    assert source.endswith("digits.png")
    assert set(caption.split()) <= set(captioning.DIGIT_WORDS)
    assert line in capsys.readouterr().out


@pytest.mark.parametrize("content", [None, b"not an image at all"], ids=["missing", "garbage"])
def test_predict_refuses_a_missing_or_unreadable_file(trained, tmp_path, content):
    path = tmp_path / "photo.png"
    if content is not None:
        path.write_bytes(content)
    cfg = compose_run(
        [f"ckpt_path={trained / 'checkpoints' / 'last.ckpt'}", f"input={path}"], tmp_path, "predict"
    )
    error = FileNotFoundError if content is None else ValueError
    with pytest.raises(error, match="photo.png" if content else "image file not found"):
        predict(cfg)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["cell.bidirectional=true"], "cell.bidirectional"),
        (["model.condition=everywhere"], "condition"),
        (["model.attention=psychic"], "attention"),
        (["model.teacher_forcing={kind: linear, start: 1.0}"], "model.teacher_forcing"),
        (["model.encoder_channels=[]"], "encoder_channels"),
    ],
)
def test_bad_options_are_refused_with_their_name(tmp_path, overrides, message):
    with pytest.raises(ValueError, match=message):
        train(compose_run([*SMALL, *overrides, "debug=fast_dev_run"], tmp_path))


@pytest.mark.parametrize(("height", "width", "blocks"), [(12, 40, 3), (8, 8, 1), (9, 31, 2)])
def test_image_encoder_regions_match_the_grid_shape(height, width, blocks):
    encoder = ImageEncoder(1, [4] * blocks, feature_size=5)
    regions = encoder(torch.rand(2, 1, height, width))
    rows, columns = encoder.grid_shape(height, width)
    assert regions.shape == (2, rows * columns, 5)


def test_image_encoder_region_follows_the_image_content():
    """Row-major regions: ink in the right half only changes the right-hand regions."""
    encoder = ImageEncoder(1, [4, 4], feature_size=3).eval()
    blank, inked = torch.zeros(1, 1, 8, 16), torch.zeros(1, 1, 8, 16)
    inked[..., 12:] = 1.0
    rows, columns = encoder.grid_shape(8, 16)
    change = (encoder(inked) - encoder(blank)).abs().sum(-1).view(rows, columns)
    assert change[:, :2].sum() == 0 and change[:, 2:].sum() > 0


@pytest.mark.slow
def test_attention_captioner_beats_the_constant_caption_baseline(tmp_path):
    train(
        compose_run(
            ["experiment=captioning", "trainer.enable_progress_bar=false", "logger=csv"], tmp_path
        )
    )
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["test/bleu4"] > 0.4 > metrics["test/baseline_bleu4"]
    assert metrics["test/bleu1"] > metrics["test/baseline_bleu1"] + 0.4
    assert metrics["test/exact_match"] > 0.5
