"""CorpusBLEU equals sacreBLEU's corpus BLEU; bleu_by_order keys one BLEU per n-gram order."""

from __future__ import annotations

import random

import pytest

from rnnkit.metrics.bleu import CorpusBLEU, bleu_by_order

sacrebleu = pytest.importorskip("sacrebleu")

WORDS = ("vier", "und", "dreißig", "zwei", "hundert", "ein", "tausend", "neun", ",", "zehn.")


def random_sentence(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 9)))


@pytest.mark.parametrize("seed", range(5))
def test_bleu_equals_sacrebleu_corpus_bleu(seed):
    rng = random.Random(seed)
    references = [random_sentence(rng) for _ in range(30)]
    hypotheses = [r if rng.random() < 0.3 else random_sentence(rng) for r in references]
    metric = CorpusBLEU()
    for start in (0, 10):  # accumulated over batches
        end = start + 10 if start == 0 else 30
        metric.update(hypotheses[start:end], [[r] for r in references[start:end]])
    expected = sacrebleu.corpus_bleu(hypotheses, [references]).score
    assert metric.compute().item() == pytest.approx(expected, abs=1e-3)


def test_bleu_by_order_scores_each_order_separately():
    metrics = bleu_by_order(range(1, 5))
    # Every word of the hypothesis is in the reference, but no two in the reference's order.
    metrics.update(["a c b d"], [["a b c d"]])
    scores = {name: float(value) for name, value in metrics.compute().items()}
    assert list(scores) == ["bleu1", "bleu2", "bleu3", "bleu4"]
    assert scores["bleu1"] == pytest.approx(1.0)
    assert scores["bleu4"] == 0.0


def test_bleu_by_order_names_its_metrics():
    assert list(bleu_by_order((1, 4), name="baseline_bleu")) == [
        "baseline_bleu1",
        "baseline_bleu4",
    ]
