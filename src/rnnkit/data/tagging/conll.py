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
from pathlib import Path
from typing import Any

import torch

from rnnkit.data.datamodule import SPLITS
from rnnkit.data.io.reading import BadLinePolicy, check_fraction, check_on_bad_line, read_blocks
from rnnkit.data.io.reading import split_off as split_off_examples
from rnnkit.data.io.vocabulary import PAD, UNK, Vocabulary
from rnnkit.data.tagging.datamodule import TaggingDataModule
from rnnkit.data.tagging.tag_schemes import normalize_scheme, split_tag

DOCSTART = "-DOCSTART-"
"""First field of CoNLL's document-boundary lines: ``-DOCSTART- -X- O O`` (``eng.train``,
``eng.testa``) or ``-DOCSTART- -X- -X- O`` (``eng.testb``)."""
COLUMN_SEPARATOR = re.compile(r"[ \t]+")
CONLL2003_COLUMNS = ("word", "POS", "chunk", "NER")


# ---- character features ---------------------------------------------------------------------


class CharacterFeaturesMixin:
    """Character ids for every word, when ``char_features=True``; mix in before the tagging
    datamodule: ``class MyData(CharacterFeaturesMixin, TaggingDataModule)``.

    The character vocabulary (``<pad>`` = 0, ``<unk>``, then the training words' characters,
    case kept) is fitted on the training split with the word vocabulary and stored in the
    artifacts (``char_vocab``). The spec then carries ``char_vocab_size`` and
    ``char_pad_index``, and batches carry ``chars (N, L, W)`` long character ids (0 =
    padding, ``W`` the longest word of the batch) and ``word_lengths (N, L)`` (0 at padded word
    positions). Without ``char_features`` nothing changes.
    """

    def __init__(self, *args: Any, char_features: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not isinstance(char_features, bool):
            raise ValueError(f"char_features: expected true or false, got {char_features!r}")
        self.char_features = char_features
        self.char_vocab: Vocabulary | None = None

    def fit_artifacts(self, train_examples: list[dict[str, Any]]) -> None:
        super().fit_artifacts(train_examples)
        if self.char_features:
            words = (word for example in train_examples for word in example["tokens"])
            self.char_vocab = Vocabulary.fit(words, specials=(PAD, UNK))

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
            self.char_vocab = Vocabulary.from_json(artifacts["char_vocab"])

    def encode(self, example: dict[str, Any]) -> tuple:
        encoded = super().encode(example)
        if not self.char_features:
            return encoded
        return (*encoded, [self.char_vocab.encode(word) for word in encoded[2]])

    def collate(self, examples: list[tuple]) -> dict[str, Any]:
        if not self.char_features:
            return super().collate(examples)
        batch = super().collate([example[:3] for example in examples])
        words = [example[3] for example in examples]
        longest_sentence = max(len(sentence) for sentence in words)
        longest_word = max(len(word) for sentence in words for word in sentence)
        chars = torch.zeros(len(words), longest_sentence, longest_word, dtype=torch.long)
        word_lengths = torch.zeros(len(words), longest_sentence, dtype=torch.long)
        for row, sentence in enumerate(words):
            for column, word in enumerate(sentence):
                chars[row, column, : len(word)] = torch.tensor(word, dtype=torch.long)
                word_lengths[row, column] = len(word)
        batch.update(chars=chars, word_lengths=word_lengths)
        return batch

    @property
    def spec(self) -> dict[str, Any]:
        spec = super().spec
        if self.char_features:
            spec.update(
                char_vocab_size=len(self.char_vocab), char_pad_index=self.char_vocab.pad_index
            )
        return spec


# ---- tagging data from files ----------------------------------------------------------------


class TaggingFilesDataModule(CharacterFeaturesMixin, TaggingDataModule):
    """Tagged sentences from a training, a validation and a test file of one format.

    Subclasses implement :meth:`read_file`. A bad line is reported by file and line
    (``on_bad_line="error"``: ``ValueError("<file>, line 17: ...")``) or, with ``"skip"``,
    the sentence that holds it is dropped (a sentence missing a word would be wrong) and one
    warning per file gives the count (:class:`rnnkit.data.io.reading.BadLinePolicy`).

    Args:
        path: folder of the files (relative file names are read from it).
        train_file, val_file, test_file: the splits' files. ``val_file=None`` carves
            ``val_ratio`` of the training sentences (chosen by ``split_seed``) for validation;
            ``test_file=None`` means no test split.
        on_bad_line: ``"error"`` or ``"skip"``.
        char_features: also give the batches character ids (:class:`CharacterFeaturesMixin`).
        **kwargs: :class:`~rnnkit.data.tagging.datamodule.TaggingDataModule`'s (``tag_scheme``,
            ``lowercase``, ``batch_size``...).
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
        self._carved: tuple[list[dict[str, Any]], list[dict[str, Any]]] | None = None

    def resolve(self, name: str | Path) -> Path:
        """A split file's path: absolute as given, else inside ``path``."""
        file = Path(str(name)).expanduser()
        return file if file.is_absolute() or self.path is None else self.path / file

    def read_file(self, file: Path) -> list[dict[str, Any]]:
        """Raw examples ``{"tokens", "tags", "source": "<file>, line <n>"}`` of one file."""
        raise NotImplementedError

    def _read(self, name: str | Path, argument: str) -> list[dict[str, Any]]:
        file = self.resolve(name)
        if not file.is_file():
            raise FileNotFoundError(
                f"{file}: not found ({argument}); put the file there or point data.path at its "
                "folder"
            )
        examples = self.read_file(file)
        if argument == "train_file" and not examples:
            raise ValueError(f"{file}: expected at least one sentence in the training file")
        return examples

    def load_split(self, split: str) -> list[dict[str, Any]]:
        if split not in SPLITS:
            raise ValueError(f"split: expected one of {list(SPLITS)}, got {split!r}")
        if split in ("train", "val") and self.val_file is None:
            if self._carved is None:
                examples = self._read(self.train_file, "train_file")
                self._carved = split_off_examples(examples, self.val_ratio, self.split_seed)
            return self._carved[0] if split == "train" else self._carved[1]
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

    def read_file(self, file: Path) -> list[dict[str, Any]]:
        examples: list[dict[str, Any]] = []
        documents = 0
        width = self.num_columns

        def is_boundary(text: str) -> bool:
            nonlocal documents
            stripped = text.strip(" \t")
            if stripped.split(maxsplit=1)[:1] == [DOCSTART]:
                documents += 1
                return True
            return not stripped

        with BadLinePolicy(file, self.on_bad_line) as policy:
            for block in read_blocks(file, policy, is_boundary):
                words: list[tuple[int, list[str]]] = []
                for line_number, text in block.lines:
                    fields = COLUMN_SEPARATOR.split(text.strip(" \t"))
                    width = width or len(fields)
                    problem = self._problem(fields, width)
                    if problem is not None:
                        policy.report(problem, line_number)
                        block.damaged = True
                    else:
                        words.append((line_number, fields))
                if words and not block.damaged:
                    examples.append(
                        {
                            "tokens": [fields[0] for _, fields in words],
                            "tags": [fields[self.column] for _, fields in words],
                            "source": f"{file}, line {words[0][0]}",
                        }
                    )
        self.documents[file.name] = documents
        return examples
