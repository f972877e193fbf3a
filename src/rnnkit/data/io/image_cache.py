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
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rnnkit.data.io.reading import BadLineWarning, check_on_bad_line

CACHE_VERSION = 1
"""Bumped whenever the decoding or the cache file layout changes (old files are then ignored)."""

MODES = {"RGB": 3, "L": 1}
"""Pillow colour modes the cache converts images to, and their channel counts."""


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
                and warns once (:class:`~rnnkit.data.io.reading.BadLineWarning`) with the count
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
