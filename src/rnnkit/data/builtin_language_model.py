"""The built-in language-modelling dataset: the Python standard library's own source code."""

from __future__ import annotations

from typing import Any

from rnnkit.data.builtin import language_model
from rnnkit.data.language_modeling import LanguageModelingDataModule


class BuiltinLanguageModelDataModule(LanguageModelingDataModule):
    """Read offline (see :mod:`rnnkit.data.builtin.language_model`): whole stdlib modules per
    split; ``data_seed`` picks which, ``max_*_chars`` cap each split's size."""

    def __init__(
        self,
        data_seed: int = 0,
        max_train_chars: int = 1_500_000,
        max_val_chars: int = 150_000,
        max_test_chars: int = 150_000,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.data_seed = data_seed
        self.budgets = {
            "max_train_chars": max_train_chars,
            "max_val_chars": max_val_chars,
            "max_test_chars": max_test_chars,
        }

    def load_split(self, split: str) -> list[dict[str, Any]]:
        return language_model.load(split, seed=self.data_seed, **self.budgets)
