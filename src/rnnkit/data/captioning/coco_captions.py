"""MS COCO captions (Chen et al., 2015): ``captions_<split>2014.json`` files and image folders."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

from rnnkit.data.captioning.caption_files import ImageCaptionFilesDataModule
from rnnkit.data.datamodule import SPLITS
from rnnkit.data.io.reading import BadLinePolicy, check_data_folder
from rnnkit.data.io.tokenizers import WordPunctTokenizer

KARPATHY_SPLITS = {"train": "train", "restval": "train", "val": "val", "test": "test"}
"""Karpathy's ``split`` values and the split each goes to (``restval``, the 30,504 val2014
images outside his 5,000/5,000 val/test, is trained on, as usual)."""


def read_json(file: Path) -> Any:
    """The JSON document in ``file``; a syntax error names the file, line and column."""
    try:
        with open(file, "rb") as stream:
            return json.loads(stream.read().decode("utf-8-sig"))
    except json.JSONDecodeError as error:
        raise ValueError(
            f"{file}, line {error.lineno}: not valid JSON ({error.msg} at column {error.colno})"
        ) from None
    except UnicodeDecodeError as error:
        raise ValueError(
            f"{file}: not valid UTF-8 (byte 0x{error.object[error.start]:02x} at offset "
            f"{error.start}); expected a UTF-8 JSON file"
        ) from None


def _entries(document: Any, key: str, file: Path) -> list[Any]:
    if not isinstance(document, dict) or not isinstance(document.get(key), list):
        found = sorted(document) if isinstance(document, dict) else type(document).__name__
        raise ValueError(
            f"{file}: expected a JSON object with a list under {key!r} (the COCO captions "
            f"layout), found {found}"
        )
    return document[key]


class COCOCaptionsDataModule(ImageCaptionFilesDataModule):
    """COCO captions from the official annotation files, or from Karpathy's split file.

    Official layout (``captions_train2014.json``, ``captions_val2014.json``): ``{"images":
    [{"id", "file_name", ...}], "annotations": [{"image_id", "caption", ...}]}``, the images
    in one folder per file (``train2014/``, ``val2014/``). Each split names its annotation file
    and image folder; COCO's test images have no public captions, so ``test_annotations=None``
    (the default) means no test split, and the usual choice is Karpathy's split below.

    Karpathy's split (``karpathy_split: dataset_coco.json``): ``{"images": [{"filepath",
    "filename", "split", "sentences": [{"tokens", "raw"}]}]}``; ``split`` is train, restval
    (trained on), val or test (5,000 images each), images in ``path/<filepath>/<filename>``,
    and the given ``tokens`` are the captions. The annotation options are then unused.

    Raw captions are tokenised into words and punctuation marks
    (:class:`~rnnkit.data.io.tokenizers.WordPunctTokenizer`; ``t-shirt`` -> ``t - shirt``),
    lower-cased (``lowercase``) and stripped of punctuation tokens (unless
    ``punctuation=true``). A bad entry (an image without ``id``/``file_name``, an id given
    twice, an annotation of an unknown image, a missing or empty caption) raises
    ``ValueError("<file>, annotations[17]: ...")`` or is skipped with one counted warning per
    file (``on_bad_line="skip"``); a file that is not JSON names its line and column. Images
    without any caption, and listed images whose file is absent, are skipped with one counted
    warning each per split. See
    :class:`~rnnkit.data.io.image_cache.ImageCaptionFilesDataModule` for the examples (every
    caption a training target; one evaluation example per image with all its references) and
    the image cache.

    Args:
        path: the dataset folder; relative file and folder names below are inside it.
        train_annotations, val_annotations, test_annotations: annotation files (None: no such
            split; a training file is required).
        train_images, val_images, test_images: the image folder of each split.
        karpathy_split: Karpathy's ``dataset_coco.json`` (then the options above are unused).
        **kwargs: :class:`ImageCaptionFilesDataModule`'s (``image_size``, ``cache_dir``,
            ``on_bad_line``, ``on_missing_image``, ``punctuation``, ``batch_size``, ...).
    """

    dataset_name = "coco_captions"

    def __init__(
        self,
        path: str,
        train_annotations: str | None = "annotations/captions_train2014.json",
        val_annotations: str | None = "annotations/captions_val2014.json",
        test_annotations: str | None = None,
        train_images: str = "train2014",
        val_images: str = "val2014",
        test_images: str | None = None,
        karpathy_split: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not isinstance(path, (str, Path)) or not str(path):
            raise ValueError(f"path: expected the COCO folder, got {path!r}")
        self.path = Path(str(path)).expanduser()
        self.annotations = {
            "train": train_annotations,
            "val": val_annotations,
            "test": test_annotations,
        }
        self.image_folders = {"train": train_images, "val": val_images, "test": test_images}
        if karpathy_split is None:
            if not train_annotations:
                raise ValueError(
                    "train_annotations: expected the training captions file (e.g. "
                    "annotations/captions_train2014.json) or a karpathy_split, got None"
                )
            for split in ("val", "test"):
                if self.annotations[split] and not self.image_folders[split]:
                    raise ValueError(
                        f"{split}_images: {split}_annotations is given, so expected the "
                        f"folder of its images, got {self.image_folders[split]!r}"
                    )
        self.karpathy_split = karpathy_split
        self.tokenizer = WordPunctTokenizer()
        self._karpathy: dict[str, dict[Path, dict[str, list[list[str]]]]] | None = None

    def resolve(self, name: str) -> Path:
        file = Path(str(name)).expanduser()
        return file if file.is_absolute() else self.path / file

    def words(self, caption: str) -> list[str]:
        return self.caption_words(self.tokenizer.tokenize(caption))

    # ---- the official annotation files -----------------------------------------------------

    def read_annotations(self, file: Path) -> dict[str, list[list[str]]]:
        """``{image file name: its captions (token lists)}`` of a COCO captions file, in the
        order of its ``images`` list; images without captions are left out (warned)."""
        if not file.is_file():
            check_data_folder(self.path, "the COCO annotations and images")
            raise FileNotFoundError(
                f"{file}: not found; put the COCO captions annotations there (from "
                "annotations_trainval2014.zip) or point data.path at their folder"
            )
        document = read_json(file)
        images = _entries(document, "images", file)
        annotations = _entries(document, "annotations", file)
        names: dict[Any, str] = {}
        with BadLinePolicy(file, self.on_bad_line) as policy:
            for index, entry in enumerate(images):
                where = f"{file}, images[{index}]"
                if not isinstance(entry, dict) or "id" not in entry or "file_name" not in entry:
                    policy.report("expected an object with 'id' and 'file_name'", path=where)
                elif not isinstance(entry["file_name"], str) or not entry["file_name"]:
                    policy.report(f"expected a file name, got {entry['file_name']!r}", path=where)
                elif entry["id"] in names:
                    policy.report(f"image id {entry['id']!r} given twice", path=where)
                else:
                    names[entry["id"]] = entry["file_name"]
            captions: dict[str, list[list[str]]] = {name: [] for name in names.values()}
            for index, entry in enumerate(annotations):
                where = f"{file}, annotations[{index}]"
                if not isinstance(entry, dict) or "image_id" not in entry:
                    policy.report("expected an object with 'image_id' and 'caption'", path=where)
                elif entry["image_id"] not in names:
                    policy.report(
                        f"image_id {entry['image_id']!r} is not in the file's images", path=where
                    )
                elif not isinstance(entry.get("caption"), str):
                    policy.report(
                        f"expected a caption string, got {entry.get('caption')!r}", path=where
                    )
                elif not (words := self.words(entry["caption"])):
                    policy.report(f"empty caption {entry['caption']!r}", path=where)
                else:
                    captions[names[entry["image_id"]]].append(words)
        return self._without_uncaptioned(captions, file)

    def _without_uncaptioned(
        self, captions: dict[str, list[list[str]]], file: Path
    ) -> dict[str, list[list[str]]]:
        kept = {name: refs for name, refs in captions.items() if refs}
        if not kept:
            raise ValueError(f"{file}: expected captioned images, found none")
        if len(kept) < len(captions):
            first = next(name for name, refs in captions.items() if not refs)
            warnings.warn(
                f"{file}: {len(captions) - len(kept)} of {len(captions)} images have no "
                f"caption (first: {first}); skipped",
                UserWarning,
                stacklevel=3,
            )
        return kept

    # ---- Karpathy's split file -------------------------------------------------------------

    def read_karpathy(self) -> dict[str, dict[Path, dict[str, list[list[str]]]]]:
        """``{split: {image folder: {file name: captions}}}`` from ``karpathy_split``."""
        if self._karpathy is not None:
            return self._karpathy
        file = self.resolve(self.karpathy_split)
        if not file.is_file():
            raise FileNotFoundError(
                f"{file}: not found; put Karpathy's dataset_coco.json there or set "
                "data.karpathy_split=null to read the official annotation files"
            )
        splits: dict[str, dict[Path, dict[str, list[list[str]]]]] = {s: {} for s in SPLITS}
        seen: set[tuple[str, str]] = set()
        with BadLinePolicy(file, self.on_bad_line) as policy:
            for index, entry in enumerate(_entries(read_json(file), "images", file)):
                where = f"{file}, images[{index}]"
                fields = ("filepath", "filename", "split", "sentences")
                if not isinstance(entry, dict) or any(key not in entry for key in fields):
                    policy.report(f"expected an object with {list(fields)}", path=where)
                    continue
                if entry["split"] not in KARPATHY_SPLITS:
                    policy.report(
                        f"split {entry['split']!r}: expected one of {list(KARPATHY_SPLITS)}",
                        path=where,
                    )
                    continue
                image = (str(entry["filepath"]), str(entry["filename"]))
                if image in seen:
                    policy.report(f"image {'/'.join(image)} given twice", path=where)
                    continue
                references = []
                for sentence in entry["sentences"] or []:
                    tokens = sentence.get("tokens") if isinstance(sentence, dict) else None
                    if isinstance(tokens, list) and all(isinstance(t, str) for t in tokens):
                        words = self.caption_words(tokens)
                    elif isinstance(sentence, dict) and isinstance(sentence.get("raw"), str):
                        words = self.words(sentence["raw"])
                    else:
                        words = []
                    if words:
                        references.append(words)
                if not references:
                    policy.report("expected at least one non-empty sentence", path=where)
                    continue
                seen.add(image)
                split = KARPATHY_SPLITS[entry["split"]]
                folder = self.path / image[0]
                splits[split].setdefault(folder, {})[image[1]] = references
        self._karpathy = splits
        return splits

    # ---- the contract ----------------------------------------------------------------------

    def load_split(self, split: str) -> list[dict[str, Any]]:
        if split not in SPLITS:
            raise ValueError(f"split: expected one of {list(SPLITS)}, got {split!r}")
        if self.karpathy_split is not None:
            folders = self.read_karpathy()[split]
            if not folders:
                raise ValueError(
                    f"{self.resolve(self.karpathy_split)}: no image has split {split!r}; "
                    "expected every split to have images"
                )
            listed_in = str(self.resolve(self.karpathy_split))
            examples = []
            for folder, captions in sorted(folders.items()):
                examples += self.split_examples(split, folder, captions, listed_in)
            self.image_counts[split] = len({e["source"].split("#")[0] for e in examples})
            return examples
        name = self.annotations[split]
        if not name:
            return []
        file = self.resolve(name)
        captions = self.read_annotations(file)
        folder = self.resolve(self.image_folders[split])
        if not folder.is_dir():
            raise FileNotFoundError(
                f"{folder}: image folder not found; put the COCO {split} images there or set "
                f"data.{split}_images to their folder"
            )
        return self.split_examples(split, folder, captions, str(file))
