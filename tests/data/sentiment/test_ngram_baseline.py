"""The logistic-regression baseline on word 1-2-grams: scikit-learn's own pipeline on the text
(CountVectorizer) as the oracle, torch scoring of padded batches equal to it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression

from rnnkit.data.datamodule import pad_sequences
from rnnkit.data.sentiment.builtin import BuiltinSentimentDataModule
from rnnkit.data.sentiment.ngram_baseline import NgramLogisticBaseline

VOCAB = 30


def random_corpus(seed: int, examples: int, classes: int):
    """Sentences of token ids 2..V-1; the label is the first word's id modulo ``classes``."""
    rng = np.random.default_rng(seed)
    sentences = [rng.integers(2, VOCAB, size=rng.integers(1, 12)) for _ in range(examples)]
    labels = np.array([int(s[0]) % classes for s in sentences])
    offsets = np.concatenate([[0], np.cumsum([len(s) for s in sentences])])
    return sentences, np.concatenate(sentences), offsets, labels


def as_text(sentences: list[np.ndarray]) -> list[str]:
    return [" ".join(f"w{t}" for t in s) for s in sentences]


@pytest.mark.parametrize("classes", [2, 3])
def test_probabilities_equal_scikit_learn_on_the_words(classes):
    sentences, tokens, offsets, labels = random_corpus(0, 300, classes)
    baseline = NgramLogisticBaseline(VOCAB, tol=1e-8).fit(tokens, offsets, labels, classes)
    # The oracle: scikit-learn's own n-gram counting of the same sentences written as words.
    vectorizer = CountVectorizer(ngram_range=(1, 2), token_pattern=r"\S+", lowercase=False)
    features = vectorizer.fit_transform(as_text(sentences))
    oracle = LogisticRegression(max_iter=1000, tol=1e-8).fit(features, labels)
    held_out, held_tokens, held_offsets, _ = random_corpus(1, 200, classes)
    expected = oracle.predict_proba(vectorizer.transform(as_text(held_out)))
    padded, lengths = pad_sequences([torch.as_tensor(s) for s in held_out], 0)
    probabilities = torch.softmax(baseline.logits(padded, lengths), -1).numpy()
    assert np.abs(probabilities - expected).max() < 1e-4
    predicted = baseline.predict(padded, lengths).numpy()
    assert np.array_equal(predicted, baseline.predict_arrays(held_tokens, held_offsets))
    assert (predicted == expected.argmax(1)).mean() > 0.99


def test_a_bigram_decides_what_no_unigram_can_and_padding_counts_for_nothing():
    # (2, 3) is positive and (3, 2) negative: the same unigrams, only the bigram tells.
    sentences = [np.array([2, 3]), np.array([3, 2])] * 20
    tokens = np.concatenate(sentences)
    offsets = np.arange(0, len(tokens) + 1, 2)
    labels = np.array([1, 0] * 20)
    baseline = NgramLogisticBaseline(4, c=100.0).fit(tokens, offsets, labels, 2)
    assert baseline.predict(torch.tensor([[2, 3], [3, 2]]), torch.tensor([2, 2])).tolist() == [1, 0]
    # Whatever follows a row's length is padding: its tokens and pairs add nothing.
    padded = torch.tensor([[3, 2, 2, 3, 3]])
    assert torch.equal(
        baseline.logits(padded, torch.tensor([2])),
        baseline.logits(torch.tensor([[3, 2]]), torch.tensor([2])),
    )


def test_a_class_absent_from_training_is_never_predicted_and_one_class_is_refused():
    sentences, tokens, offsets, labels = random_corpus(2, 100, 2)
    labels[:10] = -1  # unlabelled examples are left out of the fit
    baseline = NgramLogisticBaseline(VOCAB).fit(tokens, offsets, labels, num_classes=3)
    padded, lengths = pad_sequences([torch.as_tensor(s) for s in sentences], 0)
    assert set(baseline.predict(padded, lengths).tolist()) == {0, 1}
    with pytest.raises(ValueError, match="a classifier needs 2"):
        NgramLogisticBaseline(VOCAB).fit(tokens, offsets, np.zeros_like(labels), 2)


def test_the_datamodule_fits_it_once_on_train_and_scores_batches_as_scikit_learn_does():
    from rnnkit.data.io.split_arrays import field_arrays

    datamodule = BuiltinSentimentDataModule(batch_size=4096)
    datamodule.setup("fit")
    baseline = datamodule.ngram_baseline()
    assert datamodule.ngram_baseline() is baseline
    assert baseline.weights.shape[0] == len(datamodule.vocab) + len(baseline.bigrams)
    batch = next(iter(datamodule.val_dataloader()))
    tokens, offsets = field_arrays(datamodule.datasets["val"], "tokens")
    assert len(batch["labels"]) == len(offsets) - 1  # one batch holds the whole split
    predicted = baseline.predict(batch["tokens"], batch["lengths"])
    # The loader may order the examples: compare the sorted predictions per sentence.
    expected = baseline.predict_arrays(tokens, offsets)
    assert sorted(predicted.tolist()) == sorted(expected.tolist())
