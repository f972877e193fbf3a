"""The built-in captioning dataset: strips of scikit-learn's handwritten digits, read aloud."""

from __future__ import annotations

from typing import Any

from rnnkit.data.builtin import captioning
from rnnkit.data.captioning import CaptioningDataModule


class BuiltinCaptioningDataModule(CaptioningDataModule):
    """Generated offline (see :mod:`rnnkit.data.builtin.captioning`).

    ``data_seed`` picks the dataset; ``num_train``, ``num_val``, ``num_test``, ``min_digits``,
    ``max_digits`` size it.
    """

    def __init__(
        self,
        data_seed: int = 0,
        num_train: int = 6000,
        num_val: int = 1000,
        num_test: int = 1000,
        min_digits: int = 2,
        max_digits: int = 4,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.data_seed = data_seed
        self.sizes = {
            "num_train": num_train,
            "num_val": num_val,
            "num_test": num_test,
            "min_digits": min_digits,
            "max_digits": max_digits,
        }

    def load_split(self, split: str) -> list[dict[str, Any]]:
        examples = captioning.load(split, seed=self.data_seed, **self.sizes)
        for number, example in enumerate(examples):
            example["source"] = f"{split} example {number}"
        return examples
