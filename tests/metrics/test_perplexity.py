"""Per-token likelihood metrics accumulate over the whole split, not per batch."""

from __future__ import annotations

import math

import pytest
import torch
from torchmetrics import MetricCollection

from rnnkit.metrics.perplexity import BitsPerToken, TokenNLL, TokenPerplexity


def random_batches(sizes: list[int], seed: int = 0) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    # A different typical loss per batch, so batch means differ.
    return [
        torch.rand(size, generator=generator, dtype=torch.float64) * 4 * (1 + i)
        for i, size in enumerate(sizes)
    ]


@pytest.mark.parametrize("sizes", [[1, 50], [7, 3, 120], [64, 64, 5], [2]])
def test_metrics_equal_the_totals_over_all_tokens(sizes):
    batches = random_batches(sizes)
    metrics = MetricCollection(
        {"nll": TokenNLL(), "ppl": TokenPerplexity(), "bits": BitsPerToken()}
    )
    for nll in batches:
        metrics.update(nll)
    result = metrics.compute()
    total = torch.cat(batches)
    mean = float(total.sum()) / total.numel()  # brute force over every token
    assert float(result["nll"]) == pytest.approx(mean, rel=1e-6)
    assert float(result["ppl"]) == pytest.approx(math.exp(mean), rel=1e-6)
    assert float(result["bits"]) == pytest.approx(mean / math.log(2), rel=1e-6)


@pytest.mark.parametrize("sizes", [[1, 50], [7, 3, 120], [64, 64, 5]])
def test_split_perplexity_differs_from_the_mean_of_batch_perplexities(sizes):
    batches = random_batches(sizes)
    metric = TokenPerplexity()
    for nll in batches:
        metric.update(nll)
    per_batch = sum(math.exp(float(nll.mean())) for nll in batches) / len(batches)
    assert abs(float(metric.compute()) - per_batch) > 0.01 * per_batch


def test_mask_leaves_tokens_out():
    nll = torch.tensor([[1.0, 2.0, 100.0], [3.0, 100.0, 100.0]])
    mask = torch.tensor([[True, True, False], [True, False, False]])
    metric = TokenNLL()
    metric.update(nll, mask)
    assert float(metric.compute()) == pytest.approx(2.0)


def test_bad_input_is_refused():
    metric = TokenPerplexity()
    with pytest.raises(ValueError, match="mask"):
        metric.update(torch.ones(2, 3), torch.ones(3, 2, dtype=torch.bool))
    with pytest.raises(ValueError, match="total_tokens"):
        metric.compute()
