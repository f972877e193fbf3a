"""Image files decoded once: Pillow -> RGB -> resized ``uint8`` tensors, kept in memory and on disk.

Real captioning datasets (Flickr8k, COCO) are folders of JPEGs of many sizes. Decoding them is
most of a data epoch's cost, so :class:`ImageCache` decodes each file once per image size,
resizes it with Pillow (bilinear, as :meth:`CaptioningDataModule.read_image` does for
prediction input, so training and prediction see the same pixels) and keeps the result as a
``(C, H, W)`` ``uint8`` tensor. With a ``cache_dir`` the tensors of one call are also saved in
one file, ``<cache_dir>/images/<tag>-<key>.pt``, written atomically (a temporary file renamed
into place), whose key is a sha256 of the folder, the file names, their sizes and modification
times, the image size and the colour mode: a second run reads that file and decodes nothing,
and a changed image, a changed list of images or a different ``image_size`` gives another key,
so the stale file is replaced.

:class:`ImageCaptionFilesDataModule` is the captioning datamodule both loaders build on: raw
examples carry these ``uint8`` tensors, every caption of an image is a training example, and
each evaluation example is one image with all its captions as references.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import string
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rnnkit.data.captioning import CaptioningDataModule
from rnnkit.data.reading import BadLineWarning, check_on_bad_line

CACHE_VERSION = 1
"""Bumped whenever the decoding or the cache file layout changes (old files are then ignored)."""

MODES = {"RGB": 3, "L": 1}
"""Pillow colour modes the cache converts images to, and their channel counts."""

ON_MISSING_IMAGE = ("skip", "error")


class MissingImagesWarning(UserWarning):
    """Listed images whose files are absent were skipped (one warning per split, counted)."""


def check_image_size(value: Any, argument: str = "image_size") -> tuple[int, int]:
    """``(height, width)`` from ``[height, width]`` of positive integers, else a ValueError."""
    if (
        not isinstance(value, (list, tuple))
        or len(value) != 2
        or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in value)
    ):
        raise ValueError(
            f"{argument}: expected [height, width] of positive integers (images of many sizes "
            f"are all resized to it), got {value!r}"
        )
    return int(value[0]), int(value[1])


def decode_image(path: str | Path, image_size: Sequence[int], mode: str = "RGB") -> torch.Tensor:
    """``(C, H, W)`` ``uint8`` pixels of the image file ``path``, converted to ``mode``
    (``"RGB"``: C=3, ``"L"``: C=1) and resized to ``image_size = (H, W)`` (bilinear).

    Raises:
        ValueError: the file cannot be read as an image (the message names it).
    """
    from PIL import Image

    height, width = image_size
    try:
        with Image.open(path) as image:
            resized = image.convert(mode).resize((width, height), Image.Resampling.BILINEAR)
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError) as error:
        raise ValueError(
            f"{path}: cannot read it as an image ({type(error).__name__}: {error})"
        ) from None
    array = np.array(resized, dtype=np.uint8)  # a writable copy
    array = array[None] if array.ndim == 2 else array.transpose(2, 0, 1)
    return torch.from_numpy(np.ascontiguousarray(array))


class ImageCache:
    """Decoded, resized images of a folder, cached in memory (the returned tensors) and on disk.

    Args:
        image_size: ``[H, W]`` every image is resized to (aspect ratio not kept).
        cache_dir: the folder of the cache files (their sub-folder ``images``); None keeps
            nothing on disk (every run decodes).
        mode: ``"RGB"`` or ``"L"`` (grey).

    Attributes:
        decoded: how many files the last :meth:`load` decoded (0 when the disk cache served it).
        cache_file: the cache file of the last :meth:`load` (None without ``cache_dir``).
    """

    def __init__(
        self,
        image_size: Sequence[int],
        cache_dir: str | Path | None = None,
        mode: str = "RGB",
    ) -> None:
        self.image_size = check_image_size(image_size)
        if mode not in MODES:
            raise ValueError(f"mode: expected one of {list(MODES)}, got {mode!r}")
        self.mode = mode
        self.cache_dir = Path(str(cache_dir)).expanduser() if cache_dir is not None else None
        self.decoded = 0
        self.cache_file: Path | None = None

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of every returned image."""
        return (MODES[self.mode], *self.image_size)

    def key(self, folder: Path, names: Sequence[str]) -> str:
        """sha256 of what the decoded tensors depend on: folder, names, file sizes and mtimes,
        image size, mode and :data:`CACHE_VERSION`."""
        files = []
        for name in names:
            stat = (folder / name).stat()
            files.append([name, stat.st_size, stat.st_mtime_ns])
        identity = {
            "version": CACHE_VERSION,
            "folder": str(folder.resolve()),
            "image_size": list(self.image_size),
            "mode": self.mode,
            "resample": "bilinear",
            "files": files,
        }
        return hashlib.sha256(json.dumps(identity).encode()).hexdigest()

    def load(
        self, folder: str | Path, names: Sequence[str], tag: str, on_bad_image: str = "error"
    ) -> dict[str, torch.Tensor]:
        """The images ``folder / name`` for each of ``names``, as ``(C, H, W)`` ``uint8``.

        Args:
            folder: the image folder.
            names: file names in ``folder`` (all must exist; the caller drops missing ones).
            tag: names the cache file (e.g. ``"flickr8k-train"``); one file per tag, folder,
                size and mode is kept, older keys are deleted.
            on_bad_image: a file Pillow cannot read: ``"error"`` raises ``ValueError("<file>:
                cannot read it as an image (...)")``; ``"skip"`` leaves it out of the result
                and warns once (:class:`~rnnkit.data.reading.BadLineWarning`) with the count
                and the first file. Unreadable files are remembered in the cache file, so a
                cached run reports them the same way.

        Returns:
            ``{name: image}`` in the order of ``names``, without the skipped files.
        """
        check_on_bad_line(on_bad_image, "on_bad_line")
        folder = Path(folder)
        names = list(dict.fromkeys(names))
        self.decoded = 0
        self.cache_file = None
        key = self.key(folder, names)
        cached = None
        if self.cache_dir is not None:
            folder_id = hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:8]
            height, width = self.image_size
            stem = f"{tag}-{height}x{width}-{self.mode}-{folder_id}"
            self.cache_file = self.cache_dir / "images" / f"{stem}-{key[:20]}.pt"
            cached = self._read(self.cache_file, key)
        if cached is None:
            cached = self._decode(folder, names, key)
            if self.cache_file is not None:
                self._write(self.cache_file, cached, stem)
        problems = [(name, problem) for name, problem in cached["problems"]]
        if problems:
            name, problem = problems[0]
            if on_bad_image == "error":
                raise ValueError(f"{folder / name}: {problem}")
            noun = "image" if len(problems) == 1 else "images"
            warnings.warn(
                f"skipped {len(problems)} unreadable {noun} of {len(names)} in {folder} "
                f"(first: {name}: {problem})",
                BadLineWarning,
                stacklevel=2,
            )
        return dict(zip(cached["names"], cached["images"]))

    def _decode(self, folder: Path, names: Sequence[str], key: str) -> dict[str, Any]:
        images, kept, problems = [], [], []
        for name in names:
            try:
                images.append(decode_image(folder / name, self.image_size, self.mode))
            except ValueError as error:
                problems.append([name, str(error).split(": ", 1)[1]])
                continue
            kept.append(name)
        self.decoded = len(names)
        stack = torch.stack(images) if images else torch.empty((0, *self.shape), dtype=torch.uint8)
        return {
            "version": CACHE_VERSION,
            "key": key,
            "names": kept,
            "images": stack,
            "problems": problems,
        }

    def _read(self, file: Path, key: str) -> dict[str, Any] | None:
        if not file.is_file():
            return None
        try:
            cached = torch.load(file, map_location="cpu", weights_only=True)
            valid = (
                cached["version"] == CACHE_VERSION
                and cached["key"] == key
                and cached["images"].dtype == torch.uint8
                and tuple(cached["images"].shape) == (len(cached["names"]), *self.shape)
            )
        except Exception as error:  # noqa: BLE001 - any unreadable cache is rebuilt
            warnings.warn(
                f"ignoring the unreadable image cache {file} ({type(error).__name__}: "
                f"{error}); decoding the images again",
                stacklevel=3,
            )
            return None
        return cached if valid else None

    def _write(self, file: Path, cached: dict[str, Any], stem: str) -> None:
        """``torch.save`` to a temporary file in the same folder, then ``os.replace``; remove
        older cache files of the same stem. A cache that cannot be written only warns."""
        temporary = None
        try:
            file.parent.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(
                prefix=f".{file.name}.", suffix=".part", dir=file.parent
            )
            with os.fdopen(handle, "wb") as stream:
                torch.save(cached, stream)
            os.replace(temporary, file)
            temporary = None
            for stale in file.parent.glob(f"{stem}-*.pt"):
                if stale != file:
                    with contextlib.suppress(OSError):
                        stale.unlink()
        except OSError as error:
            warnings.warn(
                f"cannot write the image cache {file} ({type(error).__name__}: {error}); "
                "the next run decodes the images again",
                stacklevel=3,
            )
        finally:
            if temporary is not None:
                with contextlib.suppress(OSError):
                    os.unlink(temporary)


def drop_punctuation(words: Sequence[str]) -> list[str]:
    """``words`` without the tokens made only of punctuation (``.``, ``,``, ``"``): as the
    usual caption preprocessing (Karpathy's) before BLEU; ``t-shirt`` and ``'s`` stay."""
    return [w for w in words if not all(c in string.punctuation for c in w)]


class ImageCaptionFilesDataModule(CaptioningDataModule):
    """Captioning from image files with several captions each (Flickr8k, COCO).

    Subclasses read their caption files and call :meth:`split_examples`. Images are decoded
    once by :class:`ImageCache` (RGB, resized to ``image_size``) and raw examples hold them as
    ``(3, H, W)`` ``uint8`` tensors (the base class's ``[0, 1]`` floats, stored in a quarter
    of the memory).

    Examples:
        train: one per (image, caption): every caption is a training target, an epoch sees each
            image once per caption (5 times in Flickr8k and about 5 times in COCO).
        val, test: one per image, its first caption as the teacher-forced target (for the
            loss) and all its captions as ``reference_captions``, so BLEU is the usual
            multi-reference corpus BLEU over images and every image counts once.

    What is fitted on train (vocabulary, pixel mean/std, the constant-caption baseline) is
    fitted per image, on each image's captions once, so an image with 5 captions does not
    count 5 times.

    Args:
        image_size: ``[H, W]`` to resize every image to (required: the files come in many
            sizes).
        cache_dir: where :class:`ImageCache` keeps decoded images (``<cache_dir>/images``);
            None decodes on every run.
        on_bad_line: ``"error"``: a malformed caption line / entry or an unreadable image
            raises a ValueError naming the file (and line); ``"skip"``: it is dropped with one
            counted warning per file (:class:`~rnnkit.data.reading.BadLineWarning`).
        on_missing_image: a listed image whose file is absent: ``"skip"`` (one counted
            :class:`MissingImagesWarning` per split) or ``"error"``.
        punctuation: keep the punctuation tokens of the captions (``False``, the default, drops
            tokens made only of punctuation, as the usual BLEU preprocessing does).
        **kwargs: :class:`CaptioningDataModule`'s (``batch_size``, ``lowercase``,
            ``min_frequency``, ``max_caption_length``, ...).
    """

    dataset_name = "images"
    """Names the dataset in warnings and errors (``"flickr8k train: ..."``)."""

    def __init__(
        self,
        image_size: list[int] | None = (64, 64),
        cache_dir: str | None = None,
        on_bad_line: str = "error",
        on_missing_image: str = "skip",
        punctuation: bool = False,
        **kwargs: Any,
    ) -> None:
        if image_size is None:
            raise ValueError(
                f"image_size: {self.dataset_name} images come in many sizes; expected "
                "[height, width] to resize them to, got None"
            )
        super().__init__(image_size=list(check_image_size(image_size)), **kwargs)
        self.cache_dir = cache_dir
        self.on_bad_line = check_on_bad_line(on_bad_line)
        if on_missing_image not in ON_MISSING_IMAGE:
            raise ValueError(
                f"on_missing_image: expected one of {list(ON_MISSING_IMAGE)}, "
                f"got {on_missing_image!r}"
            )
        self.on_missing_image = on_missing_image
        if not isinstance(punctuation, bool):
            raise ValueError(f"punctuation: expected true or false, got {punctuation!r}")
        self.punctuation = punctuation
        self.image_cache = ImageCache(self.image_size, cache_dir)
        self.image_counts: dict[str, int] = {}
        self._encoded_images: dict[int, tuple[Any, torch.Tensor]] | None = None

    # ---- reading ---------------------------------------------------------------------------

    def caption_words(self, words: Sequence[str]) -> list[str]:
        """Caption tokens as stored in the examples (punctuation dropped unless kept)."""
        return list(words) if self.punctuation else drop_punctuation(words)

    def present_images(
        self, split: str, folder: Path, names: Sequence[str], listed_in: str
    ) -> list[str]:
        """The ``names`` whose file is in ``folder``; the others are skipped with one counted
        warning (or an error, ``on_missing_image="error"``); none present is an error."""
        present, missing = [], []
        for name in names:
            (present if (folder / name).is_file() else missing).append(name)
        prefix = f"{self.dataset_name} {split}"
        if not present:
            raise ValueError(
                f"{prefix}: none of the {len(names)} images listed in {listed_in} is in "
                f"{folder}; expected at least one (is data.path right?)"
            )
        if missing:
            message = (
                f"{prefix}: {len(missing)} of {len(names)} listed images are missing from "
                f"{folder} (first: {missing[0]})"
            )
            if self.on_missing_image == "error":
                raise ValueError(f"{message}; expected all of them (on_missing_image=error)")
            warnings.warn(f"{message}; skipped", MissingImagesWarning, stacklevel=3)
        return present

    def split_examples(
        self,
        split: str,
        folder: Path,
        captions: dict[str, list[list[str]]],
        listed_in: str,
    ) -> list[dict[str, Any]]:
        """Raw examples of ``split`` from ``{image file name: its captions (token lists)}``.

        Missing files are dropped (:meth:`present_images`), the rest decoded through the cache
        (unreadable ones raise or are skipped, ``on_bad_line``).
        """
        names = self.present_images(split, folder, list(captions), listed_in)
        tag = f"{self.dataset_name}-{split}"
        images = self.image_cache.load(folder, names, tag, self.on_bad_line)
        if not images:
            raise ValueError(
                f"{self.dataset_name} {split}: none of the {len(names)} image files in {folder} "
                "could be read; expected at least one"
            )
        self.image_counts[split] = len(images)
        examples = []
        for name, image in images.items():
            references = captions[name]
            source = str(folder / name)
            if split == "train":
                examples += [
                    {
                        "image": image,
                        "caption": caption,
                        "reference_captions": references,
                        "source": f"{source}#{number}",
                        "image_id": name,
                    }
                    for number, caption in enumerate(references)
                ]
            else:
                examples.append(
                    {
                        "image": image,
                        "caption": references[0],
                        "reference_captions": references,
                        "source": source,
                        "image_id": name,
                    }
                )
        return examples

    # ---- the contract ----------------------------------------------------------------------

    def image_tensor(self, image: Any, source: str = "the data") -> torch.Tensor:
        """As :meth:`CaptioningDataModule.image_tensor`; ``uint8`` tensors are read as
        ``pixel / 255``."""
        if isinstance(image, torch.Tensor) and image.dtype == torch.uint8:
            image = image.float().div_(255.0).numpy()
        return super().image_tensor(image, source)

    def fit_artifacts(self, train_examples: list[dict[str, Any]]) -> None:
        """Fitted per image (its first example holds all its captions as references)."""
        per_image: dict[Any, dict[str, Any]] = {}
        for example in train_examples:
            per_image.setdefault(example.get("image_id", id(example)), example)
        super().fit_artifacts(list(per_image.values()))

    def encode(self, example: dict[str, Any]) -> dict[str, Any]:
        """As :meth:`CaptioningDataModule.encode`; the examples of one image (one raw image
        object) share one normalised image tensor instead of a copy per caption."""
        shared, image = self._encoded_images, example.get("image")
        if shared is None:  # outside setup (prediction input): nothing to share
            return super().encode(example)
        hit = shared.get(id(image))
        if hit is None or hit[0] is not image:
            encoded = super().encode(example)
            shared[id(image)] = (image, encoded["image"])
            return encoded
        source = str(example.get("source", "the data"))
        encoded = {"image": hit[1], "source": source, "ids": None, "references": None}
        if example.get("caption") is not None:
            encoded["ids"] = self.vocab.encode(self.tokens(example["caption"], source))
            encoded["references"] = [" ".join(ref) for ref in self.references(example)]
        return encoded

    def setup(self, stage: str | None = None) -> None:
        self._encoded_images = {}
        try:
            super().setup(stage)
        finally:
            self._encoded_images = None

    def summary(self) -> dict[str, Any]:
        images = {f"{split}_images": count for split, count in self.image_counts.items()}
        return {**super().summary(), **images}
