"""Captioning from folders of image files with several captions each (Flickr8k, COCO).

:class:`ImageCaptionFilesDataModule` is the captioning datamodule both loaders build on: images
come through :class:`~rnnkit.data.io.image_cache.ImageCache` as ``uint8`` tensors, every caption of
an image is a training example, and each evaluation example is one image with all its captions
as references.
"""

from __future__ import annotations

import string
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from rnnkit.data.captioning.datamodule import CaptioningDataModule
from rnnkit.data.io.image_cache import ImageCache, check_image_size
from rnnkit.data.io.reading import check_on_bad_line

ON_MISSING_IMAGE = ("skip", "error")


class MissingImagesWarning(UserWarning):
    """Listed images whose files are absent were skipped (one warning per split, counted)."""


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
            counted warning per file (:class:`~rnnkit.data.io.reading.BadLineWarning`).
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
