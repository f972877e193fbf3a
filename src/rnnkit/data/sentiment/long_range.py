"""A long-range dependency task: remember the first symbol across ``lag`` steps.

Each sequence::

    s3  _  _  _ ... _  ?        ->  label s3
    └┘  └── lag tokens ─┘  └ query

a symbol from ``num_classes`` classes (``s0 .. s<K-1>``), then ``lag`` filler tokens (the
blank ``_``, or with ``num_distractors > 0`` random distractors ``d0 .. d<D-1>`` that carry
no information), then the query ``?``; the label is the first symbol. A many-to-one model
reading its last state must carry the symbol through ``lag + 1`` recurrent steps; chance is
``1 / num_classes``. The gradient that teaches it flows back through as many steps, which
is what :mod:`rnnkit.callbacks.gradient_flow` measures (docs/vanishing_gradients.md).

It reuses the sentiment format and task (``task=sentiment``, pooling ``last``): the
examples are ``{"text", "label"}`` strings, generated deterministically from ``data_seed``.
"""

from __future__ import annotations

import random
from typing import Any

from rnnkit.data.sentiment.datamodule import TextClassificationDataModule

BLANK = "_"
QUERY = "?"
_SPLIT_OFFSETS = {"train": 0, "val": 1, "test": 2}


def long_range_examples(
    count: int, lag: int, num_classes: int, num_distractors: int, seed: int
) -> list[dict[str, Any]]:
    """``count`` examples ``{"text": "s3 _ _ ... ?", "label": "s3"}``, the same for a seed."""
    rng = random.Random(seed)
    fillers = [f"d{k}" for k in range(num_distractors)] or [BLANK]
    examples = []
    for _ in range(count):
        symbol = f"s{rng.randrange(num_classes)}"
        filler = [rng.choice(fillers) for _ in range(lag)]
        examples.append({"text": " ".join([symbol, *filler, QUERY]), "label": symbol})
    return examples


class LongRangeDataModule(TextClassificationDataModule):
    """The copy-the-first-symbol task above, as text classification data.

    Args:
        lag: filler tokens between the symbol and the query (the dependency spans
            ``lag + 1`` recurrent steps); sequences have ``lag + 2`` tokens.
        num_classes: ``K`` symbols to remember (chance accuracy ``1 / K``).
        num_distractors: 0 for blank fillers, else the number of distinct random
            distractor tokens.
        train_size, val_size, test_size: examples per split.
        data_seed: picks the generated data (each split has its own stream).
        **kwargs: :class:`TextClassificationDataModule`'s (``batch_size``, ``seed``...).
    """

    def __init__(
        self,
        lag: int = 50,
        num_classes: int = 8,
        num_distractors: int = 0,
        train_size: int = 2000,
        val_size: int = 500,
        test_size: int = 500,
        data_seed: int = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        _check_int("lag", lag, 0)
        _check_int("num_classes", num_classes, 2)
        _check_int("num_distractors", num_distractors, 0)
        _check_int("train_size", train_size, 1)
        _check_int("val_size", val_size, 1)
        _check_int("test_size", test_size, 1)
        self.lag = lag
        self.num_classes = num_classes
        self.num_distractors = num_distractors
        self.sizes = {"train": train_size, "val": val_size, "test": test_size}
        self.data_seed = data_seed

    def load_split(self, split: str) -> list[dict[str, Any]]:
        if split not in self.sizes:
            raise ValueError(f"split: expected one of {sorted(self.sizes)}, got {split!r}")
        seed = 1000 * self.data_seed + _SPLIT_OFFSETS[split]
        return long_range_examples(
            self.sizes[split], self.lag, self.num_classes, self.num_distractors, seed
        )

    def parse_raw(self, raw: str) -> list[dict[str, Any]]:
        """A whitespace-separated sequence such as ``"s3 _ _ _ ?"`` (any lag; ``d<k>``
        distractors when the model was trained with them), or a path to a text file with one
        such sequence per line. The model answers with the symbol it remembers."""
        return super().parse_raw(raw)

    def summary(self) -> dict[str, Any]:
        return {
            "lag": self.lag,
            "sequence_length": self.lag + 2,
            "chance_accuracy": round(1 / self.num_classes, 4),
            **super().summary(),
        }


def _check_int(name: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name}: expected an integer >= {minimum}, got {value!r}")
