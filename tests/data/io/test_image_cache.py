"""ImageCache: Pillow decoding and resizing, the on-disk cache and what invalidates it."""

from __future__ import annotations

import os
import re

import numpy as np
import pytest
import torch
from PIL import Image

from rnnkit.data.captioning.caption_files import drop_punctuation
from rnnkit.data.io.image_cache import ImageCache, decode_image
from rnnkit.data.io.reading import BadLineWarning

SIZES = {"a.jpg": (40, 30), "b.jpg": (23, 57), "c.png": (64, 64), "d.jpg": (8, 5)}
"""File name -> (width, height): JPEGs and a PNG of different sizes and shapes."""


def write_images(folder, sizes=SIZES, mode="RGB"):
    folder.mkdir(parents=True, exist_ok=True)
    for index, (name, size) in enumerate(sizes.items()):
        pixels = np.random.default_rng(index).integers(0, 256, (size[1], size[0], 3), np.uint8)
        image = Image.fromarray(pixels).convert(mode)
        image.save(folder / name, quality=90) if name.endswith(".jpg") else image.save(
            folder / name
        )
    return folder


def test_decode_resizes_any_size_and_mode_to_uint8_chw(tmp_path):
    folder = write_images(tmp_path / "images")
    write_images(tmp_path / "grey", {"g.jpg": (17, 9)}, mode="L")
    for file in [*folder.iterdir(), tmp_path / "grey" / "g.jpg"]:
        image = decode_image(file, (12, 20))
        assert image.shape == (3, 12, 20) and image.dtype == torch.uint8
    assert decode_image(folder / "a.jpg", (12, 20), mode="L").shape == (1, 12, 20)


def test_decode_matches_the_prediction_reader(tmp_path):
    # Training pixels (the cache) and prediction pixels (CaptioningDataModule.read_image) agree.
    from rnnkit.data.captioning.datamodule import CaptioningDataModule

    folder = write_images(tmp_path / "images")
    reader = CaptioningDataModule()
    reader.image_shape = [3, 12, 20]
    for file in folder.iterdir():
        expected = reader.read_image(file)
        assert np.allclose(decode_image(file, (12, 20)).numpy() / 255.0, expected, atol=1e-7)


def test_second_load_reads_the_cache_file_without_pillow(tmp_path, monkeypatch):
    folder = write_images(tmp_path / "images")
    first = ImageCache([16, 24], tmp_path / "cache")
    images = first.load(folder, sorted(SIZES), "test-train")
    assert first.decoded == 4 and list(images) == sorted(SIZES)
    assert first.cache_file.is_file() and first.cache_file.parent == tmp_path / "cache" / "images"
    assert [p.name for p in first.cache_file.parent.iterdir()] == [first.cache_file.name]

    def refuse(*args, **kwargs):
        raise AssertionError("Pillow was called; expected the cached tensors")

    monkeypatch.setattr(Image, "open", refuse)
    second = ImageCache([16, 24], tmp_path / "cache")
    cached = second.load(folder, sorted(SIZES), "test-train")
    assert second.decoded == 0 and second.cache_file == first.cache_file
    assert list(cached) == list(images)
    assert all(torch.equal(cached[name], images[name]) for name in images)


@pytest.mark.parametrize(
    "change", ["image_size", "touch a file", "rewrite a file", "another file list", "grey"]
)
def test_cache_is_invalidated_by_what_the_pixels_depend_on(tmp_path, change):
    folder = write_images(tmp_path / "images")
    names = sorted(SIZES)
    before = ImageCache([16, 24], tmp_path / "cache")
    before.load(folder, names, "t")
    size, mode = [16, 24], "RGB"
    if change == "image_size":
        size = [24, 16]
    elif change == "touch a file":
        stat = (folder / "b.jpg").stat()
        os.utime(folder / "b.jpg", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    elif change == "rewrite a file":
        Image.new("RGB", (9, 9), "red").save(folder / "b.jpg")
    elif change == "another file list":
        names = names[:2]
    else:
        mode = "L"
    after = ImageCache(size, tmp_path / "cache", mode=mode)
    images = after.load(folder, names, "t")
    assert after.decoded == len(names) and after.cache_file != before.cache_file
    assert next(iter(images.values())).shape == (1 if mode == "L" else 3, *size)
    if change == "rewrite a file":
        assert images["b.jpg"][0].float().mean() > 200  # the new, red image
    # the stale file of the same folder/size/mode is replaced, others are kept
    same_stem = size == [16, 24] and mode == "RGB"
    assert before.cache_file.exists() is not same_stem
    assert after.cache_file.is_file()


def test_without_a_cache_dir_every_load_decodes(tmp_path):
    folder = write_images(tmp_path / "images")
    cache = ImageCache([8, 8])
    cache.load(folder, ["a.jpg"], "t")
    cache.load(folder, ["a.jpg"], "t")
    assert cache.decoded == 1 and cache.cache_file is None


def test_a_corrupt_cache_file_is_rebuilt_with_a_warning(tmp_path):
    folder = write_images(tmp_path / "images")
    cache = ImageCache([8, 8], tmp_path / "cache")
    expected = cache.load(folder, ["a.jpg", "b.jpg"], "t")
    cache.cache_file.write_bytes(b"not a torch file")
    with pytest.warns(UserWarning, match="ignoring the unreadable image cache"):
        rebuilt = cache.load(folder, ["a.jpg", "b.jpg"], "t")
    assert cache.decoded == 2 and torch.equal(rebuilt["b.jpg"], expected["b.jpg"])
    assert ImageCache([8, 8], tmp_path / "cache").load(folder, ["a.jpg"], "t")  # valid again


def test_cache_file_is_written_atomically(tmp_path, monkeypatch):
    folder = write_images(tmp_path / "images")
    cache = ImageCache([8, 8], tmp_path / "cache")

    def interrupted(obj, stream):
        stream.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", interrupted)
    with pytest.warns(UserWarning, match="cannot write the image cache .*disk full"):
        images = cache.load(folder, ["a.jpg"], "t")
    assert images["a.jpg"].shape == (3, 8, 8)  # the run goes on with the decoded images
    assert list((tmp_path / "cache" / "images").iterdir()) == []  # no partial file left


@pytest.mark.parametrize("mode", ["error", "skip"])
def test_unreadable_images_are_named_or_skipped_with_a_count(tmp_path, mode, monkeypatch):
    folder = write_images(tmp_path / "images")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (folder / "truncated.jpg").write_bytes((folder / "a.jpg").read_bytes()[:200])
    names = ["a.jpg", "broken.jpg", "b.jpg", "truncated.jpg"]
    cache = ImageCache([8, 8], tmp_path / "cache")
    if mode == "error":
        with pytest.raises(ValueError, match=re.escape(f"{folder / 'broken.jpg'}: cannot read")):
            cache.load(folder, names, "t", on_bad_image="error")
        return
    for attempt in range(2):  # decoded, then from the cache: the same warning, no silence
        if attempt:
            monkeypatch.setattr(Image, "open", None)
        with pytest.warns(
            BadLineWarning, match=r"skipped 2 unreadable images of 4 in .* \(first: broken\.jpg"
        ):
            images = cache.load(folder, names, "t", on_bad_image="skip")
        assert list(images) == ["a.jpg", "b.jpg"]
    with pytest.raises(ValueError, match="broken.jpg: cannot read it as an image"):
        cache.load(folder, names, "t", on_bad_image="error")  # cached problems still raise


def test_image_size_is_checked():
    with pytest.raises(ValueError, match=r"^image_size: expected \[height, width\]"):
        ImageCache([64])
    with pytest.raises(ValueError, match="^mode: expected one of"):
        ImageCache([8, 8], mode="CMYK")


def test_drop_punctuation_keeps_words_with_inner_marks():
    assert drop_punctuation(["a", "t-shirt", ",", "man", "'s", "dog", ".", '"', "..."]) == [
        "a",
        "t-shirt",
        "man",
        "'s",
        "dog",
    ]
