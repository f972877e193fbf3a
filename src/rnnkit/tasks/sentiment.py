"""Sentiment classification: many-to-one over a sentence."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import MetricCollection
from torchmetrics.classification import (
    MulticlassAccuracy,
    MulticlassConfusionMatrix,
    MulticlassF1Score,
)

from rnnkit.figures.confusion_matrix import confusion_matrix_figure
from rnnkit.patterns._sequence import check_positive_int
from rnnkit.patterns.ensemble import Ensemble
from rnnkit.patterns.many_to_one import ManyToOne
from rnnkit.tasks.base import RecurrentTask


class SentimentTask(RecurrentTask):
    """Embedding → recurrent layer → pooling → linear classifier, trained with cross entropy.

    ``model`` keys: ``embedding_dim``, ``pooling``, ``dropout``, ``embedding`` (``pretrained``:
    a word vectors file to start the embedding from; ``freeze``; see
    :mod:`rnnkit.tasks.pretrained_embeddings`), ``ensemble_size`` (1: one classifier; ``K > 1``:
    an :class:`~rnnkit.patterns.ensemble.Ensemble` of ``K`` independently initialised ones, each
    trained on its own cross entropy, predicting the mean of their class probabilities).

    Metrics: accuracy and macro-F1 per split (``val/acc``, ``val/f1``), beside the classical
    baseline on the same examples, logistic regression on word 1-2-gram counts fitted on the
    training split (``val/baseline_acc``, ``val/baseline_f1``, and for test; see
    :mod:`rnnkit.data.sentiment.ngram_baseline`); each validation epoch logs a confusion matrix
    figure and a few classified sentences to TensorBoard.
    """

    task = "sentiment"

    def build_model(self, model: dict[str, Any], spec: dict[str, Any]) -> nn.Module:
        size = model.get("ensemble_size", 1)
        check_positive_int("model.ensemble_size", size)
        num_classes = spec["num_classes"]
        self.label_names = list(spec.get("label_names") or range(num_classes))
        metrics = MetricCollection(
            {
                "acc": MulticlassAccuracy(num_classes, average="micro"),
                "f1": MulticlassF1Score(num_classes, average="macro"),
            }
        )
        self.make_split_metrics(metrics)
        self.baseline_metrics = nn.ModuleDict(
            {split: metrics.clone(prefix=f"{split}/baseline_") for split in ("val", "test")}
        )
        self.confusion = MulticlassConfusionMatrix(num_classes)
        members = [self._classifier(model, spec) for _ in range(size)]
        return members[0] if size == 1 else Ensemble(members)

    def _classifier(self, model: dict[str, Any], spec: dict[str, Any]) -> ManyToOne:
        embedding = self.word_embedding(
            nn.Embedding(spec["vocab_size"], model["embedding_dim"], padding_idx=spec["pad_index"]),
            model.get("embedding"),
        )
        return ManyToOne(
            self.build_recurrent(model["embedding_dim"]),
            spec["num_classes"],
            pooling=model.get("pooling", "last"),
            input_layer=embedding,
            dropout=model.get("dropout", 0.0),
        )

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, num_classes)`` for token ids ``(N, L)`` with ``lengths (N,)``."""
        return self.model(tokens, lengths)

    def evaluate(self, batch: dict[str, torch.Tensor], split: str) -> torch.Tensor:
        if isinstance(self.model, Ensemble):
            member_logits = self.model.member_logits(batch["tokens"], batch["lengths"])
            loss = Ensemble.loss(member_logits, batch["labels"])
            logits = Ensemble.combine(member_logits)
        else:
            logits = self(batch["tokens"], batch["lengths"])
            loss = F.cross_entropy(logits, batch["labels"])
        predictions = logits.argmax(-1)
        metrics = self.metrics_for(split)
        metrics.update(predictions, batch["labels"])
        size = batch["labels"].shape[0]
        self.log_loss(split, loss, size)
        # Logged once per epoch from the accumulated state: the whole split, not a batch mean.
        self.log_dict(
            metrics, prog_bar=split == "val", batch_size=size, on_step=False, on_epoch=True
        )
        if split == "val":
            self.confusion.update(predictions, batch["labels"])
        if split != "train":
            self._log_baseline(batch, split)
        self.keep_validation_sample(split, batch, predictions)
        return loss

    def _log_baseline(self, batch: dict[str, torch.Tensor], split: str) -> None:
        baseline = self.data_baseline("ngram_baseline")
        if baseline is None:
            return
        metrics = self.baseline_metrics[split]
        metrics.update(baseline.predict(batch["tokens"], batch["lengths"]), batch["labels"])
        self.log_dict(metrics, batch_size=batch["labels"].shape[0], on_step=False, on_epoch=True)

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self.evaluate(batch, "train")

    def on_validation_epoch_end(self) -> None:
        samples = self.take_validation_sample()
        if self.trainer.sanity_checking:
            self.confusion.reset()
            return
        self.log_figure(
            "val/confusion_matrix",
            confusion_matrix_figure(self.confusion.compute().cpu(), self.label_names),
        )
        self.confusion.reset()
        datamodule = getattr(self.trainer, "datamodule", None)
        if samples is not None and datamodule is not None:
            batch, predictions = samples
            rows = ["| sentence | predicted | gold |", "| --- | --- | --- |"]
            for i in range(min(8, len(predictions))):
                rows.append(
                    f"| {datamodule.decode_tokens(batch['tokens'][i])} | "
                    f"{self.label_names[predictions[i]]} | "
                    f"{self.label_names[batch['labels'][i]]} |"
                )
            self.log_text("val/samples", "\n".join(rows))

    @torch.no_grad()
    def predict_records(
        self, batch: dict[str, Any], datamodule: Any, **options: Any
    ) -> list[dict[str, Any]]:
        """``{"label", "probability", "tokens"}`` per sentence (``tokens``: the words the
        model read, ``<unk>`` for those it never saw in training)."""
        probabilities = self(batch["tokens"], batch["lengths"]).softmax(-1)
        records = []
        for i, (p, label) in enumerate(zip(*probabilities.max(-1))):
            sentence = datamodule.decode_tokens(batch["tokens"][i, : batch["lengths"][i]])
            records.append(
                {"label": self.label_names[label], "probability": float(p), "tokens": sentence}
            )
        return records

    def format_prediction(self, record: dict[str, Any]) -> str:
        """``label<TAB>probability<TAB>tokens``."""
        return f"{record['label']}\t{record['probability']:.3f}\t{record['tokens']}"
