"""Flickr8k: the original layout and its quirks, missing images, bad lines, the image cache,
download; the shared 800-image subset when present."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from local_server import local_server
from rnnkit.data.captioning.caption_files import MissingImagesWarning
from rnnkit.data.captioning.flickr8k import FLICKR8K_TEXT_URL, Flickr8kDataModule
from rnnkit.data.io.download import DownloadError
from rnnkit.data.io.reading import BadLineWarning
from shared_data import shared_dataset

# Image name -> (width, height, colour); the real files are JPEGs of many sizes.
IMAGES = {
    "1000268201_693b08cb0e.jpg": (50, 37, "red"),
    "1001773457_577c3a7d70.jpg": (37, 50, "blue"),
    "1002674143_1b742ab4b8.jpg": (64, 48, "green"),
    "1003163366_44323f5815.jpg": (30, 30, "yellow"),
    "1007129816_e794419615.jpg": (48, 64, "white"),
    "1007320043_627395c3d8.jpg": (40, 25, "black"),
}
NAMES = list(IMAGES)
CAPTIONS = {
    name: [f"A {colour} picture number {i} ." for i in range(5)]
    for name, (_, _, colour) in IMAGES.items()
}
TRAIN, DEV, TEST = NAMES[:3], NAMES[3:4], NAMES[4:5]  # NAMES[5]: in no split, as 91 real ones


def token_file(captions=CAPTIONS) -> bytes:
    lines = [f"{name}#{i}\t{c}" for name, caps in captions.items() for i, c in enumerate(caps)]
    # The real file's quirk: captions for an id that matches no image file.
    lines += [f"2258277193_586949ec62.jpg.1#{i}\tpeople waiting for the subway" for i in range(5)]
    return ("\n".join(lines) + "\n").encode()


def listing(names) -> bytes:
    return "".join(f"{name}\n" for name in names).encode()


TEXT_FILES = {
    "Flickr8k.token.txt": token_file(),
    "Flickr_8k.trainImages.txt": listing(TRAIN),
    "Flickr_8k.devImages.txt": listing(DEV),
    "Flickr_8k.testImages.txt": listing(TEST),
}


def write_flickr8k(folder: Path, files=TEXT_FILES, images=NAMES) -> Path:
    (folder / "Images").mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    for name in images:
        width, height, colour = IMAGES[name]
        Image.new("RGB", (width, height), colour).save(folder / "Images" / name, quality=90)
    return folder


def module(folder: Path, **options) -> Flickr8kDataModule:
    options = {"image_size": [16, 16], "batch_size": 4, **options}
    return Flickr8kDataModule(path=str(folder), **options)


def setup_quietly(dm: Flickr8kDataModule) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every split's images are all present: no warning
        dm.setup()


def test_reads_the_original_layout(tmp_path):
    dm = module(write_flickr8k(tmp_path / "flickr8k"))
    setup_quietly(dm)
    # train: one example per (image, caption); val/test: one per image, 5 references
    assert {s: len(d) for s, d in dm.datasets.items()} == {"train": 15, "val": 1, "test": 1}
    assert dm.image_counts == {"train": 3, "val": 1, "test": 1}
    train = dm.load_split("train")
    assert [e["caption"] for e in train[:5]] == [
        ["A", "red", "picture", "number", str(i)]
        for i in range(5)  # "." dropped
    ]
    assert train[0]["source"].endswith("Images/1000268201_693b08cb0e.jpg#0")
    val = dm.load_split("val")
    assert val[0]["reference_captions"] == [
        ["A", "yellow", "picture", "number", str(i)] for i in range(5)
    ]
    assert val[0]["image"].dtype == torch.uint8 and val[0]["image"].shape == (3, 16, 16)
    batch = next(iter(dm.val_dataloader()))
    assert batch["images"].shape == (1, 3, 16, 16)
    assert batch["references"] == [[f"a yellow picture number {i}" for i in range(5)]]
    summary = dm.summary()
    assert summary["train_images"] == 3 and summary["train_examples"] == 15


def test_vocabulary_and_baseline_are_fitted_once_per_image(tmp_path):
    dm = module(write_flickr8k(tmp_path), min_frequency=3)
    dm.setup()
    # each colour occurs in the 5 captions of one training image: seen 5 times, not 25
    assert "red" in dm.vocab.tokens and "yellow" not in dm.vocab.tokens  # yellow: dev only
    counted_once = module(write_flickr8k(tmp_path / "b"), min_frequency=6)
    counted_once.setup()
    assert "red" not in counted_once.vocab.tokens  # 5 captions, not 5 x 5
    assert dm.constant_caption[:1] == ["a"] and "picture" in dm.constant_caption
    # pixel statistics over the 3 training images (red, blue, green), each counted once
    assert np.allclose(dm.pixel_mean, [1 / 3, 0.502 / 3, 1 / 3], atol=0.02)  # red, green, blue


def test_training_examples_of_an_image_share_one_image_tensor(tmp_path):
    dm = module(write_flickr8k(tmp_path))
    dm.setup()
    train = dm.datasets["train"]
    assert all(e["image"] is train[0]["image"] for e in train[:5])
    assert train[5]["image"] is not train[0]["image"]
    assert not torch.equal(train[5]["image"], train[0]["image"])


def test_punctuation_can_be_kept(tmp_path):
    dm = module(write_flickr8k(tmp_path), punctuation=True, lowercase=False)
    assert dm.load_split("train")[0]["caption"][-1] == "."


def test_missing_images_are_skipped_with_one_counted_warning_per_split(tmp_path):
    folder = write_flickr8k(tmp_path, images=[NAMES[0], NAMES[2], *NAMES[3:]])
    dm = module(folder)
    with pytest.warns(MissingImagesWarning) as caught:
        dm.setup()
    messages = [str(w.message) for w in caught if w.category is MissingImagesWarning]
    assert messages == [
        f"flickr8k train: 1 of 3 listed images are missing from {folder / 'Images'} "
        f"(first: {NAMES[1]}); skipped"
    ]
    assert dm.image_counts["train"] == 2 and len(dm.datasets["train"]) == 10
    with pytest.raises(ValueError, match=r"1 of 3 listed images are missing .*on_missing_image"):
        module(folder, on_missing_image="error").setup()


def test_a_split_without_any_image_file_is_an_error(tmp_path):
    folder = write_flickr8k(tmp_path, images=NAMES[:4])  # the test image is absent
    with pytest.raises(
        ValueError,
        match=r"flickr8k test: none of the 1 images listed in .*Flickr_8k\.testImages\.txt is in",
    ):
        module(folder).setup()


def test_image_cache_spares_the_second_setup_any_decoding(tmp_path, monkeypatch):
    folder = write_flickr8k(tmp_path / "data")
    first = module(folder, cache_dir=str(tmp_path / "cache"))
    first.setup()
    assert len(list((tmp_path / "cache" / "images").glob("flickr8k-*.pt"))) == 3  # one a split

    def refuse(*args, **kwargs):
        raise AssertionError("Pillow was called; expected the cached tensors")

    monkeypatch.setattr(Image, "open", refuse)
    second = module(folder, cache_dir=str(tmp_path / "cache"))
    second.setup()
    assert second.image_cache.decoded == 0
    for split in ("train", "val", "test"):
        for a, b in zip(first.datasets[split], second.datasets[split]):
            assert torch.equal(a["image"], b["image"]) and a["ids"] == b["ids"]
    with pytest.raises(AssertionError, match="Pillow was called"):
        module(folder, cache_dir=str(tmp_path / "cache"), image_size=[8, 8]).setup()


BAD_LINES = {
    # case: (file, inserted line 3, expected message)
    "no tab": ("Flickr8k.token.txt", b"1000268201_693b08cb0e.jpg#7 a dog", "found no tab"),
    "no caption number": ("Flickr8k.token.txt", b"1000268201_693b08cb0e.jpg\ta dog", "caption id"),
    "duplicate caption id": (
        "Flickr8k.token.txt",
        b"1000268201_693b08cb0e.jpg#0\ta dog",
        r"given twice \(first on line 1\)",
    ),
    "empty caption": ("Flickr8k.token.txt", b"1000268201_693b08cb0e.jpg#9\t .", "empty caption"),
    "not UTF-8": ("Flickr8k.token.txt", b"1000268201_693b08cb0e.jpg#9\ta caf\xe9", "UTF-8"),
    "blank line": ("Flickr8k.token.txt", b"", "blank line"),
    "listed twice": ("Flickr_8k.trainImages.txt", NAMES[0].encode(), "listed twice"),
    "listed without captions": (
        "Flickr_8k.trainImages.txt",
        b"999_nocaptions.jpg",
        "no captions for 999_nocaptions.jpg in Flickr8k.token.txt",
    ),
}


def with_bad_line(name: str, line: bytes) -> dict[str, bytes]:
    lines = TEXT_FILES[name].split(b"\n")
    return {**TEXT_FILES, name: b"\n".join([*lines[:2], line, *lines[2:]])}


@pytest.mark.parametrize("case", sorted(BAD_LINES))
@pytest.mark.parametrize("mode", ["error", "skip"])
def test_bad_lines_in_both_modes(tmp_path, case, mode):
    name, line, expected = BAD_LINES[case]
    folder = write_flickr8k(tmp_path, with_bad_line(name, line))
    dm = module(folder, on_bad_line=mode)
    where = re.escape(f"{folder / name}, line 3: ")
    if mode == "error":
        with pytest.raises(ValueError, match=f"^{where}.*{expected}"):
            dm.setup()
        return
    with pytest.warns(BadLineWarning, match=f"skipped 1 bad line in .*{name} .*line 3: "):
        dm.setup()
    assert {s: len(d) for s, d in dm.datasets.items()} == {"train": 15, "val": 1, "test": 1}


@pytest.mark.parametrize("mode", ["error", "skip"])
def test_an_unreadable_image_is_named_or_skipped(tmp_path, mode):
    folder = write_flickr8k(tmp_path)
    (folder / "Images" / NAMES[1]).write_bytes(b"GIF89a broken")
    dm = module(folder, on_bad_line=mode)
    if mode == "error":
        with pytest.raises(ValueError, match=re.escape(f"{folder / 'Images' / NAMES[1]}: cannot")):
            dm.setup()
        return
    with pytest.warns(BadLineWarning, match=f"skipped 1 unreadable image of 3 .*{NAMES[1]}"):
        dm.setup()
    assert dm.image_counts["train"] == 2


def test_missing_files_say_how_to_get_them(tmp_path):
    with pytest.raises(FileNotFoundError, match="Flickr8k.token.txt: not found.*data.sha256"):
        module(tmp_path).setup()
    write_flickr8k(tmp_path)
    os.rename(tmp_path / "Images", tmp_path / "elsewhere")
    with pytest.raises(FileNotFoundError, match="Images: image folder not found"):
        module(tmp_path).setup()


def test_the_image_archive_folder_is_found(tmp_path):
    write_flickr8k(tmp_path)
    os.rename(tmp_path / "Images", tmp_path / "Flicker8k_Dataset")  # the archive's spelling
    dm = module(tmp_path)
    dm.setup()
    assert dm.image_counts["train"] == 3


def text_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in TEXT_FILES.items():  # at the top of the archive, as the real one
            archive.writestr(name, data)
        archive.writestr("__MACOSX/._Flickr8k.token.txt", b"\x00")
    return buffer.getvalue()


def test_download_fetches_and_verifies_the_text_archive(tmp_path):
    write_flickr8k(tmp_path, files={})  # images only
    data = text_zip()
    with local_server() as server:
        url = server.add("/Flickr8k/Flickr8k_text.zip", data)
        sha256 = hashlib.sha256(data).hexdigest()
        dm = module(tmp_path, download=True, url=url, sha256=sha256)
        dm.setup()
        assert server.requests == ["/Flickr8k/Flickr8k_text.zip"]
        module(tmp_path, download=True, url=url, sha256=sha256).setup()  # files are there now
        assert len(server.requests) == 1
    assert (tmp_path / "Flickr8k_text.zip").is_file()
    assert {s: len(d) for s, d in dm.datasets.items()} == {"train": 15, "val": 1, "test": 1}


def test_download_refuses_a_wrong_or_missing_checksum(tmp_path):
    write_flickr8k(tmp_path, files={})
    with local_server() as server:
        url = server.add("/Flickr8k_text.zip", text_zip())
        with pytest.raises(ValueError, match="sha256: no checksum given"):
            module(tmp_path, download=True, url=url).setup()
        assert server.requests == []
        with pytest.raises(DownloadError, match="checksum mismatch"):
            module(tmp_path, download=True, url=url, sha256="0" * 64).setup()
    assert not (tmp_path / "Flickr8k_text.zip").exists()


def test_images_download_needs_its_own_checksum(tmp_path):
    write_flickr8k(tmp_path, images=[])
    os.rmdir(tmp_path / "Images")
    data = text_zip()
    with local_server() as server:  # hand-placed files without rnnkit's extraction marker
        url = server.add("/Flickr8k_text.zip", data)  # are replaced by the archive's
        with pytest.raises(ValueError, match="^images_sha256: no checksum given"):
            module(
                tmp_path, download=True, url=url, sha256=hashlib.sha256(data).hexdigest()
            ).setup()


def test_prediction_restores_from_artifacts_without_the_files(tmp_path):
    dm = module(write_flickr8k(tmp_path / "data"))
    dm.setup()
    restored = module(tmp_path / "nowhere")
    restored.restore(json.loads(json.dumps(dm.artifacts())))
    assert restored.spec == dm.spec
    batch = restored.batch_from_raw(str(tmp_path / "data" / "Images" / NAMES[0]))
    assert batch["images"].shape == (1, 3, 16, 16)
    expected = dm.datasets["train"][0]["image"]
    assert torch.allclose(batch["images"][0], expected, atol=1e-5)  # the same preprocessing


def test_image_size_is_required():
    with pytest.raises(ValueError, match="^image_size: flickr8k images come in many sizes"):
        Flickr8kDataModule(path="x", image_size=None)


def test_the_published_url_is_the_canonical_archive():
    assert FLICKR8K_TEXT_URL.endswith(
        "/jbrownlee/Datasets/releases/download/Flickr8k/Flickr8k_text.zip"
    )


# ---- the real data (../shared/data/flickr8k), when present -------------------------------


def shared_flickr8k() -> Path:
    folder = shared_dataset("flickr8k", "Flickr8k.token.txt")
    if not (folder / "Images").is_dir():
        pytest.skip(f"the shared Flickr8k images are not at {folder / 'Images'}")
    return folder


MD5 = {
    "Flickr8k.token.txt": "bb65d4d46ba6cb856d8f17da6d9d7e5d",
    "Flickr_8k.trainImages.txt": "cfaa3c7cf0e98c3db5331ae3e084d0ad",
    "Flickr_8k.devImages.txt": "d4348c27e43a7a7c667fc1e1af1a17ca",
    "Flickr_8k.testImages.txt": "80b71e57cb3e4187f4b8068489fbc74a",
}


@pytest.mark.slow
def test_shared_flickr8k_subset_has_the_known_counts(tmp_path):
    folder = shared_flickr8k()
    for name, md5 in MD5.items():
        assert hashlib.md5((folder / name).read_bytes()).hexdigest() == md5, name
    assert (folder / "Flickr8k.token.txt").read_bytes().count(b"\n") == 40_460
    dm = Flickr8kDataModule(path=str(folder), image_size=[32, 32], cache_dir=str(tmp_path))
    captions = dm.captions()  # on_bad_line="error": no line of the real file is bad
    assert len(captions) == 8_092 and all(len(c) == 5 for c in captions.values())
    assert "2258277193_586949ec62.jpg.1" in captions  # the quirk id, unused by any split
    expected = {"train": (605, 6000), "val": (87, 1000), "test": (102, 1000)}
    for split, (present, listed) in expected.items():
        with pytest.warns(
            MissingImagesWarning, match=f"flickr8k {split}: {listed - present} of {listed} listed"
        ):
            examples = dm.load_split(split)
        assert dm.image_counts[split] == present
        assert len(examples) == present * (5 if split == "train" else 1)
    assert examples[0]["image"].shape == (3, 32, 32)
