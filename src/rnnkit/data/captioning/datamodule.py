"""Image captioning data: images, each with a caption (and optionally several references)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from rnnkit.data.captioning.constant_caption import best_constant_caption
from rnnkit.data.datamodule import RnnkitDataModule, pad_sequences
from rnnkit.data.io.vocabulary import BOS, EOS, PAD, UNK, Vocabulary

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


class CaptioningDataModule(RnnkitDataModule):
    """Images and captions; subclasses say where raw examples come from (:meth:`load_split`).

    A raw example is ``{"image": float array (H, W) or (C, H, W) in [0, 1], "caption":
    list[str] (or a str, split on whitespace)}``, optionally with ``"reference_captions":
    list[list[str]]`` (all correct captions, for BLEU; default ``[caption]``) and ``"source"``
    (a name shown in errors and predictions).

    Fitted on the training split: the caption vocabulary (``<pad>, <unk>, <bos>, <eos>`` first),
    the image shape ``(C, H, W)`` (every other image is converted to its channels and resized to
    its size), the per-channel pixel mean and standard deviation, and the order-blind baseline
    caption: the single caption with the best corpus BLEU-4 on train when given for every image
    (:func:`~rnnkit.data.captioning.constant_caption.best_constant_caption`).

    Batches: ``images (N, C, H, W)`` float (normalised), ``caption_input (N, T)`` long (``<bos>``
    then the caption), ``caption_output (N, T)`` (the caption then ``<eos>``), ``caption_lengths
    (N,)`` (caption + 1), ``references`` (per image, its reference captions as space-joined
    strings, for BLEU) and ``sources``. Prediction batches have no caption entries.

    Args:
        lowercase: lower-case the caption tokens.
        min_frequency, max_vocab_size: vocabulary cut-offs (rarer words become ``<unk>``).
        image_size: ``[H, W]`` to resize every image to; None keeps the training size.
        max_caption_length: captions longer than this are cut (None: no limit).
    """

    task = "captioning"

    def __init__(
        self,
        batch_size: int = 32,
        num_workers: int = 0,
        seed: int = 0,
        lowercase: bool = True,
        min_frequency: int = 1,
        max_vocab_size: int | None = None,
        image_size: list[int] | None = None,
        max_caption_length: int | None = None,
    ) -> None:
        super().__init__(batch_size, num_workers, seed)
        if image_size is not None and (
            len(image_size) != 2 or any(not isinstance(s, int) or s < 1 for s in image_size)
        ):
            raise ValueError(
                f"image_size: expected [height, width] of positive integers or "
                f"null, got {image_size!r}"
            )
        if max_caption_length is not None and (
            not isinstance(max_caption_length, int) or max_caption_length < 1
        ):
            raise ValueError(
                f"max_caption_length: expected a positive integer or null, got "
                f"{max_caption_length!r}"
            )
        self.lowercase = lowercase
        self.min_frequency = min_frequency
        self.max_vocab_size = max_vocab_size
        self.image_size = list(image_size) if image_size is not None else None
        self.max_caption_length = max_caption_length
        self.vocab: Vocabulary | None = None
        self.image_shape: list[int] = []
        self.pixel_mean: list[float] = []
        self.pixel_std: list[float] = []
        self.constant_caption: list[str] = []

    # ---- captions ----------------------------------------------------------------------

    def tokens(self, caption: Any, source: str = "the data") -> list[str]:
        """A caption (token list or string) as the token list the model reads."""
        if isinstance(caption, str):
            caption = caption.split()
        if not isinstance(caption, (list, tuple)) or not all(isinstance(t, str) for t in caption):
            raise ValueError(
                f"caption in {source}: expected a list of words or a string, got "
                f"{type(caption).__name__}"
            )
        words = [t.lower() for t in caption] if self.lowercase else list(caption)
        if not words:
            raise ValueError(f"caption in {source}: expected at least one word, got none")
        return words[: self.max_caption_length] if self.max_caption_length else words

    def references(self, example: dict[str, Any]) -> list[list[str]]:
        source = str(example.get("source", "the data"))
        refs = example.get("reference_captions") or [example["caption"]]
        return [self.tokens(ref, source) for ref in refs]

    # ---- images ------------------------------------------------------------------------

    def image_tensor(self, image: Any, source: str = "the data") -> torch.Tensor:
        """A raw image as a ``(C, H, W)`` float tensor in the training shape (not normalised)."""
        array = np.asarray(image, dtype=np.float32)
        if array.ndim == 2:
            array = array[None]
        if array.ndim != 3 or array.shape[0] not in (1, 3):
            raise ValueError(
                f"image in {source}: expected an (H, W) or (C, H, W) array with C "
                f"in (1, 3), got shape {array.shape}"
            )
        if not np.isfinite(array).all():
            raise ValueError(f"image in {source}: contains NaN or infinite values")
        tensor = torch.from_numpy(np.ascontiguousarray(array))
        if not self.image_shape:
            return tensor
        channels, height, width = self.image_shape
        if tensor.shape[0] != channels:
            tensor = (
                tensor.mean(0, keepdim=True) if channels == 1 else tensor.expand(channels, -1, -1)
            )
        if tuple(tensor.shape[1:]) != (height, width):
            tensor = F.interpolate(
                tensor[None],
                size=(height, width),
                mode="bilinear",
                align_corners=False,
                antialias=True,
            )[0].clamp(0.0, 1.0)
        return tensor

    def normalise(self, image: torch.Tensor) -> torch.Tensor:
        mean = torch.tensor(self.pixel_mean).view(-1, 1, 1)
        std = torch.tensor(self.pixel_std).view(-1, 1, 1)
        return (image - mean) / std

    def denormalise(self, images: torch.Tensor) -> torch.Tensor:
        """Undo :meth:`normalise`: ``(..., C, H, W)`` back to [0, 1] pixels (for figures)."""
        mean = torch.tensor(self.pixel_mean, device=images.device).view(-1, 1, 1)
        std = torch.tensor(self.pixel_std, device=images.device).view(-1, 1, 1)
        return (images * std + mean).clamp(0.0, 1.0)

    # ---- the contract ------------------------------------------------------------------

    def fit_artifacts(self, train_examples: list[dict[str, Any]]) -> None:
        if not train_examples:
            raise ValueError("train split: expected at least one example, got none")
        references = [self.references(e) for e in train_examples]
        self.vocab = Vocabulary.fit(
            (ref for refs in references for ref in refs),
            specials=(PAD, UNK, BOS, EOS),
            min_frequency=self.min_frequency,
            max_size=self.max_vocab_size,
        )
        first = self.image_tensor(train_examples[0]["image"], "the first training example")
        channels = first.shape[0]
        height, width = self.image_size or first.shape[1:]
        self.image_shape = [int(channels), int(height), int(width)]
        images = torch.stack(
            [self.image_tensor(e["image"], str(e.get("source", "train"))) for e in train_examples]
        )
        self.pixel_mean = images.mean(dim=(0, 2, 3)).tolist()
        self.pixel_std = images.std(dim=(0, 2, 3)).clamp_min(1e-6).tolist()
        self.constant_caption = best_constant_caption(references)

    def artifacts(self) -> dict[str, Any]:
        return {
            "vocab": self.vocab.to_json(),
            "image_shape": self.image_shape,
            "pixel_mean": self.pixel_mean,
            "pixel_std": self.pixel_std,
            "constant_caption": self.constant_caption,
        }

    def load_artifacts(self, artifacts: dict[str, Any]) -> None:
        self.vocab = Vocabulary.from_json(artifacts["vocab"])
        self.image_shape = list(artifacts["image_shape"])
        self.pixel_mean = list(artifacts["pixel_mean"])
        self.pixel_std = list(artifacts["pixel_std"])
        self.constant_caption = list(artifacts.get("constant_caption", []))

    def encode(self, example: dict[str, Any]) -> dict[str, Any]:
        source = str(example.get("source", "the data"))
        if "image" not in example:
            raise ValueError(f"example in {source}: expected an 'image' entry")
        encoded = {
            "image": self.normalise(self.image_tensor(example["image"], source)),
            "source": source,
            "ids": None,
            "references": None,
        }
        if example.get("caption") is not None:
            encoded["ids"] = self.vocab.encode(self.tokens(example["caption"], source))
            encoded["references"] = [" ".join(ref) for ref in self.references(example)]
        return encoded

    def collate(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        batch: dict[str, Any] = {
            "images": torch.stack([e["image"] for e in examples]),
            "sources": [e["source"] for e in examples],
        }
        if all(e["ids"] is not None for e in examples):
            bos, eos = self.vocab.id(BOS), self.vocab.id(EOS)
            caption_input, lengths = pad_sequences([[bos, *e["ids"]] for e in examples])
            caption_output, _ = pad_sequences([[*e["ids"], eos] for e in examples])
            batch.update(
                caption_input=caption_input,
                caption_output=caption_output,
                caption_lengths=lengths,
                references=[e["references"] for e in examples],
            )
        return batch

    @property
    def spec(self) -> dict[str, Any]:
        channels, height, width = self.image_shape
        return {
            "vocab_size": len(self.vocab),
            "pad_index": self.vocab.pad_index,
            "bos_index": self.vocab.id(BOS),
            "eos_index": self.vocab.id(EOS),
            "image_channels": channels,
            "image_height": height,
            "image_width": width,
        }

    def summary(self) -> dict[str, Any]:
        return {**super().summary(), "baseline_caption": " ".join(self.constant_caption)}

    def decode_caption(self, ids: torch.Tensor | list[int]) -> str:
        """Token ids (stopping at ``<eos>``, specials dropped) as a space-joined caption."""
        values = ids.tolist() if isinstance(ids, torch.Tensor) else ids
        return " ".join(self.vocab.decode(values))

    def parse_raw(self, raw: str) -> list[dict[str, Any]]:
        """An image file (PNG, JPEG, ... any size), or a folder of them (sorted by name).

        Images are read with Pillow, converted to grey (or RGB, as in training) and resized to
        the training size. A missing file raises FileNotFoundError; an unreadable one a
        ValueError naming it.
        """
        path = Path(raw)
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not files:
                raise ValueError(
                    f"{path}: expected image files ({', '.join(IMAGE_SUFFIXES)}) "
                    "in this folder, found none"
                )
        elif path.is_file():
            files = [path]
        else:
            raise FileNotFoundError(2, "image file not found", str(path))
        return [
            {"image": self.read_image(file), "caption": None, "source": str(file)} for file in files
        ]

    def read_image(self, path: Path) -> np.ndarray:
        """``(C, H, W)`` float32 in [0, 1] of an image file, in the training channels and size."""
        from PIL import Image, UnidentifiedImageError

        channels, height, width = self.image_shape
        try:
            with Image.open(path) as image:
                converted = image.convert("L" if channels == 1 else "RGB")
                resized = converted.resize((width, height), Image.Resampling.BILINEAR)
        except (UnidentifiedImageError, OSError) as error:
            raise ValueError(
                f"{path}: cannot read it as an image ({type(error).__name__}: {error})"
            ) from None
        array = np.asarray(resized, dtype=np.float32) / 255.0
        return array[None] if array.ndim == 2 else array.transpose(2, 0, 1)
