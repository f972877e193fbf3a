"""Text columns of a series file (a wind direction ``NW``, ``SE``, ``cv``) as one-hot features.

While the file is read, each category of a ``categorical_columns`` column gets a code in order
of first appearance (:class:`CategoryCodes`; a missing cell is NaN, see
:mod:`~rnnkit.data.forecasting.missing_values`). The categories the model knows are those of
the training rows, sorted (:func:`fitted_categories`); each becomes a feature
``<column>=<category>`` that is 1 on its rows and 0 elsewhere (:func:`one_hot`). A category
never seen in training (or a missing cell) is all zeros.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rnnkit.data.forecasting.missing_values import MISSING_MARKERS


class CategoryCodes:
    """The categories of one text column in order of first appearance, and their codes."""

    def __init__(self, names: Sequence[str] = ()) -> None:
        self.names: list[str] = []
        self.codes_of: dict[str, int] = {}
        for name in names:
            self.code(name)

    def code(self, text: str) -> float:
        """The code of one cell (NaN when it is missing)."""
        text = text.strip()
        if text in MISSING_MARKERS:
            return float("nan")
        if text not in self.codes_of:
            self.codes_of[text] = len(self.names)
            self.names.append(text)
        return float(self.codes_of[text])

    def codes(self, texts: Sequence[str]) -> np.ndarray:
        """``(n,)`` float64 codes of ``texts`` (NaN where missing)."""
        uniques, inverse = np.unique(np.asarray(texts, dtype=str), return_inverse=True)
        return np.array([self.code(str(u)) for u in uniques], dtype=np.float64)[inverse]


def fitted_categories(codes: np.ndarray, names: Sequence[str]) -> list[str]:
    """The sorted categories that occur in ``codes`` (a column of the training rows)."""
    present = np.unique(codes[~np.isnan(codes)]).astype(np.int64)
    return sorted(names[i] for i in present)


def one_hot(codes: np.ndarray, names: Sequence[str], fitted: Sequence[str]) -> np.ndarray:
    """``(T, len(fitted))`` indicators of the categories ``fitted`` for ``(T,)`` codes into
    ``names``; an unknown category or a missing code gives a row of zeros."""
    position = {name: i for i, name in enumerate(fitted)}
    lookup = np.array([position.get(name, -1) for name in names] + [-1], dtype=np.int64)
    index = np.where(np.isnan(codes), len(names), codes).astype(np.int64)
    columns = lookup[index]
    out = np.zeros((len(codes), len(fitted)))
    rows = np.flatnonzero(columns >= 0)
    out[rows, columns[rows]] = 1.0
    return out


def one_hot_names(column: str, fitted: Sequence[str]) -> list[str]:
    """``["<column>=<category>", ...]``: the names of a column's one-hot features."""
    return [f"{column}={category}" for category in fitted]
