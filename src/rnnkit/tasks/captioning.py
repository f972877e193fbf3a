"""Image captioning: a CNN trained from scratch reads the image, a recurrent decoder writes."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchmetrics import MeanMetric

from rnnkit.figures.captioned_image import caption_figure
from rnnkit.metrics.bleu import bleu_by_order
from rnnkit.patterns.one_to_many import OneToMany
from rnnkit.patterns.seq2seq import Generation, Seq2SeqOutput
from rnnkit.patterns.teacher_forcing import TeacherForcingSchedule
from rnnkit.tasks.base import RecurrentTask
from rnnkit.tasks.image_encoder import ImageEncoder

SPLITS = ("train", "val", "test")


class ImageCaptioner(nn.Module):
    """:class:`ImageEncoder` regions -> :class:`~rnnkit.patterns.one_to_many.OneToMany`.

    Without attention the decoder is conditioned on the mean region vector ``(N, F)``; with
    attention it gets the regions ``(N, S, F)`` (and their mean for the condition).
    """

    def __init__(self, encoder: ImageEncoder, captioner: OneToMany) -> None:
        super().__init__()
        self.encoder = encoder
        self.captioner = captioner
        self.with_attention = captioner.decoder.attention is not None

    def features(self, images: Tensor) -> Tensor:
        regions = self.encoder(images)
        return regions if self.with_attention else regions.mean(dim=1)

    def forward(
        self,
        images: Tensor,
        caption_input: Tensor,
        teacher_forcing_ratio: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> Seq2SeqOutput:
        """``logits (N, T, V)`` and ``attention (N, T, S)`` (None without attention)."""
        return self.captioner(
            self.features(images), caption_input, teacher_forcing_ratio, generator=generator
        )

    @torch.no_grad()
    def generate(
        self, images: Tensor, method: str = "greedy", max_length: int = 20, **options: Any
    ) -> Generation:
        return self.captioner.generate(
            self.features(images), method=method, max_length=max_length, **options
        )


class CaptioningTask(RecurrentTask):
    """CNN image encoder -> ``OneToMany`` decoder (``model.attention``, ``model.condition``).

    Trained with cross entropy, teacher-forced with the ratio of ``model.teacher_forcing`` (a
    :class:`~rnnkit.patterns.teacher_forcing.TeacherForcingSchedule`, logged as
    ``train/teacher_forcing_ratio``). Validation and test decode greedily and report corpus
    BLEU-1..4 (:func:`~rnnkit.metrics.bleu.bleu_by_order`, on space-joined tokens) and exact
    match, beside the same BLEU of the order-blind baseline: the best constant caption fitted
    on train (``<split>/baseline_bleu1``, ``<split>/baseline_bleu4``). Each validation epoch
    logs generated vs reference captions and one captioned image (with per-word attention
    maps).
    """

    task = "captioning"

    def build_model(self, model: dict[str, Any], spec: dict[str, Any]) -> nn.Module:
        if self.hparams.cell.get("bidirectional"):
            raise ValueError(
                "cell.bidirectional: the caption decoder writes left to right and "
                "cannot be bidirectional; expected false, got true"
            )
        self.spec = dict(spec)
        schedule = dict(model.get("teacher_forcing") or {"kind": "constant", "start": 1.0})
        with _prefixed("model.teacher_forcing"):
            self.teacher_forcing = TeacherForcingSchedule(**schedule)
        self.max_caption_length = int(model.get("max_caption_length", 20))
        encoder = ImageEncoder(
            spec["image_channels"],
            list(model.get("encoder_channels", [32, 64])),
            int(model.get("feature_size", 64)),
            float(model.get("encoder_dropout", 0.0)),
        )
        self.grid_shape = encoder.grid_shape(spec["image_height"], spec["image_width"])
        condition = model.get("condition", "init")
        input_feeding = bool(model.get("input_feeding", True))
        embedding_dim = int(model["embedding_dim"])
        output_size = self.build_recurrent(1).output_size
        input_size = (
            embedding_dim
            + (encoder.feature_size if condition in ("input", "both") else 0)
            + (output_size if input_feeding else 0)
        )
        captioner = OneToMany(
            encoder.feature_size,
            self.build_recurrent(input_size),
            spec["vocab_size"],
            embedding_dim,
            condition=condition,
            attention=model.get("attention", "none"),
            attention_size=model.get("attention_size"),
            input_feeding=input_feeding,
            bos_index=spec["bos_index"],
            eos_index=spec["eos_index"],
            pad_index=spec["pad_index"],
            dropout=float(model.get("dropout", 0.0)),
        )
        bleu = bleu_by_order(range(1, 5))
        self.make_split_metrics(bleu)
        self.exact_match = nn.ModuleDict({f"{s}_metrics": MeanMetric() for s in SPLITS})
        baseline = bleu_by_order((1, 4), name="baseline_bleu")
        self.baseline_metrics = nn.ModuleDict(
            {f"{s}_metrics": baseline.clone(prefix=f"{s}/") for s in SPLITS}
        )
        return ImageCaptioner(encoder, captioner)

    def forward(
        self, images: Tensor, caption_input: Tensor, teacher_forcing_ratio: float = 1.0
    ) -> Seq2SeqOutput:
        return self.model(images, caption_input, teacher_forcing_ratio)

    def loss(self, logits: Tensor, caption_output: Tensor) -> Tensor:
        return F.cross_entropy(
            logits.transpose(1, 2), caption_output, ignore_index=self.spec["pad_index"]
        )

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> Tensor:
        ratio = self.teacher_forcing(int(self.global_step))
        output = self(batch["images"], batch["caption_input"], ratio)
        loss = self.loss(output.logits, batch["caption_output"])
        size = batch["images"].shape[0]
        self.log_loss("train", loss, size)
        self.log("train/teacher_forcing_ratio", ratio, batch_size=size)
        return loss

    def evaluate(self, batch: dict[str, Any], split: str) -> None:
        size = batch["images"].shape[0]
        output = self(batch["images"], batch["caption_input"], 1.0)
        self.log_loss(split, self.loss(output.logits, batch["caption_output"]), size)
        generation = self.model.generate(batch["images"], max_length=self.max_caption_length)
        datamodule = self.trainer.datamodule
        captions = [datamodule.decode_caption(row) for row in generation.tokens]
        references = batch["references"]
        self.metrics_for(split).update(captions, references)
        self.log_dict(self.metrics_for(split), prog_bar=split == "val", batch_size=size)
        exact = torch.tensor(
            [caption in refs for caption, refs in zip(captions, references)],
            dtype=torch.float32,
            device=self.device,
        )
        self.exact_match[f"{split}_metrics"].update(exact)
        self.log(
            f"{split}/exact_match",
            self.exact_match[f"{split}_metrics"],
            prog_bar=split == "val",
            batch_size=size,
        )
        constant = " ".join(getattr(datamodule, "constant_caption", []))
        if constant:
            baseline = self.baseline_metrics[f"{split}_metrics"]
            baseline.update([constant] * size, references)
            self.log_dict(baseline, batch_size=size)
        self.keep_validation_sample(split, batch, captions, generation)

    def on_validation_epoch_end(self) -> None:
        samples = self.take_validation_sample()
        if samples is None:
            return
        batch, captions, generation = samples
        rows = ["| generated | reference | exact |", "| --- | --- | --- |"]
        for caption, refs in list(zip(captions, batch["references"]))[:8]:
            rows.append(f"| {caption} | {refs[0]} | {'yes' if caption in refs else 'no'} |")
        self.log_text("val/samples", "\n".join(rows))
        image = self.trainer.datamodule.denormalise(batch["images"][0])
        attention = None if generation.attention is None else generation.attention[0]
        length = int(generation.lengths[0])
        self.log_figure(
            "val/captioned_image",
            caption_figure(
                image,
                captions[0].split(),
                None if attention is None else attention[: max(length - 1, 1)],
                self.grid_shape,
                reference=batch["references"][0][0],
            ),
        )

    @torch.no_grad()
    def predict_records(
        self, batch: dict[str, Any], datamodule: Any, **options: Any
    ) -> list[dict[str, Any]]:
        """``{"caption", "file"}`` per image.

        Options: ``method`` (greedy | beam | sample), ``max_length`` (default
        ``model.max_caption_length``), and the method's own options (``beam_size``,
        ``length_penalty``; ``temperature``, ``top_k``, ``top_p``, ``seed`` for sampling).
        """
        options = dict(options)
        seed = options.pop("seed", None)
        if seed is not None:
            if options.get("method") != "sample":
                raise ValueError(f"seed: only used by method=sample, got seed={seed!r}")
            options["generator"] = torch.Generator().manual_seed(int(seed))
        options.setdefault("max_length", self.max_caption_length)
        generation = self.model.generate(batch["images"], **options)
        return [
            {"caption": datamodule.decode_caption(tokens), "file": source}
            for tokens, source in zip(generation.tokens, batch["sources"])
        ]

    def format_prediction(self, record: dict[str, Any]) -> str:
        """``<caption><TAB><file>``."""
        return f"{record['caption']}\t{record['file']}"


@contextlib.contextmanager
def _prefixed(key: str) -> Iterator[None]:
    """Prefix a ValueError or TypeError raised inside with the config key it concerns."""
    try:
        yield
    except (ValueError, TypeError) as error:
        raise ValueError(
            f"{key}.{error}" if str(error)[:1].islower() else f"{key}: {error}"
        ) from None
