"""CoNLL-U (Universal Dependencies) files, read for part-of-speech tagging."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rnnkit.data.io.reading import BadLinePolicy, read_blocks
from rnnkit.data.tagging.conll import TaggingFilesDataModule

CONLLU_COLUMNS = ("ID", "FORM", "LEMMA", "UPOS", "XPOS", "FEATS", "HEAD", "DEPREL", "DEPS", "MISC")
TAG_COLUMNS = {"upos": 3, "xpos": 4}
MULTIWORD_ID = re.compile(r"[1-9][0-9]*-[1-9][0-9]*")
EMPTY_NODE_ID = re.compile(r"(0|[1-9][0-9]*)\.[1-9][0-9]*")
WORD_ID = re.compile(r"[1-9][0-9]*")


class CoNLLUDataModule(TaggingFilesDataModule):
    """Part-of-speech tagging from CoNLL-U files (Universal Dependencies treebanks).

    The format (https://universaldependencies.org/format.html): a sentence is a block of
    lines ending with a blank line; lines starting with ``#`` are comments (``# sent_id``,
    ``# text``); every word line has 10 tab-separated columns
    ``ID FORM LEMMA UPOS XPOS FEATS HEAD DEPREL DEPS MISC``. The words of a sentence are the
    lines whose ID is an integer ``1, 2, 3...``; multiword-token lines (ID ``3-4``, the
    surface form ``don't`` of the words ``do`` ``n't``) and empty nodes (ID ``8.1``) are
    skipped, so the tokens are the syntactic words, as UD's taggers are scored.

    ``_`` means "unspecified" in every column except FORM (and LEMMA), where it is the word
    ``_`` itself: an underscore word is kept, while a ``_`` tag is a bad line (a treebank
    without XPOS tags has ``_`` there: use ``tag_column="upos"``).

    Bad lines, reported by file and line (``on_bad_line``: error, or skip the sentence): not
    10 tab-separated columns, an empty FORM, a malformed ID or one out of sequence, a ``_`` or
    empty tag, bytes that are not UTF-8.

    Args:
        path: the treebank folder.
        train_file, val_file, test_file: e.g. ``en_ewt-ud-train.conllu``,
            ``en_ewt-ud-dev.conllu``, ``en_ewt-ud-test.conllu``; ``val_file=None`` carves
            ``val_ratio`` of the training sentences, ``test_file=None`` means no test split.
        tag_column: ``"upos"`` (the universal tags: NOUN, VERB, ADP...) or ``"xpos"`` (the
            treebank's own tags, e.g. the Penn Treebank's for English).
        **kwargs: :class:`~rnnkit.data.tagging.conll.TaggingFilesDataModule`'s (``on_bad_line``,
            ``char_features``...) and :class:`~rnnkit.data.tagging.datamodule.TaggingDataModule`'s
            (``lowercase``, ``min_frequency``, ``batch_size``...). Tags are plain labels
            (``tag_scheme`` is ``"none"``).

    Raw examples: ``{"tokens", "tags", "source": "<file>, line <n>"}`` (the first word line).
    """

    def __init__(
        self,
        path: str | None,
        train_file: str,
        val_file: str | None = None,
        test_file: str | None = None,
        tag_column: str = "upos",
        **kwargs: Any,
    ) -> None:
        for fixed in ("tag_scheme", "source_tag_scheme"):
            if kwargs.get(fixed, "none") not in ("none", None):
                raise ValueError(
                    f"{fixed}: part-of-speech tags are plain labels, so the scheme is 'none'; "
                    f"got {kwargs[fixed]!r}"
                )
            kwargs.pop(fixed, None)
        if tag_column not in TAG_COLUMNS:
            raise ValueError(
                f"tag_column: expected one of {sorted(TAG_COLUMNS)}, got {tag_column!r}"
            )
        super().__init__(
            path,
            train_file,
            val_file,
            test_file,
            tag_scheme="none",
            source_tag_scheme="none",
            **kwargs,
        )
        self.tag_column = tag_column

    def _problem(self, fields: list[str], expected_id: int) -> str | None:
        """What is wrong with a word line (ID already known to be a word's), or None."""
        if int(fields[0]) != expected_id:
            return (
                f"word ID {fields[0]}: expected {expected_id} (the words of a sentence are "
                "numbered 1, 2, 3...; a blank line must end the previous sentence)"
            )
        if not fields[1]:
            return "empty FORM (column 2); expected the word"
        tag = fields[TAG_COLUMNS[self.tag_column]]
        if tag in ("", "_"):
            hint = "; this treebank may have no XPOS tags: use tag_column=upos" * (
                self.tag_column == "xpos"
            )
            return f"no {self.tag_column.upper()} tag ({tag!r}) for the word {fields[1]!r}{hint}"
        return None

    def read_file(self, file: Path) -> Iterator[dict[str, Any]]:
        with BadLinePolicy(file, self.on_bad_line) as policy:
            for block in read_blocks(file, policy):
                if block.damaged:  # a line was not UTF-8: the words' numbering is lost
                    continue
                words: list[tuple[int, list[str]]] = []
                position = 0
                for line_number, text in block.lines:
                    if text.startswith("#"):
                        continue
                    fields = text.split("\t")
                    number = fields[0]
                    # A word number (the common case) is told without a regular expression.
                    numbered = number.isascii() and number.isdigit() and number[0] != "0"
                    is_word = numbered or not (
                        MULTIWORD_ID.fullmatch(number) or EMPTY_NODE_ID.fullmatch(number)
                    )
                    position += is_word  # the word's place in its sentence, even on a bad line
                    if len(fields) != len(CONLLU_COLUMNS):
                        problem = (
                            f"expected {len(CONLLU_COLUMNS)} tab-separated columns "
                            f"({' '.join(CONLLU_COLUMNS)}), found {len(fields)}"
                        )
                    elif not is_word:
                        continue  # a multiword token's surface form, or an empty node
                    elif not (numbered or WORD_ID.fullmatch(number)):
                        problem = (
                            f"ID {fields[0]!r}: expected a word number (1, 2...), a range (3-4) "
                            "or an empty node (8.1)"
                        )
                    else:
                        problem = self._problem(fields, position)
                    if problem is not None:
                        policy.report(problem, line_number)
                        block.damaged = True
                    else:
                        words.append((line_number, fields))
                if words and not block.damaged:
                    column = TAG_COLUMNS[self.tag_column]
                    yield {
                        "tokens": [fields[1] for _, fields in words],
                        "tags": [fields[column] for _, fields in words],
                        "source": f"{file}, line {words[0][0]}",
                    }
