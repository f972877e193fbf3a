"""Entity-level F1 (exact chunk match, micro over entity types), as seqeval computes it.

A predicted entity counts when its type, first and last token all equal a gold entity's. Chunks
are read as ``seqeval.metrics.f1_score`` reads them:

* IOB1 and BIO: seqeval's default mode, compatible with conlleval.pl: an ``I-X`` after ``O`` or
  after another type starts a chunk, a chunk ends before ``O``, ``B-`` or a change of type.
* BIOES: seqeval's strict mode (``mode="strict", scheme=IOBES``): only ``S-X`` and
  ``B-X (I-X)* E-X`` are chunks; ill-formed runs (``B-X O``, ``I-X E-X`` without ``B-X``...) are
  not entities at all.

Precision, recall and F1 are computed from the counts accumulated over the whole split (never
averaged per batch), with 0 where a denominator is 0 (seqeval's ``zero_division`` default).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor
from torchmetrics import Metric

from rnnkit.data.tagging.tag_schemes import ENTITY_SCHEMES, normalize_scheme, split_tag

Chunk = tuple[str, int, int]
"""``(type, first_token, last_token)``, both ends inclusive."""
TagSentences = Sequence[Sequence[str]]


def _prefix_and_type(tag: str) -> tuple[str, str]:
    """seqeval's reading: first character, then the text after the first dash (or ``_``)."""
    return tag[:1], tag[1:].split("-", maxsplit=1)[-1] or "_"


def _ends_chunk(previous: str, current: str, previous_type: str, current_type: str) -> bool:
    if previous in ("E", "S"):
        return True
    if previous in ("B", "I") and current in ("B", "S", "O"):
        return True
    return previous not in ("O", ".") and previous_type != current_type


def _starts_chunk(previous: str, current: str, previous_type: str, current_type: str) -> bool:
    if current in ("B", "S"):
        return True
    if previous in ("E", "S", "O") and current in ("E", "I"):
        return True
    return current not in ("O", ".") and previous_type != current_type


def conlleval_chunks(tags: Sequence[str]) -> list[Chunk]:
    """Chunks of one sentence as conlleval.pl (and seqeval's default mode) reads them."""
    chunks: list[Chunk] = []
    previous, previous_type, begin = "O", "", 0
    for i, tag in enumerate([*tags, "O"]):
        current, current_type = _prefix_and_type(tag)
        if _ends_chunk(previous, current, previous_type, current_type):
            chunks.append((previous_type, begin, i - 1))
        if _starts_chunk(previous, current, previous_type, current_type):
            begin = i
        previous, previous_type = current, current_type
    return chunks


def strict_bioes_chunks(tags: Sequence[str]) -> list[Chunk]:
    """Chunks of one sentence in strict BIOES: ``S-X``, or ``B-X``, ``I-X``..., ``E-X``."""
    parsed = [split_tag(tag, "BIOES") for tag in tags]
    chunks: list[Chunk] = []
    i = 0
    while i < len(parsed):
        prefix, entity = parsed[i]
        if prefix == "S":
            chunks.append((entity, i, i))
            i += 1
        elif prefix == "B":
            j = i + 1
            while j < len(parsed) and parsed[j] == ("I", entity):
                j += 1
            if j < len(parsed) and parsed[j] == ("E", entity):
                chunks.append((entity, i, j))
                j += 1
            i = j
        else:
            i += 1
    return chunks


def entity_chunks(tags: Sequence[str], scheme: str) -> list[Chunk]:
    """The entities of one tagged sentence, read as :class:`EntityF1` reads them."""
    scheme = check_entity_scheme(scheme)
    if scheme == "BIOES":
        return strict_bioes_chunks(tags)
    for tag in tags:
        split_tag(tag, scheme)
    return conlleval_chunks(tags)


def check_entity_scheme(scheme: str) -> str:
    """The canonical entity scheme; ValueError for ``"none"`` or an unknown name."""
    scheme = normalize_scheme(scheme, "scheme")
    if scheme not in ENTITY_SCHEMES:
        raise ValueError(
            f"scheme: entity F1 needs entity tags in one of {ENTITY_SCHEMES}, got {scheme!r} "
            "(plain labels have no entities: use token accuracy)"
        )
    return scheme


def precision_recall_f1(correct: int, predicted: int, gold: int) -> tuple[float, float, float]:
    """Micro scores from counts, in seqeval's arithmetic (0 where a denominator is 0)."""
    precision = correct / predicted if predicted else 0.0
    recall = correct / gold if gold else 0.0
    denominator = precision + recall
    return precision, recall, (2 * precision * recall / denominator if denominator else 0.0)


class EntityF1(Metric):
    """Entity-level micro F1 over tag-id sequences, equal to ``seqeval.metrics.f1_score``.

    Args:
        labels: tag names in tag-id order, each valid in ``scheme`` (e.g. ``["O", "B-PER",
            "I-PER"]``).
        scheme: ``"IOB1"``, ``"BIO"`` (alias ``"IOB2"``) or ``"BIOES"`` (alias ``"IOBES"``);
            IOB1/BIO use seqeval's default mode, BIOES its strict mode.
        ignore_index: gold tag marking padding (steps past each sentence's length).

    ``update(preds, target)``: ``preds (N, L)`` and ``target (N, L)`` integer tag ids; the steps
    where ``target == ignore_index`` are left out of both, so each row must be a sentence
    followed by padding. Lists of tag-name sentences are accepted too. ``compute()`` returns F1
    as a float64 scalar; :meth:`scores` gives precision and recall too.
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False

    def __init__(
        self, labels: Sequence[str], scheme: str, ignore_index: int = -100, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.scheme = check_entity_scheme(scheme)
        if isinstance(labels, str) or not labels:
            raise ValueError(f"labels: expected a non-empty list of tag names, got {labels!r}")
        for label in labels:
            try:
                split_tag(label, self.scheme)
            except ValueError:
                raise ValueError(
                    f"labels: {label!r} is not a {self.scheme} entity tag (expected 'O' or "
                    f"PREFIX-TYPE); the labels do not match scheme={scheme!r}"
                ) from None
        self.labels = list(labels)
        self.ignore_index = ignore_index
        for name in ("correct", "predicted", "gold"):
            self.add_state(name, torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, preds: Tensor | TagSentences, target: Tensor | TagSentences) -> None:
        """Accumulate a batch: ``(N, L)`` tag-id tensors, or lists of tag-name sentences."""
        if isinstance(preds, Tensor) or isinstance(target, Tensor):
            preds, target = self._names(preds, target)
        if len(preds) != len(target):
            raise ValueError(
                f"preds: expected one sentence per target sentence ({len(target)}), got "
                f"{len(preds)}"
            )
        correct = n_predicted = n_gold = 0
        for predicted_tags, gold_tags in zip(preds, target):
            if len(predicted_tags) != len(gold_tags):
                raise ValueError(
                    f"preds: a sentence has {len(predicted_tags)} tags but its target sentence "
                    f"has {len(gold_tags)}"
                )
            predicted_chunks = set(entity_chunks(predicted_tags, self.scheme))
            gold_chunks = set(entity_chunks(gold_tags, self.scheme))
            correct += len(predicted_chunks & gold_chunks)
            n_predicted += len(predicted_chunks)
            n_gold += len(gold_chunks)
        self.correct += correct
        self.predicted += n_predicted
        self.gold += n_gold

    def _names(self, preds: Tensor, target: Tensor) -> tuple[TagSentences, TagSentences]:
        """Tag-id tensors to tag-name sentences, dropping the padded steps."""
        if not (isinstance(preds, Tensor) and isinstance(target, Tensor)) or (
            preds.shape != target.shape or preds.dim() != 2
        ):
            shape = tuple(preds.shape) if isinstance(preds, Tensor) else type(preds).__name__
            raise ValueError(
                f"preds: expected (N, L) tag ids shaped like target "
                f"{tuple(target.shape) if isinstance(target, Tensor) else ''}, got {shape}"
            )
        real = (target != self.ignore_index).tolist()
        predicted, gold = [], []
        for row_preds, row_target, row_real in zip(preds.tolist(), target.tolist(), real):
            predicted.append([self._name(p) for p, r in zip(row_preds, row_real) if r])
            gold.append([self._name(g) for g, r in zip(row_target, row_real) if r])
        return predicted, gold

    def _name(self, index: int) -> str:
        if not 0 <= index < len(self.labels):
            raise ValueError(
                f"preds: tag id {index} at a real step is outside [0, {len(self.labels)})"
            )
        return self.labels[index]

    def scores(self) -> dict[str, float]:
        """``{"precision", "recall", "f1"}`` of everything accumulated so far."""
        precision, recall, f1 = precision_recall_f1(
            int(self.correct), int(self.predicted), int(self.gold)
        )
        return {"precision": precision, "recall": recall, "f1": f1}

    def compute(self) -> Tensor:
        return torch.tensor(self.scores()["f1"], dtype=torch.float64)
