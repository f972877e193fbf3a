"""Speech recognition: log-mel frames -> recurrent encoder -> CTC over characters."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torchmetrics import MeanMetric, MetricCollection
from torchmetrics.text import CharErrorRate, WordErrorRate

from rnnkit.data.speech.datamodule import labels_to_text
from rnnkit.figures.ctc_posteriors import BLANK_LABEL, ctc_posteriors_figure
from rnnkit.patterns.ctc import CTC, DECODERS, CTCLexicon, CTCOutput
from rnnkit.tasks.base import RecurrentTask
from rnnkit.tasks.spec_augment import SpecAugment

SPLITS = ("train", "val", "test")


def word_lexicon(words: list[str], characters: str) -> CTCLexicon:
    """``words`` as the label sequences the CTC head spells (label ``i + 1`` is
    ``characters[i]``, 0 the blank), separated by the space's label."""
    label = {c: i + 1 for i, c in enumerate(characters)}
    separator = label.get(" ", -1)  # no space in the alphabet: one word per utterance
    return CTCLexicon([[label[c] for c in word] for word in words], separator)


class SpeechTask(RecurrentTask):
    """:class:`~rnnkit.patterns.ctc.CTC` over the datamodule's log-mel features.

    Model options (``configs/model/speech.yaml``): ``subsampling`` (frames stacked per
    recurrent step), ``dropout``, ``spec_augment`` (the arguments of
    :class:`~rnnkit.tasks.spec_augment.SpecAugment`, applied to training batches; null: off),
    ``decoder`` (``greedy`` | ``beam``, used for test and prediction; validation decodes
    greedily), ``beam_size`` and ``min_label_prob`` for the beam, and ``lexicon`` (true: the
    beam spells only words of the training transcripts; needs ``decoder: beam``).

    Logged: ``train/loss``, ``<split>/loss`` (CTC, per target label), ``<split>/cer`` and
    ``<split>/wer`` (torchmetrics' character and word error rates over the split) and
    ``<split>/ser`` (sentence error rate: the share of utterances with any error); for val and
    test also the same error rates of the classical baseline, whole-word HMMs trained on the
    training split (``<split>/hmm_cer``, ``<split>/hmm_wer``;
    :mod:`rnnkit.data.speech.word_hmm_baseline`). Each
    validation epoch logs reference against prediction text, the first utterance's log-mel
    spectrogram with its CTC posteriors under it, and (once) its audio.
    """

    task = "speech"

    def build_model(self, model: dict[str, Any], spec: dict[str, Any]) -> nn.Module:
        self.spec = dict(spec)
        self.decoder = model.get("decoder", "greedy")
        if self.decoder not in DECODERS:
            raise ValueError(f"model.decoder: expected one of {DECODERS}, got {self.decoder!r}")
        self.beam_size = int(model.get("beam_size", 8))
        if self.beam_size < 1:
            raise ValueError(f"model.beam_size: expected a positive integer, got {self.beam_size}")
        self.min_label_prob = float(model.get("min_label_prob", 0.001))
        self.lexicon = self._lexicon(model.get("lexicon", False))
        augment = model.get("spec_augment")
        try:
            self.spec_augment = SpecAugment(**augment) if augment else None
        except (TypeError, ValueError) as error:
            raise ValueError(f"model.spec_augment: {error}") from None
        subsampling = model.get("subsampling", 1)
        if isinstance(subsampling, bool) or not isinstance(subsampling, int) or subsampling < 1:
            raise ValueError(f"model.subsampling: expected a positive integer, got {subsampling!r}")
        try:
            ctc = CTC(
                self.build_recurrent(spec["num_features"] * subsampling),
                spec["num_labels"],
                blank=spec["blank_index"],
                subsampling=subsampling,
                dropout=float(model.get("dropout", 0.0)),
            )
        except ValueError as error:
            raise ValueError(f"model.{error}") from None
        error_rates = MetricCollection({"cer": CharErrorRate(), "wer": WordErrorRate()})
        self.make_split_metrics(error_rates)
        self.baseline_metrics = nn.ModuleDict(
            {split: error_rates.clone(prefix=f"{split}/hmm_") for split in ("val", "test")}
        )
        self.sentence_errors = nn.ModuleDict({f"{s}_metrics": MeanMetric() for s in SPLITS})
        self._audio_logged = False
        return ctc

    def _lexicon(self, wanted: Any) -> CTCLexicon | None:
        """The training transcripts' words as label sequences, for beam search to spell."""
        if not isinstance(wanted, bool):
            raise ValueError(f"model.lexicon: expected true or false, got {wanted!r}")
        if not wanted:
            return None
        if self.decoder != "beam":
            raise ValueError(
                f"model.lexicon: needs model.decoder=beam (a lexicon constrains beam search), "
                f"got model.decoder={self.decoder}"
            )
        words = self.spec.get("words") or []
        if not words:
            raise ValueError(
                "model.lexicon: the data recorded no training words (a checkpoint saved "
                "before rnnkit kept them); set model.lexicon=false"
            )
        return word_lexicon(words, self.spec["characters"])

    def forward(self, features: Tensor, lengths: Tensor) -> CTCOutput:
        return self.model(features, lengths)

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> Tensor:
        features = batch["features"]
        if self.spec_augment is not None:
            features = self.spec_augment(features, batch["lengths"])
        output = self(features, batch["lengths"])
        loss = self.model.loss_from_output(output, batch["targets"], batch["target_lengths"])
        self.log("train/loss", loss, prog_bar=True, batch_size=features.shape[0])
        return loss

    def transcribe(self, output: CTCOutput, method: str | None = None, **options: Any) -> list[str]:
        """Decoded text of each sequence of ``output``."""
        method = method or self.decoder
        if method == "beam":
            options.setdefault("beam_size", self.beam_size)
            options.setdefault("min_label_prob", self.min_label_prob)
            options.setdefault("lexicon", self.lexicon)
        hypotheses = self.model.decode(output, method=method, **options)
        return [labels_to_text(h.labels, self.spec["characters"]) for h in hypotheses]

    def evaluate(self, batch: dict[str, Any], split: str) -> None:
        size = batch["features"].shape[0]
        output = self(batch["features"], batch["lengths"])
        loss = self.model.loss_from_output(output, batch["targets"], batch["target_lengths"])
        self.log(f"{split}/loss", loss, prog_bar=split == "val", batch_size=size)
        predictions = self.transcribe(output, "greedy" if split == "val" else None)
        references = batch["transcripts"]
        metrics = self.metrics_for(split)
        metrics.update(predictions, references)
        self.log_dict(metrics, prog_bar=split == "val", batch_size=size)
        wrong = torch.tensor(
            [p != r for p, r in zip(predictions, references)], dtype=torch.float32
        ).to(self.device)
        self.sentence_errors[f"{split}_metrics"].update(wrong)
        self.log(f"{split}/ser", self.sentence_errors[f"{split}_metrics"], batch_size=size)
        self._log_baseline(batch, split)
        self.keep_validation_sample(split, batch, output, predictions)

    def _log_baseline(self, batch: dict[str, Any], split: str) -> None:
        baseline = self.data_baseline("word_hmm_baseline")
        if baseline is None:
            return
        metrics = self.baseline_metrics[split]
        metrics.update(
            baseline.transcribe(batch["features"], batch["lengths"]), batch["transcripts"]
        )
        self.log_dict(metrics, batch_size=batch["features"].shape[0])

    def on_validation_epoch_end(self) -> None:
        sample = self.take_validation_sample()
        if sample is None:
            return
        batch, output, predictions = sample
        rows = ["| reference | prediction | correct |", "| --- | --- | --- |"]
        for reference, prediction in list(zip(batch["transcripts"], predictions))[:8]:
            rows.append(
                f"| {reference} | {prediction} | {'yes' if reference == prediction else 'no'} |"
            )
        self.log_text("val/samples", "\n".join(rows))
        self.log_figure("val/ctc_posteriors", self.posteriors_figure(batch, output, predictions))
        writer = self.tensorboard()
        datamodule = getattr(self.trainer, "datamodule", None)
        if writer is not None and datamodule is not None and not self._audio_logged:
            audio, transcript = datamodule.first_example("val")
            writer.add_audio(
                "val/audio", torch.from_numpy(audio), self.global_step, datamodule.sample_rate
            )
            self.log_text("val/audio_transcript", transcript)
            self._audio_logged = True

    def posteriors_figure(self, batch: dict[str, Any], output: CTCOutput, predictions: list[str]):
        """The first utterance of ``batch``: its features and posteriors, reference and
        prediction."""
        frames = int(batch["lengths"][0])
        steps = int(output.lengths[0])
        labels = [BLANK_LABEL, *self.spec["characters"]]
        return ctc_posteriors_figure(
            batch["features"][0, :frames].detach().cpu().float(),
            output.log_probs[0, :steps].detach().cpu().float().exp(),
            labels,
            self.spec["frames_per_second"],
            reference=batch.get("transcripts", [None])[0],
            prediction=predictions[0],
        )

    @torch.no_grad()
    def predict_raw(self, batch: dict[str, Any], datamodule: Any, **options: Any) -> list[str]:
        """One line per audio file: ``<transcript>\\t<file>``.

        Options: ``method`` (greedy | beam; default ``model.decoder``), ``beam_size``,
        ``min_label_prob``.
        """
        options = dict(options)
        unknown = sorted(set(options) - {"method", "beam_size", "min_label_prob"})
        if unknown:
            raise ValueError(
                f"{unknown[0]}: not an option of speech prediction; expected method, "
                "beam_size or min_label_prob"
            )
        output = self(batch["features"], batch["lengths"])
        texts = self.transcribe(output, options.pop("method", None), **options)
        return [f"{text}\t{source}" for text, source in zip(texts, batch["sources"])]
