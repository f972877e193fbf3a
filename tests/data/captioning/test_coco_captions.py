"""COCO captions: the official JSON layout, Karpathy's split file, bad entries, missing images."""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import pytest
import torch
from PIL import Image

from rnnkit.data.captioning.caption_files import MissingImagesWarning
from rnnkit.data.captioning.coco_captions import COCOCaptionsDataModule
from rnnkit.data.io.reading import BadLineWarning

# (id, file name, (width, height), colour, captions): raw, untokenised, as COCO writes them.
TRAIN = [
    (
        9,
        "COCO_train2014_000000000009.jpg",
        (64, 48),
        "red",
        ["A red plate of food.", "Food, on a red plate"],
    ),
    (
        25,
        "COCO_train2014_000000000025.jpg",
        (48, 64),
        "green",
        ["A giraffe's head in green trees."],
    ),
    (
        30,
        "COCO_train2014_000000000030.jpg",
        (50, 50),
        "blue",
        ["A blue T-shirt.", "a blue shirt", "Blue!"],
    ),
]
VAL = [
    (42, "COCO_val2014_000000000042.jpg", (40, 30), "white", ["A white dog.", "A dog, white"]),
    (73, "COCO_val2014_000000000073.jpg", (30, 40), "black", ["A black cat"]),
]


def captions_json(rows) -> dict:
    return {
        "info": {"description": "test"},
        "images": [
            {"id": i, "file_name": name, "width": w, "height": h} for i, name, (w, h), _, _ in rows
        ],
        "annotations": [
            {"id": 1000 * i + k, "image_id": i, "caption": caption}
            for i, _, _, _, captions in rows
            for k, caption in enumerate(captions)
        ],
    }


def write_coco(folder: Path, train=None, val=None, images=True) -> Path:
    (folder / "annotations").mkdir(parents=True, exist_ok=True)
    for split, rows, document in (("train", TRAIN, train), ("val", VAL, val)):
        document = captions_json(rows) if document is None else document
        text = document if isinstance(document, str) else json.dumps(document, indent=1)
        (folder / "annotations" / f"captions_{split}2014.json").write_text(text)
        (folder / f"{split}2014").mkdir(exist_ok=True)
        for _, name, size, colour, _ in rows if images else []:
            Image.new("RGB", size, colour).save(folder / f"{split}2014" / name)
    return folder


def module(folder: Path, **options) -> COCOCaptionsDataModule:
    return COCOCaptionsDataModule(path=str(folder), image_size=[16, 16], **options)


def test_reads_the_official_layout_and_tokenises_the_captions(tmp_path):
    dm = module(write_coco(tmp_path))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dm.setup()
    # train: one example per caption; val: one per image with all references; no test set
    assert {s: len(d) for s, d in dm.datasets.items()} == {"train": 6, "val": 2, "test": 0}
    train = dm.load_split("train")
    assert [e["caption"] for e in train] == [
        ["A", "red", "plate", "of", "food"],
        ["Food", "on", "a", "red", "plate"],
        ["A", "giraffe", "'s", "head", "in", "green", "trees"],
        ["A", "blue", "T", "shirt"],
        ["a", "blue", "shirt"],
        ["Blue"],
    ]
    assert train[0]["image"].shape == (3, 16, 16) and train[0]["image"].dtype == torch.uint8
    batch = next(iter(dm.val_dataloader()))
    assert batch["references"] == [["a white dog", "a dog white"], ["a black cat"]]
    assert dm.image_counts == {"train": 3, "val": 2}
    assert "giraffe" in dm.vocab.tokens and "." not in dm.vocab.tokens


def test_a_captioned_test_set_can_be_named(tmp_path):
    folder = write_coco(tmp_path)
    dm = module(folder, test_annotations="annotations/captions_val2014.json", test_images="val2014")
    dm.setup()
    assert len(dm.datasets["test"]) == 2
    with pytest.raises(ValueError, match="^test_images: test_annotations is given"):
        module(folder, test_annotations="annotations/captions_val2014.json")


BAD_ENTRIES = {
    # case: (change to the train document, where, expected message)
    "annotation without image_id": (
        lambda d: d["annotations"].insert(1, {"caption": "x"}),
        "annotations[1]",
        "expected an object with 'image_id'",
    ),
    "unknown image_id": (
        lambda d: d["annotations"].insert(2, {"image_id": 7, "caption": "x"}),
        "annotations[2]",
        "image_id 7 is not in the file's images",
    ),
    "caption not a string": (
        lambda d: d["annotations"].insert(0, {"image_id": 9, "caption": None}),
        "annotations[0]",
        "expected a caption string, got None",
    ),
    "empty caption": (
        lambda d: d["annotations"].insert(0, {"image_id": 9, "caption": " . "}),
        "annotations[0]",
        "empty caption",
    ),
    "image without file_name": (
        lambda d: d["images"].insert(1, {"id": 99}),
        "images[1]",
        "expected an object with 'id' and 'file_name'",
    ),
    "image id twice": (
        lambda d: d["images"].append({"id": 9, "file_name": "other.jpg"}),
        "images[3]",
        "image id 9 given twice",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_ENTRIES))
@pytest.mark.parametrize("mode", ["error", "skip"])
def test_bad_entries_in_both_modes(tmp_path, case, mode):
    change, where, expected = BAD_ENTRIES[case]
    document = captions_json(TRAIN)
    change(document)
    folder = write_coco(tmp_path, train=document)
    file = folder / "annotations" / "captions_train2014.json"
    dm = module(folder, on_bad_line=mode)
    if mode == "error":
        with pytest.raises(ValueError, match="^" + re.escape(f"{file}, {where}: ") + expected):
            dm.setup()
        return
    with pytest.warns(BadLineWarning, match=f"skipped 1 bad line in .*{re.escape(where)}"):
        dm.setup()
    assert len(dm.datasets["train"]) == 6


def test_not_json_names_the_file_line_and_column(tmp_path):
    folder = write_coco(tmp_path, val='{"images": [],\n "annotations": [,]}')
    file = folder / "annotations" / "captions_val2014.json"
    with pytest.raises(ValueError, match=re.escape(f"{file}, line 2: not valid JSON")):
        module(folder).setup()


def test_not_the_captions_layout_is_an_error(tmp_path):
    folder = write_coco(tmp_path, train={"images": []})
    with pytest.raises(ValueError, match="expected a JSON object with a list under 'annotations'"):
        module(folder).setup()


def test_images_without_captions_and_missing_files_are_counted(tmp_path):
    document = captions_json(TRAIN)
    document["images"].append({"id": 77, "file_name": "COCO_train2014_000000000077.jpg"})
    folder = write_coco(tmp_path, train=document)
    (folder / "train2014" / TRAIN[1][1]).unlink()
    dm = module(folder)
    with pytest.warns(UserWarning) as caught:
        dm.setup()
    messages = [str(w.message) for w in caught]
    assert any(
        "1 of 4 images have no caption (first: COCO_train2014_000000000077.jpg)" in m
        for m in messages
    )
    missing = [str(w.message) for w in caught if w.category is MissingImagesWarning]
    assert missing == [
        f"coco_captions train: 1 of 3 listed images are missing from {folder / 'train2014'} "
        f"(first: {TRAIN[1][1]}); skipped"
    ]
    assert dm.image_counts["train"] == 2 and len(dm.datasets["train"]) == 5


def test_missing_annotations_or_image_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="captions_train2014.json: not found"):
        module(tmp_path).setup()
    folder = write_coco(tmp_path)
    (folder / "val2014").rename(folder / "elsewhere")
    with pytest.raises(FileNotFoundError, match="val2014: image folder not found"):
        module(folder).setup()


def test_images_are_cached(tmp_path, monkeypatch):
    folder = write_coco(tmp_path / "coco")
    module(folder, cache_dir=str(tmp_path / "cache")).setup()
    monkeypatch.setattr(Image, "open", None)  # any decode would fail
    dm = module(folder, cache_dir=str(tmp_path / "cache"))
    dm.setup()
    assert dm.image_cache.decoded == 0 and len(dm.datasets["train"]) == 6


def karpathy_json() -> dict:
    entries = []
    for split, (rows, folder) in {
        "train": (TRAIN[:2], "train2014"),
        "restval": (VAL[:1], "val2014"),
        "val": (TRAIN[2:], "train2014"),
        "test": (VAL[1:], "val2014"),
    }.items():
        for i, name, _, _, captions in rows:
            entries.append(
                {
                    "filepath": folder,
                    "filename": name,
                    "cocoid": i,
                    "split": split,
                    "sentences": [
                        {"tokens": c.lower().replace(".", "").split(), "raw": c} for c in captions
                    ],
                }
            )
    return {"images": entries, "dataset": "coco"}


def test_karpathy_split_file(tmp_path):
    folder = write_coco(tmp_path)
    (folder / "dataset_coco.json").write_text(json.dumps(karpathy_json()))
    dm = module(folder, karpathy_split="dataset_coco.json", train_annotations=None)
    dm.setup()
    # train: 2 train2014 images (3 captions) + restval's val2014 image (2 captions)
    assert {s: len(d) for s, d in dm.datasets.items()} == {"train": 5, "val": 1, "test": 1}
    assert dm.image_counts == {"train": 3, "val": 1, "test": 1}
    assert dm.load_split("test")[0]["reference_captions"] == [["a", "black", "cat"]]
    assert dm.load_split("val")[0]["reference_captions"][0] == ["a", "blue", "t-shirt"]


def test_karpathy_split_without_a_split_is_an_error(tmp_path):
    folder = write_coco(tmp_path)
    document = karpathy_json()
    document["images"] = [e for e in document["images"] if e["split"] != "test"]
    (folder / "dataset_coco.json").write_text(json.dumps(document))
    with pytest.raises(ValueError, match="no image has split 'test'"):
        module(folder, karpathy_split="dataset_coco.json").setup()


def test_train_annotations_or_karpathy_split_is_required():
    with pytest.raises(ValueError, match="^train_annotations: expected the training captions"):
        COCOCaptionsDataModule(path="x", train_annotations=None)
