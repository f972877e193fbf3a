"""Sequence tagging: many-to-many, one tag per token (POS, NER), optionally with a CRF."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy

from rnnkit.data.tagging.tag_schemes import ENTITY_SCHEMES
from rnnkit.metrics.entity_f1 import EntityF1, entity_chunks
from rnnkit.patterns.char_embedding import CHAR_ENCODERS, WordCharacterEmbedding
from rnnkit.patterns.sequence_tagger import PADDING_TAG, SequenceTagger
from rnnkit.tasks.base import RecurrentTask

CRF_CONSTRAINED_SCHEMES = ("BIO", "BIOES")
CHAR_FEATURE_DEFAULTS = {
    "enabled": False,
    "embedding_dim": 25,
    "hidden_size": 25,
    "encoder": "lstm",
    "kernel_size": 3,
    "dropout": 0.0,
}
"""``model.char_features`` keys and their defaults (Lample et al. 2016's sizes)."""


class TaggingTask(RecurrentTask):
    """Embedding → recurrent layer → dropout → per-token tag scores (→ CRF).

    ``model`` keys: ``embedding_dim``, ``dropout``, ``crf`` (true: a linear-chain CRF trained by
    its negative log-likelihood and decoded by Viterbi; false: independent per-token softmax),
    ``crf_constraints`` (default true: with BIO or BIOES tags the CRF forbids the transitions the
    scheme does not allow, such as ``O`` → ``I-PER``), ``char_features`` (below), ``embedding``
    (``pretrained``: a word vectors file to start the word embedding from; ``freeze``; see
    :mod:`rnnkit.tasks.pretrained_embeddings`).

    Character features (Lample et al. 2016), ``model.char_features``: ``enabled`` (default
    false), ``embedding_dim`` (25) and ``hidden_size`` (25) of a character BiLSTM
    (``encoder: lstm``; or ``encoder: cnn`` with ``kernel_size``, Ma & Hovy 2016) whose
    per-word output is concatenated to the word embedding, then ``dropout`` on that
    concatenation (:class:`~rnnkit.patterns.char_embedding.WordCharacterEmbedding`). It needs
    character ids from the data (``data.char_features=true``: the spec carries
    ``char_vocab_size``, batches ``chars`` and ``word_lengths``).

    Metrics per split: ``acc`` (token accuracy over real tokens) and, when the data's tags are
    entity tags (IOB1/BIO/BIOES), ``entity_f1`` (exact chunk match, micro over types, equal to
    seqeval's), beside the same metrics of the classical baseline, each word's most frequent
    training tag (``val/majority_acc``, ``val/majority_entity_f1``, and for test; see
    :mod:`rnnkit.data.tagging.majority_baseline`). Each validation epoch logs tagged sentences
    (``word/TAG``, errors marked with the gold tag) to TensorBoard.
    """

    task = "tagging"

    def build_model(self, model: dict[str, Any], spec: dict[str, Any]) -> nn.Module:
        self.tag_names = list(spec["tag_names"])
        self.tag_scheme = spec.get("tag_scheme", "none")
        crf = model.get("crf", False)
        if not isinstance(crf, bool):
            raise ValueError(f"model.crf: expected true or false, got {crf!r}")
        constrain = model.get("crf_constraints", True)
        if not isinstance(constrain, bool):
            raise ValueError(f"model.crf_constraints: expected true or false, got {constrain!r}")
        constrain = crf and constrain and self.tag_scheme in CRF_CONSTRAINED_SCHEMES
        chars = char_features_config(model.get("char_features"), spec)
        self.char_embedding: WordCharacterEmbedding | None = None
        embedding: nn.Module | None = None
        if chars is None:
            embedding = self.word_embedding(
                nn.Embedding(
                    spec["vocab_size"], model["embedding_dim"], padding_idx=spec["pad_index"]
                ),
                model.get("embedding"),
            )
            rnn = self.build_recurrent(model["embedding_dim"])
        else:
            # The tagger then reads features: [word embedding; character features].
            try:
                self.char_embedding = WordCharacterEmbedding(
                    spec["vocab_size"],
                    model["embedding_dim"],
                    spec["char_vocab_size"],
                    char_embedding_dim=chars["embedding_dim"],
                    char_hidden_size=chars["hidden_size"],
                    char_encoder=chars["encoder"],
                    kernel_size=chars["kernel_size"],
                    dropout=chars["dropout"],
                    padding_idx=spec["pad_index"],
                    char_padding_idx=spec.get("char_pad_index", 0),
                )
            except ValueError as error:
                if str(error).partition(":")[0] in CHAR_FEATURE_DEFAULTS:
                    raise ValueError(f"model.char_features.{error}") from None
                raise
            self.word_embedding(self.char_embedding.word_embedding, model.get("embedding"))
            rnn = self.build_recurrent(self.char_embedding.embedding_dim)
        metrics = {
            "acc": MulticlassAccuracy(
                len(self.tag_names), average="micro", ignore_index=PADDING_TAG
            )
        }
        if self.tag_scheme in ENTITY_SCHEMES:
            metrics["entity_f1"] = EntityF1(self.tag_names, self.tag_scheme)
        self.make_split_metrics(MetricCollection(metrics))
        self.baseline_metrics = nn.ModuleDict(
            {
                split: MetricCollection(metrics).clone(prefix=f"{split}/majority_")
                for split in ("val", "test")
            }
        )
        return SequenceTagger(
            rnn,
            len(self.tag_names),
            input_layer=embedding,
            dropout=model.get("dropout", 0.0),
            crf=crf,
            crf_labels=self.tag_names if constrain else None,
            crf_scheme=self.tag_scheme if constrain else None,
        )

    def forward(
        self,
        tokens: torch.Tensor,
        lengths: torch.Tensor,
        chars: torch.Tensor | None = None,
        word_lengths: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Emission scores ``(N, L, num_tags)`` for word ids ``(N, L)`` with ``lengths (N,)``.

        With character features, ``chars (N, L, W)`` are the words' character ids and
        ``word_lengths (N, L)`` their lengths (0 at padded words).
        """
        if self.char_embedding is None:
            return self.model(tokens, lengths)
        if chars is None:
            raise ValueError(
                "chars: this tagger uses character features (model.char_features.enabled=true) "
                "and the batch has no character ids; set data.char_features=true"
            )
        return self.model(self.char_embedding(tokens, chars, word_lengths), lengths)

    def emissions(self, batch: dict[str, Any]) -> torch.Tensor:
        """:meth:`forward` on a datamodule batch."""
        return self(
            batch["tokens"], batch["lengths"], batch.get("chars"), batch.get("word_lengths")
        )

    def evaluate(self, batch: dict[str, Any], split: str) -> torch.Tensor:
        emissions = self.emissions(batch)
        tags = batch["tags"]
        loss = self.model.loss_from_emissions(emissions, tags, batch["lengths"])
        predictions = self.model.decode_from_emissions(emissions, batch["lengths"])
        self.metrics_for(split).update(predictions, tags)
        size = tags.shape[0]
        self.log_loss(split, loss, size)
        # update() (not forward) fills the metrics: log them per epoch, in training too.
        self.log_dict(
            self.metrics_for(split),
            on_step=False,
            on_epoch=True,
            prog_bar=split == "val",
            batch_size=size,
        )
        if split != "train":
            self._log_baseline(batch, split)
        self.keep_validation_sample(split, batch, predictions)
        return loss

    def _log_baseline(self, batch: dict[str, Any], split: str) -> None:
        baseline = self.data_baseline("majority_baseline")
        if baseline is None:
            return
        metrics = self.baseline_metrics[split]
        metrics.update(baseline.predict(batch["tokens"]), batch["tags"])
        self.log_dict(metrics, on_step=False, on_epoch=True, batch_size=batch["tags"].shape[0])

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        return self.evaluate(batch, "train")

    def on_validation_epoch_end(self) -> None:
        samples = self.take_validation_sample()
        if samples is None:
            return
        batch, predictions = samples
        rows = [
            (batch["words"][i], self.tag_names_of(predictions[i]), self.tag_names_of(tags))
            for i, tags in enumerate(batch["tags"][:8])
        ]
        self.log_text("val/samples", self.samples_table(rows))

    # ---- human-readable output ---------------------------------------------------------

    def tag_names_of(self, ids: torch.Tensor) -> list[str]:
        return [self.tag_names[i] for i in ids.tolist() if i != PADDING_TAG]

    @staticmethod
    def format_tagged(
        words: list[str],
        predicted: list[str],
        gold: list[str] | None = None,
        markdown: bool = False,
    ) -> str:
        """``word/TAG`` per token; with ``gold``, a wrong tag is marked ``word/TAG[gold: G]``
        (bold in markdown)."""
        parts = []
        for i, (word, tag) in enumerate(zip(words, predicted)):
            if gold is not None and gold[i] != tag:
                wrong = f"{word}/{tag}[gold: {gold[i]}]"
                parts.append(f"**{wrong}**" if markdown else wrong)
            else:
                parts.append(f"{word}/{tag}")
        return " ".join(parts)

    @staticmethod
    def samples_table(rows: list[tuple[list[str], list[str], list[str]]]) -> str:
        """A markdown table of ``(words, predicted, gold)`` sentences: the predicted tags (wrong
        ones bold, with the gold tag), the gold tags in full, and the count of wrong tags."""
        lines = ["| predicted | gold | wrong tags |", "| --- | --- | --- |"]
        for words, predicted, gold in rows:
            wrong = sum(p != g for p, g in zip(predicted, gold))
            cells = (
                TaggingTask.format_tagged(words, predicted, gold, markdown=True),
                TaggingTask.format_tagged(words, gold),
            )
            cells = tuple(cell.replace("|", "\\|") for cell in cells)
            lines.append(f"| {cells[0]} | {cells[1]} | {wrong} |")
        return "\n".join(lines)

    @torch.no_grad()
    def predict_records(
        self, batch: dict[str, Any], datamodule: Any, **options: Any
    ) -> list[dict[str, Any]]:
        """``{"words", "tags"}`` per sentence, and with an entity scheme ``"entities"``:
        ``[{"type", "text", "start", "end"}]`` (word positions, ``end`` inclusive)."""
        if options:
            name = sorted(options)[0]
            raise ValueError(
                f"{name}: the tagging task takes no prediction options, got "
                f"{name}={options[name]!r}"
            )
        predictions = self.model.decode_from_emissions(self.emissions(batch), batch["lengths"])
        records = []
        for words, row in zip(batch["words"], predictions):
            tags = self.tag_names_of(row)
            record: dict[str, Any] = {"words": list(words), "tags": tags}
            if self.tag_scheme in ENTITY_SCHEMES:
                record["entities"] = [
                    {
                        "type": kind,
                        "text": " ".join(words[first : last + 1]),
                        "start": first,
                        "end": last,
                    }
                    for kind, first, last in entity_chunks(tags, self.tag_scheme)
                ]
            records.append(record)
        return records

    def format_prediction(self, record: dict[str, Any]) -> str:
        """``word/TAG ...``, then the entities found (entity schemes)."""
        line = self.format_tagged(record["words"], record["tags"])
        if "entities" in record:
            found = [f"{e['type']}: {e['text']}" for e in record["entities"]]
            line += "\t[" + "; ".join(found) + "]"
        return line


def char_features_config(config: Any, spec: dict[str, Any]) -> dict[str, Any] | None:
    """The checked ``model.char_features`` with defaults filled in, or None when disabled.

    Character ids from the data (``char_vocab_size`` in ``spec``) without character features
    in the model would be read and never used: that is an error, as is the reverse."""
    if config is None:
        return _without_char_features(spec)
    if not isinstance(config, dict):
        raise ValueError(
            f"model.char_features: expected a mapping such as {{enabled: true}}, got {config!r}"
        )
    unknown = sorted(set(config) - set(CHAR_FEATURE_DEFAULTS))
    if unknown:
        raise ValueError(
            f"model.char_features.{unknown[0]}: not a character-feature key; expected some of "
            f"{list(CHAR_FEATURE_DEFAULTS)}"
        )
    config = {**CHAR_FEATURE_DEFAULTS, **config}
    if not isinstance(config["enabled"], bool):
        raise ValueError(
            f"model.char_features.enabled: expected true or false, got {config['enabled']!r}"
        )
    if not config["enabled"]:
        return _without_char_features(spec)
    if config["encoder"] not in CHAR_ENCODERS:
        raise ValueError(
            f"model.char_features.encoder: expected one of {CHAR_ENCODERS}, got "
            f"{config['encoder']!r}"
        )
    if "char_vocab_size" not in spec:
        raise ValueError(
            "model.char_features.enabled: the tagger needs character ids, but the data spec "
            "has no 'char_vocab_size'; set data.char_features=true (a datamodule with "
            "character features, such as CoNLLDataModule or CoNLLUDataModule)"
        )
    return config


def _without_char_features(spec: dict[str, Any]) -> None:
    """None, after checking the data brings no character ids the model would not use."""
    if "char_vocab_size" in spec:
        raise ValueError(
            "data.char_features: true, but model.char_features.enabled is false, so the "
            "character ids would be read and never used; set model.char_features.enabled=true "
            "(or data.char_features=false)"
        )
