"""The built-in tagging dataset: ambiguous words whose tags need context on both sides."""

from __future__ import annotations

from typing import Any

from rnnkit.data.builtin import tagging
from rnnkit.data.tagging import TaggingDataModule

TAGSETS = {"pos": "none", "ner": "BIO"}
"""The built-in tag sets and the scheme their raw tags are in."""


class BuiltinTaggingDataModule(TaggingDataModule):
    """Generated offline (see :mod:`rnnkit.data.builtin.tagging`).

    Args:
        tagset: ``"ner"`` (PER/LOC/ORG entities, raw tags in BIO) or ``"pos"`` (parts of speech,
            plain labels).
        tag_scheme: scheme to train in; None keeps the data's own (BIO for ``ner``, ``none`` for
            ``pos``); ``ner`` also converts to ``"IOB1"`` or ``"BIOES"``.
        data_seed: which generated dataset; ``num_train``, ``num_val``, ``num_test``: its sizes.
        **kwargs: the other :class:`TaggingDataModule` arguments.
    """

    def __init__(
        self,
        tagset: str = "ner",
        tag_scheme: str | None = None,
        data_seed: int = 0,
        num_train: int = 4000,
        num_val: int = 1000,
        num_test: int = 1000,
        **kwargs: Any,
    ) -> None:
        if tagset not in TAGSETS:
            raise ValueError(f"tagset: expected one of {sorted(TAGSETS)}, got {tagset!r}")
        if "source_tag_scheme" in kwargs:
            raise ValueError(
                f"source_tag_scheme: fixed by tagset={tagset!r} ({TAGSETS[tagset]!r}), got "
                f"{kwargs['source_tag_scheme']!r}"
            )
        super().__init__(
            tag_scheme=TAGSETS[tagset] if tag_scheme is None else tag_scheme,
            source_tag_scheme=TAGSETS[tagset],
            **kwargs,
        )
        self.tagset = tagset
        self.data_seed = data_seed
        self.sizes = {"num_train": num_train, "num_val": num_val, "num_test": num_test}

    def load_split(self, split: str) -> list[dict[str, Any]]:
        return tagging.load(split, seed=self.data_seed, tag_scheme=self.tagset, **self.sizes)
