"""CaptioningDataModule and the constant-caption baseline: batches, artifacts, image files."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
import torch
from PIL import Image
from torchmetrics.text import BLEUScore

from rnnkit.data.captioning.builtin import BuiltinCaptioningDataModule
from rnnkit.data.captioning.constant_caption import ConstantCaptionScorer, best_constant_caption
from rnnkit.data.captioning.datamodule import CaptioningDataModule
from rnnkit.data.io.vocabulary import BOS, EOS, UNK

CAPTIONS = {
    "train": [
        ["a", "red", "square"],
        ["a", "blue", "circle"],
        ["two", "red", "dots"],
        ["a", "square"],
    ],
    "val": [["a", "green", "square"], ["blue", "dots"]],
    "test": [["a", "red", "circle"]],
}


def image(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    return np.random.default_rng(seed).random(shape, dtype=np.float32)


class Shapes(CaptioningDataModule):
    shape: tuple[int, ...] = (6, 10)

    def load_split(self, split: str) -> list[dict]:
        return [
            {"image": image(i, self.shape), "caption": caption, "source": f"{split} {i}"}
            for i, caption in enumerate(CAPTIONS[split])
        ]


@pytest.mark.parametrize("shape", [(6, 10), (1, 6, 10), (3, 5, 7)])
def test_batches_hold_images_and_shifted_captions(shape):
    data = Shapes(batch_size=4)
    data.shape = shape
    data.setup()
    batch = next(iter(data.val_dataloader()))
    channels = 1 if len(shape) == 2 else shape[0]
    assert batch["images"].shape == (2, channels, *shape[-2:])
    bos, eos = data.vocab.id(BOS), data.vocab.id(EOS)
    for row, caption in enumerate(CAPTIONS["val"]):
        length = int(batch["caption_lengths"][row])
        assert length == len(caption) + 1
        assert batch["caption_input"][row, 0] == bos
        assert torch.equal(
            batch["caption_input"][row, 1:length], batch["caption_output"][row, : length - 1]
        )
        assert batch["caption_output"][row, length - 1] == eos
        assert batch["references"][row] == [" ".join(caption)]
    assert data.spec["image_channels"] == channels


def test_vocabulary_and_pixel_statistics_come_from_train_only_and_round_trip_json():
    data = Shapes(batch_size=2)
    data.setup()
    assert "green" not in data.vocab and "square" in data.vocab
    assert data.vocab.id(UNK) in data.datasets["val"][0]["ids"]
    train_pixels = np.stack([image(i, (6, 10)) for i in range(4)])
    assert data.pixel_mean[0] == pytest.approx(float(train_pixels.mean()), rel=1e-5)
    restored = Shapes(batch_size=2)
    restored.restore(json.loads(json.dumps(data.artifacts())))
    restored.setup()
    for split in ("train", "val", "test"):
        for first, again in zip(data.datasets[split], restored.datasets[split]):
            assert first["ids"] == again["ids"]
            torch.testing.assert_close(first["image"], again["image"])
    assert restored.spec == data.spec


def test_images_of_another_size_or_colour_are_converted_to_the_training_shape():
    data = Shapes(batch_size=2)
    data.setup()
    colour = data.image_tensor(image(9, (3, 12, 20)))
    assert colour.shape == (1, 6, 10)
    resized = Shapes(batch_size=2, image_size=[4, 5])
    resized.setup()
    assert next(iter(resized.train_dataloader()))["images"].shape == (2, 1, 4, 5)


@pytest.mark.parametrize(
    ("example", "message"),
    [
        ({"image": image(0, (6, 10)), "caption": []}, "at least one word"),
        ({"image": image(0, (2, 6, 10)), "caption": "a b"}, r"C in \(1, 3\)"),
        ({"image": np.full((6, 10), np.nan), "caption": "a"}, "NaN"),
        ({"caption": "a"}, "'image'"),
    ],
)
def test_bad_examples_name_the_problem(example, message):
    data = Shapes(batch_size=2)
    data.setup()
    with pytest.raises(ValueError, match=message):
        data.encode({**example, "source": "photo 12"})


def test_bad_options_name_themselves():
    with pytest.raises(ValueError, match="image_size"):
        Shapes(image_size=[4])
    with pytest.raises(ValueError, match="max_caption_length"):
        Shapes(max_caption_length=0)


@pytest.fixture
def fitted():
    data = Shapes(batch_size=2)
    data.setup()
    return data


def test_an_image_file_of_any_size_is_read_grey_and_resized(fitted, tmp_path):
    pixels = np.zeros((30, 50, 3), dtype=np.uint8)
    pixels[:, 25:] = 255
    Image.fromarray(pixels).save(tmp_path / "half.jpg")
    batch = fitted.batch_from_raw(str(tmp_path / "half.jpg"))
    assert batch["images"].shape == (1, 1, 6, 10)
    grey = fitted.denormalise(batch["images"])[0, 0]
    assert grey[:, :4].max() < 0.1 and grey[:, 6:].min() > 0.9
    assert batch["sources"] == [str(tmp_path / "half.jpg")]
    assert "caption_input" not in batch


def test_a_folder_of_images_is_read_in_name_order(fitted, tmp_path):
    for name in ("b.png", "a.png"):
        Image.fromarray(np.zeros((6, 10), dtype=np.uint8)).save(tmp_path / name)
    (tmp_path / "notes.txt").write_text("not an image")
    batch = fitted.batch_from_raw(str(tmp_path))
    assert [s.rsplit("/", 1)[-1] for s in batch["sources"]] == ["a.png", "b.png"]


def test_missing_unreadable_and_empty_inputs_are_refused(fitted, tmp_path):
    with pytest.raises(FileNotFoundError):
        fitted.parse_raw(str(tmp_path / "absent.png"))
    (tmp_path / "broken.png").write_bytes(b"\x89PNG but not really")
    with pytest.raises(ValueError, match="broken.png: cannot read it as an image"):
        fitted.parse_raw(str(tmp_path / "broken.png"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="found none"):
        fitted.parse_raw(str(tmp_path / "empty"))


REFERENCES = [
    [["a", "red", "square"]],
    [["a", "blue", "square"], ["the", "blue", "box"]],
    [["two", "red", "dots"]],
    [["a", "square"]],
    [["red", "red", "red", "square"]],
]


@pytest.mark.parametrize(
    "candidate",
    [
        ["a"],
        ["a", "square"],
        ["a", "red", "square"],
        ["red", "red", "square", "square"],
        ["zebra"],
        ["a", "blue", "square", "a", "red"],
    ],
)
@pytest.mark.parametrize("order", [1, 2, 4])
def test_constant_caption_bleu_equals_torchmetrics(candidate, order):
    scorer = ConstantCaptionScorer(REFERENCES, max_order=4)
    expected = BLEUScore(n_gram=order)(
        [" ".join(candidate)] * len(REFERENCES),
        [[" ".join(r) for r in refs] for refs in REFERENCES],
    )
    assert scorer.bleu(candidate, order) == pytest.approx(float(expected), abs=1e-6)


def test_best_constant_caption_is_the_brute_force_best():
    references = [refs[:1] for refs in REFERENCES]
    scorer = ConstantCaptionScorer(references, max_order=2)
    words = sorted({w for refs in references for r in refs for w in r})
    every = [c for n in range(1, 5) for c in itertools.product(words, repeat=n)]
    best = max(scorer.key(c) for c in every)
    found = best_constant_caption(references, max_order=2)
    assert scorer.key(found) == pytest.approx(best)


def test_builtin_digit_strips():
    data = BuiltinCaptioningDataModule(num_train=64, num_val=8, num_test=8, batch_size=8)
    data.setup()
    assert data.spec["image_height"] == 12 and data.spec["image_width"] == 40
    assert len(data.vocab) == 4 + 10
    assert set(data.constant_caption) <= set(data.vocab.tokens)
    assert data.datasets["val"][0]["source"] == "val example 0"
