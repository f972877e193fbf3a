"""Translation: an encoder-decoder (sequence to sequence) with optional attention."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchmetrics import MeanMetric, MetricCollection

from rnnkit.figures.attention import attention_figure
from rnnkit.layers.recurrent import Recurrent
from rnnkit.metrics.bleu import CorpusBLEU
from rnnkit.patterns.seq2seq import Generation, Seq2Seq
from rnnkit.patterns.teacher_forcing import TeacherForcingSchedule
from rnnkit.tasks.base import RecurrentTask
from rnnkit.tasks.building import build_recurrent
from rnnkit.tasks.pretrained_embeddings import embedding_config, embedding_size_key

SCHEDULE_INTERVALS = ("epoch", "step")
SCHEDULE_KEYS = ("kind", "start", "end", "decay_steps", "k")
PREDICT_OPTIONS = ("beam_size", "length_penalty", "max_length")
# Layer arguments a decoder inherits from the encoder's cell config when it names another layer
# class (``model.decoder._target_``); everything else then comes from ``model.decoder``.
PORTABLE_LAYER_KEYS = ("hidden_size", "num_layers", "dropout")


class TranslationTask(RecurrentTask):
    """Source embedding → encoder (the ``cell`` config) → bridge → attentional decoder.

    ``model`` keys:

    * ``embedding_dim``: target embedding size; ``source_embedding_dim`` (default: the same).
    * ``attention``: ``none``, ``additive``, ``dot`` or ``general``; ``attention_size`` for
      additive; ``input_feeding`` (Luong); ``dropout``; ``tie_embeddings``.
    * ``decoder``: overrides of the ``cell`` config for the decoder (``hidden_size``,
      ``num_layers``, ``_target_``...). The decoder is the encoder's layer with
      ``bidirectional=false``; asking for a bidirectional decoder is an error.
    * ``teacher_forcing``: a :class:`~rnnkit.patterns.teacher_forcing.TeacherForcingSchedule`
      (``kind``, ``start``, ``end``, ``decay_steps``, ``k``) and ``interval``: ``epoch`` (the
      schedule's step is the epoch index) or ``step`` (the optimiser step).
    * ``max_decode_length``: most generated tokens in validation (default ``2 * S + 10``).
    * ``source_embedding`` (encoder) and ``embedding`` (decoder): ``pretrained``, a word
      vectors file for that side's vocabulary, and ``freeze``
      (:mod:`rnnkit.tasks.pretrained_embeddings`).

    Logged: ``train/loss`` (per step) and ``train/teacher_forcing_ratio`` (per epoch); for val
    and test ``loss`` (teacher-forced), ``loss_free_running`` (the decoder fed its own greedy
    token at every step for as many steps as the reference has, scored against the reference:
    the exposure-bias gap), ``bleu`` (corpus BLEU, 0-100, of greedy translations) and
    ``exact_match``, beside ``baseline_bleu``: the BLEU of a word-by-word translation through an
    IBM Model 1 table of the training pairs (:mod:`rnnkit.data.translation.word_table`). Each
    validation epoch: source → prediction (reference) samples and the
    attention heatmap of one example.
    """

    task = "translation"

    def build_model(self, model: dict[str, Any], spec: dict[str, Any]) -> nn.Module:
        embedding_dim = model["embedding_dim"]
        source_embedding_dim = model.get("source_embedding_dim") or embedding_dim
        input_feeding = model.get("input_feeding", True)
        encoder = self.build_recurrent(source_embedding_dim)
        decoder = self.build_decoder(model.get("decoder") or {}, embedding_dim, input_feeding)
        self.teacher_forcing, self.teacher_forcing_interval = make_teacher_forcing(
            model.get("teacher_forcing")
        )
        self.max_decode_length = model.get("max_decode_length")
        self.pad_index = spec["pad_index"]
        metrics = MetricCollection(
            {"bleu": CorpusBLEU(), "exact_match": MeanMetric(), "loss_free_running": MeanMetric()},
            compute_groups=False,
        )
        self.make_split_metrics(metrics)
        self.baseline_metrics = nn.ModuleDict({split: CorpusBLEU() for split in ("val", "test")})
        seq2seq = Seq2Seq(
            encoder,
            decoder,
            spec["source_vocab_size"],
            spec["target_vocab_size"],
            embedding_dim,
            attention=model.get("attention", "none"),
            attention_size=model.get("attention_size"),
            input_feeding=input_feeding,
            bos_index=spec["bos_index"],
            eos_index=spec["eos_index"],
            pad_index=spec["pad_index"],
            dropout=model.get("dropout", 0.0),
            tie_embeddings=model.get("tie_embeddings", False),
        )
        self.word_embedding(
            seq2seq.source_embedding,
            model.get("source_embedding"),
            key="model.source_embedding",
            vocabulary="source_vocab",
            size_key=embedding_size_key(model, "source_embedding"),
        )
        target = embedding_config(model.get("embedding"), "model.embedding")
        if target["freeze"] and model.get("tie_embeddings", False):
            raise ValueError(
                "model.embedding.freeze: with tie_embeddings=true the output layer shares the "
                "target embedding and would be frozen too; set one of them false"
            )
        self.word_embedding(seq2seq.decoder.embedding, target, vocabulary="target_vocab")
        return seq2seq

    def build_decoder(
        self, overrides: dict[str, Any], embedding_dim: int, input_feeding: bool
    ) -> Recurrent:
        """The ``cell`` config with ``bidirectional=False`` and ``overrides`` applied."""
        overrides = {k: v for k, v in overrides.items() if v is not None}  # null: the cell's
        if overrides.get("bidirectional", False) is not False:
            raise ValueError(
                "model.decoder.bidirectional: a decoder generates left to right, one token at a "
                f"time, so it cannot be bidirectional; expected false, got "
                f"{overrides['bidirectional']!r} (cell.bidirectional makes the encoder "
                "bidirectional)"
            )
        config = dict(self.hparams.cell)
        if "_target_" in overrides and overrides["_target_"] != config.get("_target_"):
            config = {k: v for k, v in config.items() if k in PORTABLE_LAYER_KEYS}
        config.update(overrides)
        config["bidirectional"] = False
        layer = build_recurrent(config, embedding_dim, key="model.decoder")
        if not input_feeding:
            return layer
        # Input feeding appends the previous attentional vector (the decoder's output size).
        return build_recurrent(config, embedding_dim + layer.output_size, key="model.decoder")

    # ---- training ----------------------------------------------------------------------

    def teacher_forcing_ratio(self) -> float:
        """The schedule's ratio now (at this epoch or optimiser step)."""
        step = self.current_epoch if self.teacher_forcing_interval == "epoch" else self.global_step
        return self.teacher_forcing(int(step))

    def forward(
        self,
        source: Tensor,
        source_lengths: Tensor,
        target_input: Tensor,
        teacher_forcing_ratio: float = 1.0,
    ):
        """Decoder logits ``(N, T, V)`` and attention ``(N, T, S)`` (or None)."""
        return self.model(source, source_lengths, target_input, teacher_forcing_ratio)

    def sequence_loss(self, logits: Tensor, target_output: Tensor) -> Tensor:
        """Cross entropy per real target token (padding ignored)."""
        # Flattened (not transposed to (N, V, T)): log-softmax then runs over contiguous rows
        # instead of copying the (N, T, V) logits first.
        return F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]),
            target_output.reshape(-1),
            ignore_index=self.pad_index,
        )

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> Tensor:
        ratio = self.teacher_forcing_ratio()
        # The loss step by step: the (N, T, V) logits of a long batch are several hundred MB.
        loss = self.model.loss(
            batch["source"],
            batch["source_lengths"],
            batch["target_input"],
            batch["target_output"],
            ratio,
        )
        size = batch["source"].shape[0]
        self.log_loss("train", loss, size)
        self.log(
            "train/teacher_forcing_ratio", ratio, on_step=False, on_epoch=True, batch_size=size
        )
        return loss

    # ---- validation and test -----------------------------------------------------------

    def evaluate(self, batch: dict[str, Any], split: str) -> None:
        source, lengths = batch["source"], batch["source_lengths"]
        target_output, size = batch["target_output"], source.shape[0]
        logits, _ = self(source, lengths, batch["target_input"], 1.0)
        self.log_loss(split, self.sequence_loss(logits, target_output), size)
        metrics = self.metrics_for(split)
        free_logits, _ = self(source, lengths, batch["target_input"], 0.0)
        tokens = (target_output != self.pad_index).sum()
        metrics["loss_free_running"].update(
            self.sequence_loss(free_logits, target_output), weight=tokens
        )
        generation = self.model.translate(
            source, lengths, method="greedy", max_length=self.max_decode_length
        )
        datamodule = self.trainer.datamodule
        predicted = [datamodule.decode_target(row) for row in generation.tokens]
        hypotheses = [datamodule.detokenize_target(tokens) for tokens in predicted]
        references = [[datamodule.detokenize_target(t)] for t in batch["target_tokens"]]
        metrics["bleu"].update(hypotheses, references)
        matches = [p == t for p, t in zip(predicted, batch["target_tokens"])]
        metrics["exact_match"].update(torch.tensor(matches, dtype=torch.float32))
        self.log_dict(metrics, prog_bar=split == "val", batch_size=size)
        table = self.data_baseline("word_table")
        if table is not None:
            words = table.translate(source, lengths, self.pad_index)
            baseline = [datamodule.detokenize_target(datamodule.decode_target(w)) for w in words]
            self.baseline_metrics[split].update(baseline, references)
            self.log(f"{split}/baseline_bleu", self.baseline_metrics[split], batch_size=size)
        self.keep_validation_sample(split, batch, generation, hypotheses, references)

    def on_validation_epoch_end(self) -> None:
        samples = self.take_validation_sample()
        if samples is None:
            return
        batch, generation, hypotheses, references = samples
        datamodule = self.trainer.datamodule
        rows = ["| source | prediction | reference | |", "| --- | --- | --- | --- |"]
        for i in range(min(8, len(hypotheses))):
            source = datamodule.detokenize_source(batch["source_tokens"][i])
            mark = "✓" if hypotheses[i] == references[i][0] else "✗"
            rows.append(f"| {source} | {hypotheses[i]} | {references[i][0]} | {mark} |")
        self.log_text("val/samples", "\n".join(rows))
        if generation.attention is not None:
            self.log_figure(
                "val/attention",
                self.attention_heatmap(batch["source_tokens"][0], generation, 0, datamodule),
            )

    def attention_heatmap(
        self, source_tokens: list[str], generation: Generation, index: int, datamodule: Any
    ):
        """Figure of example ``index``'s attention: generated tokens (rows) × source tokens."""
        length = int(generation.lengths[index])
        generated = generation.tokens[index, :length].tolist()
        labels = [datamodule.target_vocab.tokens[i] for i in generated]
        weights = generation.attention[index, :length, : len(source_tokens)].float().cpu()
        return attention_figure(weights, source_tokens, labels)

    # ---- prediction --------------------------------------------------------------------

    @torch.no_grad()
    def predict_records(
        self, batch: dict[str, Any], datamodule: Any, **options: Any
    ) -> list[dict[str, Any]]:
        """``{"source", "translation", "unknown_words"}`` per input sentence (the source words
        the model never saw in training).

        Options: ``beam_size`` (1: greedy decoding, the default; > 1: beam search),
        ``length_penalty`` (beam search only, default 1.0), ``max_length`` (most generated
        tokens, default ``2 * S + 10``).
        """
        unknown = sorted(set(options) - set(PREDICT_OPTIONS))
        if unknown:
            raise ValueError(
                f"{unknown[0]}: not a translation option; expected some of "
                f"{PREDICT_OPTIONS}, got {unknown[0]}={options[unknown[0]]!r}"
            )
        beam_size = options.get("beam_size", 1)
        if isinstance(beam_size, bool) or not isinstance(beam_size, int) or beam_size < 1:
            raise ValueError(f"beam_size: expected a positive integer, got {beam_size!r}")
        decode_options: dict[str, Any] = {}
        if beam_size > 1:
            decode_options = {
                "beam_size": beam_size,
                "length_penalty": options.get("length_penalty", 1.0),
            }
        elif "length_penalty" in options:
            raise ValueError("length_penalty: only used by beam search; set beam_size > 1")
        generation = self.model.translate(
            batch["source"],
            batch["source_lengths"],
            method="beam" if beam_size > 1 else "greedy",
            max_length=options.get("max_length"),
            **decode_options,
        )
        records = []
        for source_tokens, row in zip(batch["source_tokens"], generation.tokens):
            records.append(
                {
                    "source": datamodule.detokenize_source(source_tokens),
                    "translation": datamodule.detokenize_target(datamodule.decode_target(row)),
                    "unknown_words": [t for t in source_tokens if t not in datamodule.source_vocab],
                }
            )
        return records

    def format_prediction(self, record: dict[str, Any]) -> str:
        """``source → translation``, then the unknown source words, if any."""
        line = f"{record['source']} → {record['translation'] or '(empty)'}"
        if record["unknown_words"]:
            line += f"\t[not in the training vocabulary: {', '.join(record['unknown_words'])}]"
        return line


def make_teacher_forcing(config: dict[str, Any] | None) -> tuple[TeacherForcingSchedule, str]:
    """The schedule and its interval from ``model.teacher_forcing`` (None: always 1.0)."""
    config = {k: v for k, v in (config or {"kind": "constant"}).items() if v is not None}
    interval = config.pop("interval", "epoch")
    if interval not in SCHEDULE_INTERVALS:
        raise ValueError(
            f"model.teacher_forcing.interval: expected one of {SCHEDULE_INTERVALS}, "
            f"got {interval!r}"
        )
    unknown = sorted(set(config) - set(SCHEDULE_KEYS))
    if unknown:
        raise ValueError(
            f"model.teacher_forcing.{unknown[0]}: not a schedule key; expected "
            f"some of {SCHEDULE_KEYS + ('interval',)}"
        )
    try:
        return TeacherForcingSchedule(**config), interval
    except ValueError as error:
        raise ValueError(f"model.teacher_forcing.{error}") from None
