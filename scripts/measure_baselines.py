"""Score the classical baselines of the reference experiments, without training a model.

    RNNKIT_DATA_ROOT=../shared/data python scripts/measure_baselines.py \
        [--only sst2_bilstm,etth1_lstm_h24] [--json out.json]

For each experiment the datamodule is built from the composed config and set up as
``rnnkit-train`` does; the task's baseline (the datamodule's ``ngram_baseline``,
``majority_baseline``, ``linear_baseline``, ``ngram_model``, ``word_table`` or
``word_hmm_baseline``) is fitted on the
training split and scored over the whole val and test splits, batch by batch from the same
loaders, with the metrics the task logs under ``val/<name>`` and ``test/<name>``
(docs/tracking.md#baselines-beside-the-model). Prints a markdown table with the CPU time of
the set-up, the fit and the scoring (this process's, all threads: wall time on a shared machine
says little).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from typing import Any

import torch
from torchmetrics import MeanAbsoluteError, MeanSquaredError, MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score
from torchmetrics.text import CharErrorRate, WordErrorRate

from rnnkit.cli.compose import compose_run
from rnnkit.cli.train import build_datamodule
from rnnkit.metrics.bleu import CorpusBLEU
from rnnkit.metrics.entity_f1 import EntityF1
from rnnkit.metrics.perplexity import BitsPerToken, TokenPerplexity
from rnnkit.patterns.sequence_tagger import PADDING_TAG

EXPERIMENTS = (
    "sst2_bilstm",
    "conll2003_bilstm_crf",
    "etth1_lstm_h24",
    "etth1_lstm_h96",
    "shakespeare_char_lstm",
    "multi30k_gru_attention",
    "speech_digits",
)


def sentiment(datamodule: Any) -> tuple[Any, MetricCollection, Callable]:
    classes = len(datamodule.labels)
    metrics = MetricCollection(
        {
            "baseline_acc": MulticlassAccuracy(classes, average="micro"),
            "baseline_f1": MulticlassF1Score(classes, average="macro"),
        }
    )

    def update(baseline: Any, batch: dict, metrics: MetricCollection, state: dict) -> None:
        metrics.update(baseline.predict(batch["tokens"], batch["lengths"]), batch["labels"])

    return datamodule.ngram_baseline, metrics, update


def tagging(datamodule: Any) -> tuple[Any, MetricCollection, Callable]:
    tags = datamodule.tags
    metrics = MetricCollection(
        {
            "majority_acc": MulticlassAccuracy(
                len(tags), average="micro", ignore_index=PADDING_TAG
            ),
            "majority_entity_f1": EntityF1(tags, datamodule.tag_scheme),
        }
    )

    def update(baseline: Any, batch: dict, metrics: MetricCollection, state: dict) -> None:
        metrics.update(baseline.predict(batch["tokens"]), batch["tags"])

    return datamodule.majority_baseline, metrics, update


def forecasting(datamodule: Any) -> tuple[Any, dict[str, MetricCollection], Callable]:
    def pair(postfix: str) -> MetricCollection:
        return MetricCollection(
            {"mse": MeanSquaredError(), "mae": MeanAbsoluteError()},
            prefix="linear_",
            postfix=postfix,
        )

    metrics = {"": pair(""), "original": pair("_original")}

    def update(baseline: Any, batch: dict, metrics: dict, state: dict) -> None:
        observed = batch["history"][:, :, datamodule.target_indices]
        forecast, target = baseline.predict(observed), batch["target"]
        metrics[""].update(forecast.flatten(), target.flatten())
        unscale = datamodule.unscale_targets
        metrics["original"].update(unscale(forecast).flatten(), unscale(target).flatten())

    return datamodule.linear_baseline, metrics, update


def language_model(datamodule: Any) -> tuple[Any, MetricCollection, Callable]:
    bits = "bpc" if datamodule.level == "char" else "bits_per_word"
    metrics = MetricCollection(
        {"ngram_perplexity": TokenPerplexity(), f"ngram_{bits}": BitsPerToken()}
    )

    def update(model: Any, batch: dict, metrics: MetricCollection, state: dict) -> None:
        # The context is carried from batch to batch of the split, as the task carries it.
        previous = state.get("previous")
        metrics.update(-model.log_probs(batch["tokens"], batch["targets"], previous))
        joined = batch["tokens"] if previous is None else torch.cat([previous, batch["tokens"]], 1)
        state["previous"] = joined[:, -(model.order - 1) :] if model.order > 1 else None

    return datamodule.ngram_model, metrics, update


def translation(datamodule: Any) -> tuple[Any, MetricCollection, Callable]:
    metrics = MetricCollection({"baseline_bleu": CorpusBLEU()})
    pad = datamodule.target_vocab.pad_index

    def update(table: Any, batch: dict, metrics: MetricCollection, state: dict) -> None:
        words = table.translate(batch["source"], batch["source_lengths"], pad)
        detokenize, decode = datamodule.detokenize_target, datamodule.decode_target
        hypotheses = [detokenize(decode(row)) for row in words]
        metrics.update(hypotheses, [[detokenize(t)] for t in batch["target_tokens"]])

    return datamodule.word_table, metrics, update


def speech(datamodule: Any) -> tuple[Any, MetricCollection, Callable]:
    metrics = MetricCollection({"cer": CharErrorRate(), "wer": WordErrorRate()}, prefix="hmm_")

    def update(hmm: Any, batch: dict, metrics: MetricCollection, state: dict) -> None:
        metrics.update(hmm.transcribe(batch["features"], batch["lengths"]), batch["transcripts"])

    return datamodule.word_hmm_baseline, metrics, update


TASKS = {
    "translation": translation,
    "sentiment": sentiment,
    "tagging": tagging,
    "forecasting": forecasting,
    "language_modeling": language_model,
    "speech": speech,
}


def measure(experiment: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        cfg = compose_run([f"experiment={experiment}"], folder)
    torch.set_num_threads(int(cfg.get("num_threads") or 1))
    started = time.process_time()
    datamodule = build_datamodule(cfg.data)
    datamodule.setup("fit")
    set_up = time.process_time() - started
    fitted_by, metrics, update = TASKS[datamodule.task](datamodule)
    started = time.process_time()
    baseline = fitted_by()
    fit = time.process_time() - started
    result: dict[str, Any] = {"experiment": experiment, "setup_s": set_up, "fit_s": fit}
    started = time.process_time()
    for split, loader in (
        ("val", datamodule.val_dataloader()),
        ("test", datamodule.test_dataloader()),
    ):
        groups = metrics if isinstance(metrics, dict) else {"": metrics}
        for group in groups.values():
            group.reset()
        state: dict[str, Any] = {}
        with torch.no_grad():
            for batch in loader:
                update(baseline, batch, metrics, state)
        for group in groups.values():
            for name, value in group.compute().items():
                result[f"{split}/{name}"] = float(value)
    result["score_s"] = time.process_time() - started
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(EXPERIMENTS))
    parser.add_argument("--json", default=None, help="also write the results to this file")
    arguments = parser.parse_args()
    results = [measure(experiment) for experiment in arguments.only.split(",")]
    print("| experiment | baseline metrics (val / test) | CPU s: set-up, fit, scoring |")
    print("| --- | --- | --- |")
    for result in results:
        names = sorted({key.split("/", 1)[1] for key in result if "/" in key})
        shown = ", ".join(
            f"{name} {result[f'val/{name}']:.4g} / {result[f'test/{name}']:.4g}" for name in names
        )
        times = f"{result['setup_s']:.1f}, {result['fit_s']:.1f}, {result['score_s']:.1f}"
        print(f"| `{result['experiment']}` | {shown} | {times} |")
    if arguments.json:
        with open(arguments.json, "w", encoding="utf-8") as handle:
            json.dump(results, handle, indent=1)


if __name__ == "__main__":
    main()
