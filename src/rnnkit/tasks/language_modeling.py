"""Language modelling with generation: predict every next token, then write text."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchmetrics import MetricCollection

from rnnkit.metrics.perplexity import BitsPerToken, TokenNLL, TokenPerplexity
from rnnkit.patterns.language_model import LanguageModel, detach_state
from rnnkit.tasks.base import RecurrentTask
from rnnkit.tasks.tbptt import ChunkOptimizer, TBPTTSettings, chunk_slices, run_resetting

SPLITS = ("train", "val", "test")
GENERATION_OPTIONS = ("max_new_tokens", "temperature", "top_k", "top_p", "seed", "greedy")
REGULARISATION_KEYS = (
    "input_dropout",
    "output_dropout",
    "variational_dropout",
    "embedding_dropout",
    "activation_regularization",
    "temporal_activation_regularization",
)
"""``model.*`` keys passed as they are to :class:`~rnnkit.patterns.LanguageModel`
(docs/regularisation.md)."""


def likelihood_metrics(bits_name: str, with_loss: bool = True) -> MetricCollection:
    """Mean NLL per token (``loss``, unless ``with_loss`` is false), perplexity and bits per
    token, over the whole split."""
    metrics = {"perplexity": TokenPerplexity(), bits_name: BitsPerToken()}
    return MetricCollection({"loss": TokenNLL(), **metrics} if with_loss else metrics)


class LanguageModelingTask(RecurrentTask):
    """Embedding -> recurrent layer -> next-token logits (``rnnkit.patterns.LanguageModel``).

    With ``model.carry_state`` the (detached) state at the end of a batch starts the next batch
    of the same epoch and split (truncated BPTT over the datamodule's contiguous streams); it
    is reset to zeros at every epoch start, after loading a checkpoint, and (with
    ``model.reset_at_document_starts``) in the rows where the batch's ``document_starts`` mark
    a new document. With ``model.tbptt_steps=k`` each batch is read in chunks of ``k`` steps,
    the state carried detached from chunk to chunk, with one optimizer step per chunk (manual
    optimisation by :class:`~rnnkit.tasks.tbptt.ChunkOptimizer`, clipping with
    ``model.tbptt_gradient_clip_val``, one step every ``model.tbptt_accumulate_chunks``
    chunks; docs/tbptt.md). Metrics, computed per token over the whole split:
    ``val/loss`` and ``test/loss`` (mean NLL; ``train/loss`` is each step's),
    ``<split>/perplexity`` and ``<split>/bpc`` (bits per character; ``bits_per_word`` at word
    level), beside the order-blind unigram baseline ``<split>/unigram_bpc`` and the classical
    baseline, an interpolated Kneser-Ney n-gram model of the training text
    (``<split>/ngram_bpc``, ``<split>/ngram_perplexity``; see
    :mod:`rnnkit.data.language_modeling.kneser_ney`), val and test.
    Each validation epoch logs text generated from ``model.sample_prompt``.
    """

    task = "language_modeling"

    def build_model(self, model: dict[str, Any], spec: dict[str, Any]) -> nn.Module:
        if self.hparams.cell.get("bidirectional"):
            raise ValueError(
                "cell.bidirectional: a language model reads left to right only (a "
                "backward direction would see the token to predict); expected "
                "false, got true"
            )
        self.spec = dict(spec)
        self.carry_state = bool(model.get("carry_state", True))
        self.reset_at_document_starts = bool(model.get("reset_at_document_starts", True))
        self.tbptt = TBPTTSettings.from_model_config(model)
        self.chunk_optimizer = None if self.tbptt is None else ChunkOptimizer(self.tbptt)
        if self.tbptt is not None:
            self.automatic_optimization = False
        self.sample_prompt = str(model.get("sample_prompt", "\n"))
        self.sample_length = int(model.get("sample_length", 200))
        self.sample_temperature = float(model.get("sample_temperature", 0.8))
        self.bits_name = "bpc" if spec.get("level", "char") == "char" else "bits_per_word"
        embedding_dim = int(model["embedding_dim"])
        language_model = LanguageModel(
            self.build_recurrent(embedding_dim),
            spec["vocab_size"],
            embedding_dim,
            tie_weights=bool(model.get("tie_weights", False)),
            dropout=float(model.get("dropout", 0.0)),
            **{key: model[key] for key in REGULARISATION_KEYS if model.get(key) is not None},
        )
        self.make_split_metrics(likelihood_metrics(self.bits_name))
        # train/loss is the loss of each step (log_loss), as in every task: no epoch NLL.
        self.split_metrics["train_metrics"] = likelihood_metrics(self.bits_name, False).clone(
            prefix="train/"
        )
        self.unigram_metrics = nn.ModuleDict(
            {f"{split}_metrics": BitsPerToken() for split in SPLITS}
        )
        self.ngram_metrics = nn.ModuleDict(
            {
                split: likelihood_metrics(self.bits_name, False).clone(prefix=f"{split}/ngram_")
                for split in ("val", "test")
            }
        )
        self._carried: dict[str, Any] = dict.fromkeys(SPLITS)
        self._ngram_context: dict[str, Tensor | None] = dict.fromkeys(SPLITS)
        return language_model

    def forward(self, tokens: Tensor, state: Any = None) -> tuple[Tensor, Any]:
        """``logits (N, L, V)`` and the state after the last token."""
        return self.model(tokens, state)

    def _start_state(self, batch: dict[str, Tensor], split: str) -> Any:
        """The state the batch starts from: the previous batch's, or None (zeros)."""
        state = self._carried[split] if self.carry_state else None
        if state is not None and state_batch(state) != batch["tokens"].shape[0]:
            state = None  # a batch of another size cannot continue the rows
        return state

    def _chunk_nll(self, batch: dict[str, Tensor], piece: slice, state: Any) -> tuple[Tensor, Any]:
        """``nll (N, l)`` of the steps ``piece`` of the batch, and the state after them."""
        starts = batch.get("document_starts") if self.reset_at_document_starts else None
        logits, state = run_resetting(
            self, batch["tokens"][:, piece], state, None if starts is None else starts[:, piece]
        )
        targets = batch["targets"][:, piece]
        return F.cross_entropy(logits.transpose(1, 2), targets, reduction="none"), state

    def evaluate(self, batch: dict[str, Tensor], split: str) -> Tensor:
        length = batch["tokens"].shape[1]
        train_chunks = split == "train" and self.tbptt is not None
        pieces = chunk_slices(length, self.tbptt.steps) if self.tbptt else [slice(0, length)]
        state = self._start_state(batch, split)
        nlls = []
        for piece in pieces:
            nll, state = self._chunk_nll(batch, piece, state)
            if train_chunks:
                penalty = self.model.activation_penalty.take()
                self.chunk_optimizer.backward(self, nll.mean() + penalty)
                nll = nll.detach()
            if self.tbptt is not None:
                state = detach_state(state)
            nlls.append(nll)
        if self.carry_state:
            self._carried[split] = detach_state(state)
        nll = torch.cat(nlls, dim=1)
        self._log_split(batch, nll, split)
        return nll.mean()

    def _log_split(self, batch: dict[str, Tensor], nll: Tensor, split: str) -> None:
        metrics = self.metrics_for(split)
        metrics.update(nll.detach())
        self.log_dict(
            metrics,
            on_step=False,
            on_epoch=True,
            prog_bar=split == "val",
            batch_size=batch["tokens"].numel(),
        )
        if split != "train":
            unigram = self.unigram_log_probs()
            if unigram is not None:
                baseline = self.unigram_metrics[f"{split}_metrics"]
                baseline.update(-unigram.to(nll.device)[batch["targets"]])
                self.log(
                    f"{split}/unigram_{self.bits_name}",
                    baseline,
                    on_step=False,
                    on_epoch=True,
                    batch_size=batch["tokens"].numel(),
                )
            self._log_ngram(batch, split)

    def _log_ngram(self, batch: dict[str, Tensor], split: str) -> None:
        """The n-gram baseline's NLL of the batch's targets, its context carried from batch to
        batch of a split as the recurrent state is (none after a reset or without carry)."""
        model = self.data_baseline("ngram_model")
        if model is None:
            return
        tokens = batch["tokens"]
        previous = self._ngram_context[split] if self.carry_state else None
        if previous is not None and previous.shape[0] != tokens.shape[0]:
            previous = None
        nll = -model.log_probs(tokens, batch["targets"], previous)
        if self.carry_state:
            joined = tokens if previous is None else torch.cat([previous, tokens], 1)
            self._ngram_context[split] = (
                joined[:, -(model.order - 1) :] if model.order > 1 else None
            )
        metrics = self.ngram_metrics[split]
        metrics.update(nll)
        self.log_dict(metrics, on_step=False, on_epoch=True, batch_size=tokens.numel())

    def unigram_log_probs(self) -> Tensor | None:
        datamodule = getattr(self.trainer, "datamodule", None) if self._trainer else None
        if datamodule is None or not hasattr(datamodule, "unigram_log_probs"):
            return None
        if getattr(self, "_unigram", None) is None:
            self._unigram = datamodule.unigram_log_probs().float()
        return self._unigram

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        loss = self.evaluate(batch, "train")
        if self.chunk_optimizer is not None:
            self.chunk_optimizer.end_batch(self, batch_idx)
        self.log_loss("train", loss, batch["tokens"].numel())
        regulariser = self.model.activation_penalty
        penalty = regulariser.take()  # AR and TAR (0 when off; taken per chunk with TBPTT)
        if regulariser.alpha or regulariser.beta:
            self.log("train/activation_penalty", penalty, batch_size=batch["tokens"].numel())
        return loss + penalty

    # ---- truncated BPTT: manual optimisation (model.tbptt_steps) -----------------------

    def configure_callbacks(self) -> list:
        # Lightning calls this before it validates the Trainer for manual optimisation.
        if self.chunk_optimizer is not None:
            self.chunk_optimizer.check_trainer(self.trainer)
        return []

    def configure_optimizers(self) -> Any:
        optimizers = super().configure_optimizers()
        if self.chunk_optimizer is None:
            return optimizers
        return self.chunk_optimizer.adapt(optimizers)

    def on_before_optimizer_step(self, optimizer: Any) -> None:
        if self.chunk_optimizer is not None:
            self.chunk_optimizer.clip(self, optimizer)

    def on_train_epoch_end(self) -> None:
        if self.chunk_optimizer is not None:
            self.chunk_optimizer.on_epoch_end(self)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_load_checkpoint(checkpoint)
        self._carried = dict.fromkeys(SPLITS)  # resuming starts from zeros (docs/tbptt.md)
        self._ngram_context = dict.fromkeys(SPLITS)

    def on_train_epoch_start(self) -> None:
        self._carried["train"] = None
        if self.chunk_optimizer is not None:
            self.chunk_optimizer.on_epoch_start(self)

    def on_validation_epoch_start(self) -> None:
        self._carried["val"] = None
        self._ngram_context["val"] = None

    def on_test_epoch_start(self) -> None:
        self._carried["test"] = None
        self._ngram_context["test"] = None

    def on_validation_epoch_end(self) -> None:
        datamodule = getattr(self.trainer, "datamodule", None)
        if self.trainer.sanity_checking or datamodule is None:
            return
        text = self.generate_text(
            datamodule,
            self.sample_prompt,
            self.sample_length,
            temperature=self.sample_temperature,
            seed=0,
        )
        fence = "    "  # markdown code block: keeps indentation and line breaks
        self.log_text("val/generated", "\n".join(fence + line for line in text.split("\n")))

    @torch.no_grad()
    def generate_text(
        self, datamodule: Any, prompt: str, max_new_tokens: int, **options: Any
    ) -> str:
        """``prompt`` followed by ``max_new_tokens`` generated tokens, as text."""
        batch = datamodule.batch_from_raw(prompt)
        return self.predict_raw(batch, datamodule, max_new_tokens=max_new_tokens, **options)[0]

    @torch.no_grad()
    def predict_records(
        self, batch: dict[str, Any], datamodule: Any, **options: Any
    ) -> list[dict[str, Any]]:
        """``{"text"}``: the prompt and its continuation, as one text.

        Options: ``max_new_tokens`` (200), ``temperature`` (1.0), ``top_k``, ``top_p``,
        ``seed`` (reproducible sampling), ``greedy`` (most probable token each step; takes
        none of the sampling options).
        """
        unknown = sorted(set(options) - set(GENERATION_OPTIONS))
        if unknown:
            raise ValueError(
                f"{unknown[0]}: not a generation option; expected some of {GENERATION_OPTIONS}"
            )
        options = dict(options)
        seed = options.pop("seed", None)
        if seed is not None:
            options["generator"] = torch.Generator(device=self.device).manual_seed(int(seed))
        options.setdefault("max_new_tokens", 200)
        was_training = self.training
        self.eval()
        try:
            tokens = self.model.generate(batch["tokens"].to(self.device), **options)
        finally:
            self.train(was_training)
        return [{"text": datamodule.decode_text(row)} for row in tokens]

    def format_prediction(self, record: dict[str, Any]) -> str:
        return record["text"]


def state_batch(state: Any) -> int:
    """The batch size of a recurrent state in the ``hx`` layout."""
    first = state[0] if isinstance(state, tuple) else state
    return int(first.shape[1])
