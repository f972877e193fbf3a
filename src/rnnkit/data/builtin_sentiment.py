"""The built-in sentiment dataset: negation and contrast, so word order decides the label."""

from __future__ import annotations

from typing import Any

from rnnkit.data.builtin import sentiment
from rnnkit.data.text_classification import TextClassificationDataModule


class BuiltinSentimentDataModule(TextClassificationDataModule):
    """Generated offline (see :mod:`rnnkit.data.builtin.sentiment`); ``data_seed`` picks it."""

    def __init__(self, data_seed: int = 0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.data_seed = data_seed

    def load_split(self, split: str) -> list[dict[str, Any]]:
        return sentiment.load(split, seed=self.data_seed)
