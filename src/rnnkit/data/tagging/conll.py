"""CoNLL-2003 column files (``word POS chunk NER``), and what file-based tagging data shares.

* :class:`CharacterFeaturesMixin` adds a character vocabulary (fitted on the training split)
  and ``chars`` / ``word_lengths`` tensors to the batches of any
  :class:`~rnnkit.data.tagging.datamodule.TaggingDataModule`, for the tagger's character features
  (``model.char_features``).
* :class:`TaggingFilesDataModule` reads train/val/test files of one tagging format, with
  bad lines reported by file and line (:mod:`rnnkit.data.io.reading`).
* :class:`CoNLLDataModule` reads the CoNLL-2003 shared-task files.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import partial
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rnnkit.data.datamodule import SPLITS
from rnnkit.data.io.parallel_encoding import map_ordered
from rnnkit.data.io.prepared_cache import Columns, narrowest_unsigned
from rnnkit.data.io.reading import (
    BadLinePolicy,
    LineChunk,
    check_data_folder,
    check_fraction,
    check_on_bad_line,
    decode_lines,
    max_line_bytes,
    read_block_chunks,
    read_line_chunks,
)
from rnnkit.data.io.reading import split_off as split_off_examples
from rnnkit.data.io.vocabulary import PAD, UNK, Vocabulary
from rnnkit.data.tagging.datamodule import TaggingDataModule, TrainingCounts
from rnnkit.data.tagging.tag_schemes import normalize_scheme, split_tag

DOCSTART = "-DOCSTART-"
"""First field of CoNLL's document-boundary lines: ``-DOCSTART- -X- O O`` (``eng.train``,
``eng.testa``) or ``-DOCSTART- -X- -X- O`` (``eng.testb``)."""
# Bytes of a CoNLL file a preparation worker parses at a time.
WORKER_CHUNK_BYTES = 4 << 20
COLUMN_SEPARATOR = re.compile(r"[ \t]+")
CONLL2003_COLUMNS = ("word", "POS", "chunk", "NER")
# How a line that may be a boundary (blank, or -DOCSTART-) begins; any other is a word line.
BOUNDARY_STARTS = frozenset({"", " ", "\t", "-"})


# ---- character features ---------------------------------------------------------------------


class CharacterFeaturesMixin:
    """Character ids for every word, when ``char_features=True``; mix in before the tagging
    datamodule: ``class MyData(CharacterFeaturesMixin, TaggingDataModule)``.

    The character vocabulary (``<pad>`` = 0, ``<unk>``, then the training words' characters,
    case kept) is fitted on the training split with the word vocabulary, in the same pass, and
    stored in the artifacts (``char_vocab``). The spec then carries ``char_vocab_size`` and
    ``char_pad_index``; encoded examples carry ``chars``, the character ids of all the
    sentence's words concatenated (cut into words by ``word_lengths``), and batches carry
    ``chars (N, L, W)`` long character ids (0 = padding, ``W`` the longest word of the batch)
    and ``word_lengths (N, L)`` (0 at padded word positions). Without ``char_features`` nothing
    changes.
    """

    def __init__(self, *args: Any, char_features: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not isinstance(char_features, bool):
            raise ValueError(f"char_features: expected true or false, got {char_features!r}")
        self.char_features = char_features
        self.char_vocab: Vocabulary | None = None
        self._char_table: np.ndarray | None = None

    def count_chunk(self, examples: list[dict[str, Any]]) -> TrainingCounts:
        counts = super().count_chunk(examples)
        if self.char_features:
            counts.characters = Counter(
                "".join(chain.from_iterable(example["tokens"] for example in examples))
            )
        return counts

    def set_fitted(self, counts: TrainingCounts) -> None:
        super().set_fitted(counts)
        if self.char_features:
            characters = counts.characters if counts.characters is not None else Counter()
            self._use_char_vocab(Vocabulary.from_counts(characters, specials=(PAD, UNK)))

    def _use_char_vocab(self, vocab: Vocabulary) -> None:
        """Keep ``vocab`` and a lookup table from code point to character id (``<unk>`` for
        code points outside the vocabulary, and at the table's last entry)."""
        self.char_vocab = vocab
        points = {ord(token): i for token, i in vocab.index.items() if len(token) == 1}
        table = np.full(max(points, default=0) + 2, vocab.id(UNK), dtype=np.int64)
        table[list(points)] = list(points.values())
        self._char_table = table.astype(narrowest_unsigned(len(vocab) - 1))

    def artifacts(self) -> dict[str, Any]:
        artifacts = super().artifacts()
        if self.char_features:
            artifacts["char_vocab"] = self.char_vocab.to_json()
        return artifacts

    def load_artifacts(self, artifacts: dict[str, Any]) -> None:
        super().load_artifacts(artifacts)
        if self.char_features:
            if "char_vocab" not in artifacts:
                raise ValueError(
                    "char_features: true, but the fitted artifacts have no character "
                    "vocabulary ('char_vocab'); they were fitted with char_features=false"
                )
            self._use_char_vocab(Vocabulary.from_json(artifacts["char_vocab"]))

    def encoded_fields(self) -> dict[str, tuple[Any, bool]]:
        fields = super().encoded_fields()
        if self.char_features:
            fields["chars"] = (self._char_table.dtype, True)
        return fields

    def encode_counts(self, example: dict[str, Any], counts: Counter) -> dict[str, Any]:
        encoded = super().encode_counts(example, counts)
        if self.char_features:
            encoded["chars"] = self.char_ids("".join(example["tokens"]))
        return encoded

    def add_chunk_columns(self, columns: Columns, text: str, characters: np.ndarray) -> None:
        super().add_chunk_columns(columns, text, characters)
        if self.char_features:
            columns["chars"] = (self.char_ids(text), characters)

    def char_ids(self, text: str) -> np.ndarray:
        """Character ids of every character of ``text`` (``<unk>`` for unseen ones)."""
        points = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
        return self._char_table.take(points, mode="clip")  # beyond the table: its last, <unk>

    def collate(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        batch = super().collate(examples)
        if self.char_features:
            batch["chars"], batch["word_lengths"] = character_grid(
                [e["chars"] for e in examples], [e["word_lengths"] for e in examples]
            )
        return batch

    @property
    def spec(self) -> dict[str, Any]:
        spec = super().spec
        if self.char_features:
            spec.update(
                char_vocab_size=len(self.char_vocab), char_pad_index=self.char_vocab.pad_index
            )
        return spec


def character_grid(
    chars: list[np.ndarray | list[int]], word_lengths: list[np.ndarray | list[int]]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sentences' concatenated character ids cut into words: ``chars (N, L, W)`` long ids (0 =
    padding; ``L`` the longest sentence, ``W`` the longest word) and ``word_lengths (N, L)``
    (0 at padded word positions), from one flat id sequence and one length sequence per
    sentence."""
    sentence_lengths = np.fromiter((len(w) for w in word_lengths), np.int64, len(word_lengths))
    lengths = np.concatenate([np.asarray(w, dtype=np.int64) for w in word_lengths])
    ids = np.concatenate([np.asarray(c, dtype=np.int64) for c in chars])
    rows = np.repeat(np.arange(len(word_lengths)), sentence_lengths)
    columns = np.arange(len(lengths)) - np.repeat(
        np.cumsum(sentence_lengths) - sentence_lengths, sentence_lengths
    )
    word_of = np.repeat(np.arange(len(lengths)), lengths)  # the word of each character
    position = np.arange(len(ids)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    grid = np.zeros(
        (len(word_lengths), int(sentence_lengths.max()), int(lengths.max(initial=0))),
        dtype=np.int64,
    )
    grid[rows[word_of], columns[word_of], position] = ids
    padded_lengths = np.zeros(grid.shape[:2], dtype=np.int64)
    padded_lengths[rows, columns] = lengths
    return torch.from_numpy(grid), torch.from_numpy(padded_lengths)


# ---- tagging data from files ----------------------------------------------------------------


class TaggingFilesDataModule(CharacterFeaturesMixin, TaggingDataModule):
    """Tagged sentences from a training, a validation and a test file of one format.

    Subclasses implement :meth:`read_file`, a generator of raw examples read line by line. A
    bad line is reported by file and line (``on_bad_line="error"``: ``ValueError("<file>, line
    17: ...")``) or, with ``"skip"``, the sentence that holds it is dropped (a sentence missing a
    word would be wrong) and one warning per file read gives the count
    (:class:`rnnkit.data.io.reading.BadLinePolicy`).

    With a ``cache_dir`` the splits are prepared once per files and settings and memory-mapped
    afterwards (:class:`~rnnkit.data.datamodule.RnnkitDataModule`); no split is ever held as a
    list of sentences.

    Args:
        path: folder of the files (relative file names are read from it).
        train_file, val_file, test_file: the splits' files. ``val_file=None`` carves
            ``val_ratio`` of the training sentences (chosen by ``split_seed``) for validation;
            ``test_file=None`` means no test split.
        on_bad_line: ``"error"`` or ``"skip"``.
        char_features: also give the batches character ids (:class:`CharacterFeaturesMixin`).
        **kwargs: :class:`~rnnkit.data.tagging.datamodule.TaggingDataModule`'s (``tag_scheme``,
            ``lowercase``, ``batch_size``, ``cache_dir``...).
    """

    def __init__(
        self,
        path: str | None,
        train_file: str,
        val_file: str | None = None,
        test_file: str | None = None,
        on_bad_line: str = "error",
        val_ratio: float = 0.1,
        split_seed: int = 0,
        char_features: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(char_features=char_features, **kwargs)
        if not isinstance(train_file, (str, Path)) or not str(train_file):
            raise ValueError(f"train_file: expected the training file's name, got {train_file!r}")
        self.path = Path(str(path)).expanduser() if path is not None else None
        self.train_file, self.val_file, self.test_file = train_file, val_file, test_file
        self.on_bad_line = check_on_bad_line(on_bad_line)
        self.val_ratio = check_fraction(val_ratio, "val_ratio")
        self.split_seed = split_seed
        self._carved: bytearray | None = None  # 1 for each training sentence carved for val

    def resolve(self, name: str | Path) -> Path:
        """A split file's path: absolute as given, else inside ``path``."""
        file = Path(str(name)).expanduser()
        return file if file.is_absolute() or self.path is None else self.path / file

    def read_file(self, file: Path) -> Iterator[dict[str, Any]]:
        """Raw examples ``{"tokens", "tags", "source": "<file>, line <n>"}`` of one file, one at
        a time."""
        raise NotImplementedError

    def _file(self, name: str | Path, argument: str) -> Path:
        file = self.resolve(name)
        if not file.is_file():
            check_data_folder(self.path, f"{argument}={name}")
            raise FileNotFoundError(
                f"{file}: not found ({argument}); put the file there or point data.path at its "
                "folder"
            )
        return file

    def _named_files(self) -> dict[str, str | Path]:
        names = {"train_file": self.train_file}
        names.update(val_file=self.val_file, test_file=self.test_file)
        return {argument: name for argument, name in names.items() if name is not None}

    def source_files(self) -> list[Path]:
        return [self._file(name, argument) for argument, name in self._named_files().items()]

    def _read(self, name: str | Path, argument: str) -> Iterator[dict[str, Any]]:
        file = self._file(name, argument)  # checked now, not when the reading starts
        return self._read_checked(file, argument)

    def _read_checked(self, file: Path, argument: str) -> Iterator[dict[str, Any]]:
        count = 0
        for count, example in enumerate(self.read_file(file), start=1):  # noqa: B007
            yield example
        if argument == "train_file" and not count:
            raise ValueError(f"{file}: expected at least one sentence in the training file")

    def _carved_mask(self) -> bytearray:
        """Which training sentences ``val_file=None`` carves for validation (counted in one
        pass over the training file, chosen as :func:`~rnnkit.data.io.reading.split_off`
        does)."""
        if self._carved is None:
            total = sum(1 for _ in self._read(self.train_file, "train_file"))
            _, carved = split_off_examples(range(total), self.val_ratio, self.split_seed)
            mask = bytearray(total)
            for index in carved:
                mask[index] = 1
            self._carved = mask
        return self._carved

    def load_split(self, split: str) -> Iterable[dict[str, Any]]:
        """The raw examples of ``split``, read from its file as they are consumed."""
        if split not in SPLITS:
            raise ValueError(f"split: expected one of {list(SPLITS)}, got {split!r}")
        if split in ("train", "val") and self.val_file is None:
            carved, wanted = self._carved_mask(), split == "val"
            examples = self._read(self.train_file, "train_file")
            return (e for i, e in enumerate(examples) if carved[i] == wanted)
        name = {"train": self.train_file, "val": self.val_file, "test": self.test_file}[split]
        return [] if name is None else self._read(name, f"{split}_file")


def _check_column_index(value: Any, argument: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(
            f"{argument}: expected a 0-based column index >= 1 (column 0 is the word), got "
            f"{value!r}"
        )
    return value


class CoNLLDataModule(TaggingFilesDataModule):
    """CoNLL-2003 NER (and other CoNLL column files): one word per line, columns separated by
    spaces, a blank line after each sentence.

    The shared-task files have four columns, ``word POS chunk NER``; the NER and chunk tags
    are in IOB1 (an entity starts with ``I-``; ``B-`` only where it directly follows another
    of the same type) and are converted to ``tag_scheme`` on the fly. Lines whose first field
    is ``-DOCSTART-`` (``-DOCSTART- -X- O O``, or ``-DOCSTART- -X- -X- O`` in ``eng.testb``)
    are document boundaries, never sentences; blank lines at the end of a file, or several in
    a row, are fine.

    Bad lines, reported by file and line (``on_bad_line``): a line with another number of
    columns than ``num_columns``, a tag that is not valid in
    ``source_tag_scheme`` (``X-PER``, ``B`` ...), bytes that are not UTF-8.

    Args:
        path: the folder of the files (e.g. ``shared/data/conll2003``).
        train_file, val_file, test_file: ``eng.train``, ``eng.testa`` (the development set),
            ``eng.testb`` (the test set); see :class:`TaggingFilesDataModule` for None.
        column: the 0-based column of the tags: 3 = NER, 2 = chunk, 1 = part of speech.
        num_columns: columns every word line must have (4 in CoNLL-2003); None takes the
            count of each file's first word line (for other CoNLL-style files).
        source_tag_scheme: scheme of the file's tags; None: ``IOB1`` for NER and chunk
            (``column >= 2``), ``none`` (plain labels) for part-of-speech tags.
        tag_scheme: scheme the model learns (``BIO``, ``BIOES``, ``IOB1``); None: ``BIO`` for
            entity tags, ``none`` for parts of speech.
        **kwargs: :class:`TaggingFilesDataModule`'s (``on_bad_line``, ``char_features``) and
            :class:`~rnnkit.data.tagging.datamodule.TaggingDataModule`'s (``lowercase``,
            ``min_frequency``, ``batch_size``...).

    Attributes:
        documents: number of ``-DOCSTART-`` documents per file read.

    Raw examples: ``{"tokens": [...], "tags": [...], "source": "<file>, line <n>"}`` (the
    sentence's first line), tags as in the file.
    """

    def __init__(
        self,
        path: str | None,
        train_file: str = "eng.train",
        val_file: str | None = "eng.testa",
        test_file: str | None = "eng.testb",
        column: int = 3,
        num_columns: int | None = 4,
        source_tag_scheme: str | None = None,
        tag_scheme: str | None = None,
        **kwargs: Any,
    ) -> None:
        self.column = _check_column_index(column, "column")
        if num_columns is not None:
            _check_column_index(num_columns, "num_columns")
            if column >= num_columns:
                raise ValueError(
                    f"column: expected a column index below num_columns={num_columns}, got {column}"
                )
        self.num_columns = num_columns
        if source_tag_scheme is None:
            source_tag_scheme = "IOB1" if column >= 2 else "none"
        source = normalize_scheme(source_tag_scheme, "source_tag_scheme")
        if tag_scheme is None:
            tag_scheme = "none" if source == "none" else "BIO"
        super().__init__(
            path,
            train_file,
            val_file,
            test_file,
            source_tag_scheme=source,
            tag_scheme=tag_scheme,
            **kwargs,
        )
        self.documents: dict[str, int] = {}

    def _problem(self, fields: list[str], width: int) -> str | None:
        """What is wrong with a word line, or None."""
        if len(fields) != width:
            layout = f" ({' '.join(CONLL2003_COLUMNS)})" if width == len(CONLL2003_COLUMNS) else ""
            return (
                f"expected {width} space-separated columns{layout}, found {len(fields)}: "
                f"{' '.join(fields)[:80]!r}"
            )
        tag = fields[self.column]
        if self.source_tag_scheme != "none":
            try:
                split_tag(tag, self.source_tag_scheme)
            except ValueError as error:
                return f"column {self.column}: {str(error).removeprefix('tags: ')}"
        return None

    def preparation_settings(self) -> dict[str, Any]:
        """The default settings without ``documents``, which counts what was read."""
        settings = super().preparation_settings()
        settings.pop("documents", None)
        return settings

    def _boundary(self, text: str) -> int:
        """0 for a word line, 1 for a blank line, 2 for a ``-DOCSTART-`` line."""
        stripped = text.strip(" \t")
        if not stripped:
            return 1
        return 2 if stripped.split(maxsplit=1)[0] == DOCSTART else 0

    def read_file(self, file: Path) -> Iterator[dict[str, Any]]:
        """One pass over the lines, a chunk at a time (see :meth:`sentences`)."""
        tally: Counter = Counter()
        with BadLinePolicy(file, self.on_bad_line) as policy:
            yield from self.sentences(file, read_line_chunks(file), policy, self.num_columns, tally)
        self.documents[file.name] = tally["documents"]

    def sentences(
        self,
        file: Path,
        chunks: Iterable[LineChunk],
        policy: BadLinePolicy,
        width: int | None,
        tally: Counter,
    ) -> Iterator[dict[str, Any]]:
        """The raw examples of consecutive chunks of ``file``'s lines, the last sentence ended by
        the end of the chunks; bad lines go to ``policy``, ``-DOCSTART-`` lines are counted in
        ``tally["documents"]``, and word lines must have ``width`` columns (None: as many as
        the first word line).

        This is the hot loop of a large corpus: a word line costs a split and a few membership
        tests; the full checks run once per distinct tag, and on lines that are not single-space
        separated."""
        documents = 0
        column = self.column
        entity_tags = self.source_tag_scheme != "none"
        valid_tags: set[str] = set()  # tags already checked against source_tag_scheme
        tokens: list[str] = []
        tags: list[str] = []
        first = 0
        damaged = False  # the sentence being read lost a line: it is dropped
        for chunk in chunks:
            line_number = chunk.start - 1
            for text in chunk.lines:
                line_number += 1
                if text is None:  # not UTF-8
                    policy.report(chunk.problems[line_number], line_number, file)
                    damaged = True
                    continue
                if text[:1] in BOUNDARY_STARTS and (kind := self._boundary(text)):
                    documents += kind == 2
                    if tokens and not damaged:
                        yield {"tokens": tokens, "tags": tags, "source": f"{file}, line {first}"}
                    tokens, tags, damaged = [], [], False
                    continue
                fields = text.split(" ")
                if "" in fields or "\t" in text:  # not single spaces: the general rule
                    fields = COLUMN_SEPARATOR.split(text.strip(" \t"))
                width = width or len(fields)
                if len(fields) != width or (entity_tags and fields[column] not in valid_tags):
                    problem = self._problem(fields, width)
                    if problem is not None:
                        policy.report(problem, line_number)
                        damaged = True
                        continue
                    if entity_tags:
                        valid_tags.add(fields[column])
                if not tokens:
                    first = line_number
                tokens.append(fields[0])
                tags.append(fields[column])
        if tokens and not damaged:
            yield {"tokens": tokens, "tags": tags, "source": f"{file}, line {first}"}
        tally["documents"] += documents

    # ---- preparation: files parsed in worker processes -----------------------------------

    def map_split(self, split: str, function: Callable[[Any], Any], workers: int) -> Iterator[Any]:
        """The base class's, but a split with a file of its own (not carved from the training
        file) is parsed by the workers themselves: this process reads chunks of the file that
        end at blank lines (:func:`~rnnkit.data.io.reading.read_block_chunks`, a few megabytes
        each) and sends them on undecoded; a worker decodes and parses a chunk's sentences
        (:meth:`sentences`) and runs ``function`` on them. Bad lines are reported in file order,
        as when read here (``"error"``: the first one raises once the chunks before it are
        done)."""
        carved = split in ("train", "val") and self.val_file is None
        if split not in SPLITS or carved or type(self).read_file is not CoNLLDataModule.read_file:
            return super().map_split(split, function, workers)
        name = {"train": self.train_file, "val": self.val_file, "test": self.test_file}[split]
        if name is None:
            return iter(())
        return self._map_file(self._file(name, f"{split}_file"), split, function, workers)

    def _map_file(
        self, file: Path, split: str, function: Callable[[Any], Any], workers: int
    ) -> Iterator[Any]:
        width = self.num_columns or _first_width(file)
        policy = BadLinePolicy(file, self.on_bad_line)
        documents = found = 0
        run = partial(self._parsed_chunk, function, file, width)
        for outcome in map_ordered(run, read_block_chunks(file, WORKER_CHUNK_BYTES), workers):
            policy.skipped.extend(outcome.skipped)
            documents += outcome.documents
            found += outcome.found
            if outcome.found:
                yield outcome.result
        if split == "train" and not found:
            raise ValueError(f"{file}: expected at least one sentence in the training file")
        policy.finish()
        self.documents[file.name] = documents

    def _parsed_chunk(
        self,
        function: Callable[[Any], Any],
        file: Path,
        width: int | None,
        pieces: list[tuple[int, bytes | None]],
    ) -> _ParsedChunk:
        """In a worker: ``function`` of the sentences of one chunk, and what reading found."""
        policy = BadLinePolicy(file, self.on_bad_line)
        tally: Counter = Counter()
        examples = self._chunk_sentences(file, pieces, policy, width, tally)
        result = function(examples) if examples else None
        return _ParsedChunk(result, len(examples), tally["documents"], policy.skipped)

    def _chunk_sentences(
        self,
        file: Path,
        pieces: list[tuple[int, bytes | None]],
        policy: BadLinePolicy,
        width: int | None,
        tally: Counter,
    ) -> list[dict[str, Any]]:
        """:meth:`sentences` of a chunk of ``file`` (:func:`~rnnkit.data.io.reading.
        read_block_chunks`' pieces), with no Python step per line for a plain sentence: lines
        of ``width`` non-empty fields separated by single spaces, no tab or carriage return,
        no ``-DOCSTART-``, tags already checked. Sentences are cut at blank lines, split once,
        checked by where the line ends fall among the fields, and their columns taken by
        slices; any other sentence, and a chunk that is not UTF-8, is read line by line."""
        text = None if width is None else _utf8_text(pieces)
        if text is None:
            chunks = (decode_lines(data, start) for start, data in pieces)
            return list(self.sentences(file, chunks, policy, width, tally))
        examples: list[dict[str, Any]] = []
        column, stride = self.column, width + 1  # a line's fields, then its line end
        longest = max_line_bytes() // 4  # characters: a longer sentence is measured by lines
        valid_tags: set[str] = set()
        line = pieces[0][0]
        for piece in text.split("\n\n"):
            block = piece.strip("\n")  # without the blank lines of a longer run
            start = line + len(piece) - len(piece.lstrip("\n"))
            line += piece.count("\n") + 2
            if not block:
                continue
            fields = block.replace("\n", " \n ").split(" ")
            breaks = block.count("\n")
            tags = fields[column::stride]
            if (
                len(fields) != stride * (breaks + 1) - 1
                or fields[width::stride].count("\n") != breaks  # each line has width fields
                or "" in fields  # two spaces in a row, or a space at a line's end
                or "\t" in block
                or "\r" in block
                or len(block) > longest
                or DOCSTART in block
                or not valid_tags.issuperset(tags)
                and not self._valid(tags)
            ):
                lines = decode_lines(block.encode("utf-8"), start)
                examples += self.sentences(file, [lines], policy, width, tally)
                continue
            valid_tags.update(tags)
            words = fields[::stride]
            examples.append({"tokens": words, "tags": tags, "source": f"{file}, line {start}"})
        return examples

    def _valid(self, tags: list[str]) -> bool:
        """Whether every one of ``tags`` is valid in ``source_tag_scheme``."""
        if self.source_tag_scheme == "none":
            return True
        try:
            for tag in set(tags):
                split_tag(tag, self.source_tag_scheme)
        except ValueError:
            return False
        return True


@dataclass
class _ParsedChunk:
    """What a worker read in a chunk of a CoNLL file: ``function``'s result, the sentences,
    the ``-DOCSTART-`` lines and the bad lines it skipped (in order)."""

    result: Any
    found: int
    documents: int
    skipped: list[tuple[str, str]]


def _utf8_text(pieces: list[tuple[int, bytes | None]]) -> str | None:
    """The text of consecutive pieces of a file (None: a piece is a line skipped as too long,
    or is not UTF-8)."""
    if any(data is None for _, data in pieces):
        return None
    try:
        return "\n".join(data.decode("utf-8") for _, data in pieces)
    except UnicodeDecodeError:
        return None


def _first_width(file: Path) -> int | None:
    """The number of columns of ``file``'s first word line (None: it has none)."""
    for chunk in read_line_chunks(file):
        for text in chunk.lines:
            if text is not None and text.strip(" \t"):
                fields = COLUMN_SEPARATOR.split(text.strip(" \t"))
                if fields[0] != DOCSTART:
                    return len(fields)
    return None
