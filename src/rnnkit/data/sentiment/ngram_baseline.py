"""The classical baseline of text classification: logistic regression on word 1-2-gram counts.

scikit-learn's :class:`~sklearn.linear_model.LogisticRegression` is fitted on the training
split's token ids, as the datamodule encoded them (the model's vocabulary: words outside it are
``<unk>``), each example a sparse row of unigram and bigram counts. The bigrams are those seen
in training, kept as sorted int64 codes ``first * V + second``; a bigram never seen in training
has no feature. Its scores are linear in the counts, so a padded batch is scored in torch
(:meth:`NgramLogisticBaseline.logits`) with the same weights, on any device, with no per-example
Python: each token adds its unigram weight and each adjacent pair its bigram weight.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from rnnkit.data.io.split_arrays import example_index

DEFAULT_C = 1.0
MAX_ITERATIONS = 1000


def bigram_codes(tokens: np.ndarray, offsets: np.ndarray, vocab_size: int) -> tuple:
    """``(codes, example)``: ``first * V + second`` of every adjacent pair of tokens inside an
    example, and the example each pair belongs to."""
    tokens = np.asarray(tokens, dtype=np.int64)
    example = example_index(offsets)
    inside = example[:-1] == example[1:]  # pair (i, i + 1) in one example
    codes = tokens[:-1][inside] * vocab_size + tokens[1:][inside]
    return codes, example[:-1][inside]


def count_matrix(
    tokens: np.ndarray, offsets: np.ndarray, vocab_size: int, bigrams: np.ndarray
) -> object:
    """``(N, V + len(bigrams))`` scipy CSR matrix of unigram then bigram counts per example
    (bigrams not in the sorted table ``bigrams`` are left out)."""
    from scipy.sparse import csr_matrix

    tokens = np.asarray(tokens, dtype=np.int64)
    rows = [example_index(offsets)]
    columns = [tokens]
    codes, pair_rows = bigram_codes(tokens, offsets, vocab_size)
    if len(bigrams) and len(codes):
        position = np.minimum(np.searchsorted(bigrams, codes), len(bigrams) - 1)
        known = bigrams[position] == codes
        rows.append(pair_rows[known])
        columns.append(vocab_size + position[known])
    rows_all, columns_all = np.concatenate(rows), np.concatenate(columns)
    shape = (len(offsets) - 1, vocab_size + len(bigrams))
    data = np.ones(len(rows_all), dtype=np.float64)
    return csr_matrix((data, (rows_all, columns_all)), shape=shape)  # duplicates are summed


class NgramLogisticBaseline:
    """Logistic regression on unigram and bigram counts of token ids.

    ``c`` is scikit-learn's inverse regularisation strength ``C`` (its default, 1), ``tol`` its
    stopping tolerance. Attributes: ``vocab_size``, ``bigrams`` (sorted int64 codes of the
    training bigrams), ``weights`` (``(V + len(bigrams), C)`` float64 scores per class),
    ``bias`` (``(C,)``), ``classifier`` (the fitted scikit-learn estimator).
    """

    def __init__(self, vocab_size: int, c: float = DEFAULT_C, tol: float = 1e-4) -> None:
        self.vocab_size = int(vocab_size)
        self.c = float(c)
        self.tol = float(tol)

    def fit(
        self, tokens: np.ndarray, offsets: np.ndarray, labels: np.ndarray, num_classes: int
    ) -> NgramLogisticBaseline:
        """Fit on a split's flat ``tokens`` with ``(N + 1,)`` ``offsets`` and ``(N,)``
        ``labels`` (class ids below ``num_classes``)."""
        from sklearn.linear_model import LogisticRegression

        labels = np.asarray(labels, dtype=np.int64)
        if len(labels) != len(offsets) - 1:
            raise ValueError(f"labels: expected {len(offsets) - 1}, got {len(labels)}")
        labelled = labels >= 0  # unlabelled examples (id -1) are left out
        present = np.unique(labels[labelled])
        if len(present) < 2:
            raise ValueError(
                f"labels: the training split has {len(present)} class; a classifier needs 2"
            )
        codes, _ = bigram_codes(tokens, offsets, self.vocab_size)
        self.bigrams = np.unique(codes)
        features = count_matrix(tokens, offsets, self.vocab_size, self.bigrams)
        self.classifier = LogisticRegression(C=self.c, tol=self.tol, max_iter=MAX_ITERATIONS)
        self.classifier.fit(features[labelled], labels[labelled])
        coefficients = np.asarray(self.classifier.coef_, dtype=np.float64)
        intercept = np.asarray(self.classifier.intercept_, dtype=np.float64)
        weights = np.zeros((features.shape[1], num_classes))
        bias = np.full(num_classes, -np.inf)  # classes absent from training are never chosen
        if len(present) == 2:  # one score s: class present[1] when s > 0
            weights[:, present[1]] = coefficients[0]
            bias[present] = [0.0, intercept[0]]
        else:
            weights[:, present] = coefficients.T
            bias[present] = intercept
        self.weights, self.bias = weights, bias
        self._tensors: dict[torch.device, tuple[Tensor, ...]] = {}
        return self

    def predict_arrays(self, tokens: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        """scikit-learn's own ``predict`` on a split's flat arrays (for checks)."""
        return self.classifier.predict(count_matrix(tokens, offsets, self.vocab_size, self.bigrams))

    def _on(self, device: torch.device) -> tuple[Tensor, ...]:
        if device not in self._tensors:
            self._tensors[device] = tuple(
                torch.as_tensor(array, device=device)
                for array in (self.weights, self.bias, self.bigrams)
            )
        return self._tensors[device]

    def logits(self, tokens: Tensor, lengths: Tensor) -> Tensor:
        """``(N, C)`` float64 class scores of a padded batch ``tokens (N, L)`` of
        ``lengths (N,)`` (the argmax is the baseline's prediction)."""
        weights, bias, bigrams = self._on(tokens.device)
        steps = torch.arange(tokens.shape[1], device=tokens.device)
        mask = (steps[None, :] < lengths.to(tokens.device)[:, None]).to(weights.dtype)
        tokens = tokens.long()
        scores = (weights[tokens] * mask[..., None]).sum(1)
        if tokens.shape[1] > 1 and len(bigrams):
            codes = tokens[:, :-1] * self.vocab_size + tokens[:, 1:]
            position = torch.searchsorted(bigrams, codes).clamp_max(len(bigrams) - 1)
            known = (bigrams[position] == codes).to(weights.dtype) * mask[:, 1:]
            scores = scores + (weights[self.vocab_size + position] * known[..., None]).sum(1)
        return scores + bias

    def predict(self, tokens: Tensor, lengths: Tensor) -> Tensor:
        """``(N,)`` predicted class ids of a padded batch (see :meth:`logits`)."""
        return self.logits(tokens, lengths).argmax(-1)
