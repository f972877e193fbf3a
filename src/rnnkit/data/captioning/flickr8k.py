"""Flickr8k (Hodosh et al., 2013): 8,091 photos with 5 captions each, in the original layout."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rnnkit.data.captioning.caption_files import ImageCaptionFilesDataModule
from rnnkit.data.datamodule import SPLITS
from rnnkit.data.io.download import check_download, needs_download
from rnnkit.data.io.download import download as download_file
from rnnkit.data.io.reading import BadLinePolicy, check_data_folder, read_lines

FLICKR8K_TEXT_URL = (
    "https://github.com/jbrownlee/Datasets/releases/download/Flickr8k/Flickr8k_text.zip"
)
"""The caption and split files (``Flickr8k.token.txt``, ``Flickr_8k.*Images.txt``) at the top
of the archive. Its sha256 is not published; pass the one you trust (``data.sha256``)."""

FLICKR8K_IMAGES_URL = (
    "https://github.com/jbrownlee/Datasets/releases/download/Flickr8k/Flickr8k_Dataset.zip"
)
"""The 8,091 JPEGs (about 1 GB), in the archive's folder ``Flicker8k_Dataset/`` (sic). No
published sha256 either (``data.images_sha256``)."""

TEXT_FOLDERS = ("", "Flickr8k_text")
"""Where the caption and split files are looked for, inside ``path``."""

IMAGE_FOLDERS = ("Flicker8k_Dataset", "Flickr8k_Dataset")
"""Where the images archive puts them, tried after ``images_folder``."""


class Flickr8kDataModule(ImageCaptionFilesDataModule):
    """Flickr8k: ``Flickr8k.token.txt`` captions, ``Flickr_8k.{train,dev,test}Images.txt``
    splits (6,000 / 1,000 / 1,000 images) -> train / val / test, JPEGs in ``Images/``.

    ``Flickr8k.token.txt`` has one caption per line, ``<image>.jpg#<n><TAB><caption>`` with
    ``n`` in 0-4; the captions are already tokenised (a space before punctuation) and are split
    on whitespace (punctuation tokens dropped unless ``punctuation=true``). Captions of images
    that no split lists are read and unused: among them the file's known quirk, 5 captions for
    ``2258277193_586949ec62.jpg.1``, an id that matches no image. Bad lines of the caption file
    and of the split lists (no tab, no ``#<n>`` caption number, an empty caption, a caption id
    or listed image given twice, a listed image without captions, bytes that are not UTF-8, a
    blank line before the end) raise ``ValueError("<file>, line <n>: ...")`` or are skipped
    with one counted warning per file (``on_bad_line="skip"``).

    Only the listed images whose file exists are used: the others are skipped with one counted
    warning per split (``MissingImagesWarning``: "flickr8k train: 5395 of 6000 listed images
    are missing from .../Images (first: ...); skipped"), so a subset of the images works; a
    split left without images is an error. See
    :class:`~rnnkit.data.io.image_cache.ImageCaptionFilesDataModule` for the examples (every
    caption a training target; one evaluation example per image with its 5 references) and
    :class:`~rnnkit.data.io.image_cache.ImageCache` for decoding and the image cache.

    Args:
        path: the dataset folder.
        images_folder: the JPEG folder inside ``path`` (the images archive's
            ``Flicker8k_Dataset`` is found too).
        captions_file, train_list, val_list, test_list: file names inside ``path`` (or its
            ``Flickr8k_text`` folder).
        download: fetch what is missing: the text archive from ``url`` (checked against
            ``sha256``) and the images archive from ``images_url`` (``images_sha256``), into
            ``path``, extracted. Neither checksum is published, so both are required from the
            user (``data.sha256=<64 hex digits>``); nothing is fetched without one.
        **kwargs: :class:`ImageCaptionFilesDataModule`'s (``image_size``, ``cache_dir``,
            ``on_bad_line``, ``on_missing_image``, ``punctuation``, ``batch_size``, ...).
    """

    dataset_name = "flickr8k"

    def __init__(
        self,
        path: str,
        images_folder: str = "Images",
        captions_file: str = "Flickr8k.token.txt",
        train_list: str = "Flickr_8k.trainImages.txt",
        val_list: str = "Flickr_8k.devImages.txt",
        test_list: str = "Flickr_8k.testImages.txt",
        download: bool = False,
        url: str = FLICKR8K_TEXT_URL,
        sha256: str | None = None,
        images_url: str = FLICKR8K_IMAGES_URL,
        images_sha256: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not isinstance(path, (str, Path)) or not str(path):
            raise ValueError(f"path: expected the Flickr8k folder, got {path!r}")
        self.path = Path(str(path)).expanduser()
        self.images_folder = images_folder
        self.captions_file = captions_file
        self.split_lists = {"train": train_list, "val": val_list, "test": test_list}
        self.download = check_download(download, url)
        self.url, self.sha256 = url, sha256
        self.images_url, self.images_sha256 = images_url, images_sha256
        self._captions: dict[str, list[list[str]]] | None = None
        self._checked_files = False

    # ---- files -----------------------------------------------------------------------------

    def text_file(self, name: str) -> Path:
        """A caption or split file: in ``path`` or its ``Flickr8k_text`` folder."""
        candidates = [self.path / folder / name for folder in TEXT_FOLDERS]
        return next((c for c in candidates if c.is_file()), candidates[0])

    def image_folder(self) -> Path:
        """``path / images_folder``, or the folder the images archive unpacks to."""
        candidates = [self.path / self.images_folder]
        candidates += [self.path / name for name in IMAGE_FOLDERS]
        return next((c for c in candidates if c.is_dir()), candidates[0])

    def _missing_text(self) -> list[Path]:
        names = [self.captions_file, *self.split_lists.values()]
        return [self.text_file(n) for n in names if not self.text_file(n).is_file()]

    def ensure_files(self) -> None:
        """Check that the caption file, split lists and image folder exist; download them
        first if asked to."""
        if self._checked_files:
            return
        check_data_folder(self.path, "the Flickr8k files")
        hint = "put the Flickr8k files there (or point data.path at their folder)"
        missing = self._missing_text()
        # With download=true, files of an extraction without its completion marker (a run
        # killed while extracting) are not trusted: the archive is extracted again.
        if self.download and (missing or needs_download(self.url, self.sha256, self.path)):
            download_file(self.url, self.sha256, self.path, extract=True)
            missing = self._missing_text()
            if missing:
                raise FileNotFoundError(
                    f"{missing[0]}: not found, and the archive from {self.url} does not contain it"
                )
        if missing:
            raise FileNotFoundError(
                f"{missing[0]}: not found; {hint}, or set data.download=true with "
                f"data.sha256=<sha256 of the archive> to fetch {self.url}"
            )
        images_stale = needs_download(self.images_url, self.images_sha256, self.path)
        if self.download and (not self.image_folder().is_dir() or images_stale):
            if self.images_sha256 is None:
                raise ValueError(
                    f"images_sha256: no checksum given for {self.images_url}; rnnkit downloads "
                    "only files it can verify. Pass it (data.images_sha256=<64 hex digits>) "
                    f"or put the images in {self.path / self.images_folder} by hand"
                )
            download_file(self.images_url, self.images_sha256, self.path, extract=True)
        if not self.image_folder().is_dir():
            raise FileNotFoundError(
                f"{self.path / self.images_folder}: image folder not found; {hint}, or set "
                f"data.download=true with data.images_sha256=<sha256> to fetch "
                f"{self.images_url}"
            )
        self._checked_files = True

    # ---- reading ---------------------------------------------------------------------------

    def captions(self) -> dict[str, list[list[str]]]:
        """``{image file name: its captions as token lists, in file order}`` of the whole
        caption file (read once)."""
        if self._captions is not None:
            return self._captions
        file = self.text_file(self.captions_file)
        captions: dict[str, list[list[str]]] = {}
        first_line: dict[str, int] = {}
        with BadLinePolicy(file, self.on_bad_line) as policy:
            for line_number, text in nonblank_lines(file, policy):
                caption_id, tab, caption = text.partition("\t")
                image, hash_sign, number = caption_id.strip().rpartition("#")
                if not tab:
                    problem = "expected '<image>#<n><TAB><caption>', found no tab"
                elif not hash_sign or not image or not number.isdigit():
                    problem = f"expected a caption id '<image>#<n>', got {caption_id!r}"
                elif caption_id in first_line:
                    problem = (
                        f"caption id {caption_id!r} given twice (first on line "
                        f"{first_line[caption_id]})"
                    )
                elif not (words := self.caption_words(caption.split())):
                    problem = f"empty caption for {caption_id!r}"
                else:
                    first_line[caption_id] = line_number
                    captions.setdefault(image, []).append(words)
                    continue
                policy.report(problem, line_number)
        if not captions:
            raise ValueError(f"{file}: expected caption lines, found none")
        self._captions = captions
        return captions

    def listed_images(self, split: str) -> dict[str, list[list[str]]]:
        """``{image file name: its captions}`` of a split list, in its order."""
        file = self.text_file(self.split_lists[split])
        captions = self.captions()
        listed: dict[str, list[list[str]]] = {}
        first_line: dict[str, int] = {}
        with BadLinePolicy(file, self.on_bad_line) as policy:
            for line_number, text in nonblank_lines(file, policy):
                name = text.strip()
                if name in first_line:
                    problem = f"{name} listed twice (first on line {first_line[name]})"
                elif name not in captions:
                    problem = f"no captions for {name} in {self.captions_file}"
                else:
                    first_line[name] = line_number
                    listed[name] = captions[name]
                    continue
                policy.report(problem, line_number)
        if not listed:
            raise ValueError(f"{file}: expected image file names, one a line; found none")
        return listed

    def load_split(self, split: str) -> list[dict[str, Any]]:
        if split not in SPLITS:
            raise ValueError(f"split: expected one of {list(SPLITS)}, got {split!r}")
        self.ensure_files()
        listed = self.listed_images(split)
        listed_in = str(self.text_file(self.split_lists[split]))
        return self.split_examples(split, self.image_folder(), listed, listed_in)


def nonblank_lines(file: Path, policy: BadLinePolicy) -> Iterator[tuple[int, str]]:
    """:func:`~rnnkit.data.io.reading.read_lines` without blank lines; blank lines at the end of
    the file are ignored, one followed by more text goes to ``policy`` (it is bad)."""
    blank: int | None = None
    for line_number, text in read_lines(file, policy):
        if not text.strip():
            blank = blank or line_number
            continue
        if blank is not None:
            policy.report("blank line (expected no blank lines before the end)", blank)
            blank = None
        yield line_number, text
