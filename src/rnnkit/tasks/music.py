"""Polyphonic music: model piano rolls one step at a time, then compose new pieces."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torchmetrics import MetricCollection

from rnnkit.data.music.midi import write_midi
from rnnkit.data.music.piano_roll import pitches_from_roll
from rnnkit.figures.piano_roll import piano_roll_figure, pitch_name
from rnnkit.metrics.frame_accuracy import FrameAccuracy
from rnnkit.metrics.perplexity import TokenNLL
from rnnkit.patterns._sequence import mask_from_lengths
from rnnkit.patterns.piano_roll import PianoRollModel
from rnnkit.tasks.base import RecurrentTask

SPLITS = ("train", "val", "test")
GENERATION_OPTIONS = ("steps", "temperature", "seed", "output_file", "tempo")


class MusicTask(RecurrentTask):
    """Piano rolls in, one Bernoulli per key and step out (:class:`PianoRollModel`).

    Each step predicts which of the 88 keys sound from the steps before it; the loss is the
    benchmarks' negative log-likelihood per time step: the binary cross-entropy summed over
    the keys, averaged over the steps (nats). ``model`` keys: ``dropout`` (on the recurrent
    outputs), ``input_dropout`` (on the previous frame), ``sample_steps`` and
    ``sample_temperature`` (the piece composed at each validation epoch's end).

    Metrics per split, over the whole split: ``<split>/nll`` (nats per time step),
    ``<split>/frame_acc`` (``TP / (TP + FP + FN)`` over all frames, a key predicted on when its
    probability exceeds 0.5, Boulanger-Lewandowski et al. 2012), ``<split>/loss`` (the NLL of
    each batch, averaged by steps); for val and test also the order-blind baseline
    ``<split>/independent_nll``: each key an independent Bernoulli at its training frequency.
    TensorBoard gets, each validation epoch, a validation piece's roll above the model's
    probabilities and a piece composed from nothing.
    """

    task = "music"
    # rnnkit-predict output_file= is the MIDI file this task composes, not its printed lines.
    writes_output_file = True

    def build_model(self, model: dict[str, Any], spec: dict[str, Any]) -> nn.Module:
        if self.hparams.cell.get("bidirectional"):
            raise ValueError(
                "cell.bidirectional: a music model predicts each step from the steps before it "
                "(a backward direction would see the step to predict); expected false, got true"
            )
        self.num_keys = int(spec["num_keys"])
        self.lowest_pitch = int(spec["lowest_pitch"])
        self.steps_per_beat = int(spec.get("steps_per_beat", 1))
        self.sample_steps = int(model.get("sample_steps", 64))
        self.sample_temperature = float(model.get("sample_temperature", 1.0))
        self.make_split_metrics(MetricCollection({"nll": TokenNLL(), "frame_acc": FrameAccuracy()}))
        self.baseline_metrics = nn.ModuleDict({f"{s}_metrics": TokenNLL() for s in SPLITS})
        return PianoRollModel(
            self.build_recurrent(self.num_keys),
            self.num_keys,
            dropout=float(model.get("dropout", 0.0)),
            input_dropout=float(model.get("input_dropout", 0.0)),
        )

    def forward(self, rolls: Tensor, lengths: Tensor | None = None) -> Tensor:
        """Logits ``(N, L, 88)`` of every step of ``rolls (N, L, 88)`` given the steps before."""
        return self.model(rolls, lengths)[0]

    def evaluate(self, batch: dict[str, Any], split: str) -> Tensor:
        rolls, lengths = batch["rolls"], batch["lengths"]
        logits = self(rolls, lengths)
        nll = self.model.step_nll(logits, rolls, lengths)
        mask = mask_from_lengths(lengths, rolls.shape[1])
        steps = int(lengths.sum())
        loss = nll.sum() / steps
        metrics = self.metrics_for(split)
        metrics["nll"].update(nll.detach(), mask)
        metrics["frame_acc"].update(logits.detach() > 0, rolls, mask)
        self.log(f"{split}/loss", loss, prog_bar=split == "train", batch_size=steps)
        self.log_dict(
            metrics, on_step=False, on_epoch=True, prog_bar=split == "val", batch_size=steps
        )
        if split != "train":
            self._log_baseline(rolls, mask, split, steps)
            self.keep_validation_sample(split, rolls[0, : lengths[0]], logits[0, : lengths[0]])
        return loss

    def _log_baseline(self, rolls: Tensor, mask: Tensor, split: str, steps: int) -> None:
        datamodule = getattr(self.trainer, "datamodule", None) if self._trainer else None
        if datamodule is None or not hasattr(datamodule, "key_probabilities"):
            return
        p = datamodule.key_probabilities().to(rolls)
        nll = -(rolls * p.log() + (1 - rolls) * (1 - p).log()).sum(-1)
        baseline = self.baseline_metrics[f"{split}_metrics"]
        baseline.update(nll, mask)
        self.log(
            f"{split}/independent_nll", baseline, on_step=False, on_epoch=True, batch_size=steps
        )

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> Tensor:
        return self.evaluate(batch, "train")

    def on_validation_epoch_end(self) -> None:
        sample = self.take_validation_sample()
        if sample is None or self.tensorboard() is None:
            return
        roll, logits = sample
        self.log_figure(
            "val/piano_roll",
            piano_roll_figure(
                roll.cpu().numpy(),
                self.lowest_pitch,
                probabilities=torch.sigmoid(logits.float()).cpu().numpy(),
                title="a validation piece (top) and the model's probabilities (bottom)",
                steps_per_beat=self.steps_per_beat,
            ),
        )
        generated = self.compose(self.sample_steps, temperature=self.sample_temperature, seed=0)
        self.log_figure(
            "val/generated",
            piano_roll_figure(
                generated[0].cpu().numpy(),
                self.lowest_pitch,
                title=f"composed from nothing (temperature {self.sample_temperature:g})",
                steps_per_beat=self.steps_per_beat,
            ),
        )

    # ---- generation --------------------------------------------------------------------

    @torch.no_grad()
    def compose(
        self,
        steps: int,
        seed_roll: Tensor | None = None,
        temperature: float = 1.0,
        seed: int | None = None,
    ) -> Tensor:
        """``(N, S + steps, 88)``: ``seed_roll (N, S, 88)`` (or nothing) and ``steps`` sampled
        frames after it; ``seed`` makes the draws reproducible."""
        generator = None
        if seed is not None:
            generator = torch.Generator(device=self.device).manual_seed(int(seed))
        was_training = self.training
        self.eval()
        try:
            seed_roll = None if seed_roll is None else seed_roll.to(self.device)
            return self.model.sample(steps, seed_roll, temperature, generator)
        finally:
            self.train(was_training)

    @torch.no_grad()
    def predict_raw(self, batch: dict[str, Any], datamodule: Any, **options: Any) -> list[str]:
        """Compose a piece after the batch's seed (``rolls (1, S, 88)``, ``S = 0``: from
        nothing), write it as a MIDI file and describe it in one line.

        Options: ``steps`` (64), ``temperature`` (1.0), ``seed`` (reproducible draws),
        ``output_file`` (``generated.mid``), ``tempo`` (beats per minute of the file, 100).
        """
        unknown = sorted(set(options) - set(GENERATION_OPTIONS))
        if unknown:
            raise ValueError(
                f"{unknown[0]}: not a music generation option; expected some of "
                f"{GENERATION_OPTIONS}"
            )
        steps = options.get("steps", 64)
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise ValueError(f"steps: expected a positive integer, got {steps!r}")
        temperature = options.get("temperature", 1.0)
        if (
            isinstance(temperature, bool)
            or not isinstance(temperature, (int, float))
            or temperature <= 0
        ):
            raise ValueError(f"temperature: expected a number > 0, got {temperature!r}")
        tempo = options.get("tempo", 100)
        if isinstance(tempo, bool) or not isinstance(tempo, (int, float)) or tempo <= 0:
            raise ValueError(f"tempo: expected beats per minute above 0, got {tempo!r}")
        output = Path(str(options.get("output_file") or "generated.mid"))
        if output.suffix.lower() not in (".mid", ".midi"):
            raise ValueError(f"output_file: expected a .mid file name, got {str(output)!r}")
        seed_roll = batch["rolls"][:1]
        roll = self.compose(steps, seed_roll, float(temperature), options.get("seed"))[0]
        roll = roll.cpu().numpy()
        write_midi(roll, output, self.steps_per_beat, tempo_bpm=float(tempo))
        pitches = [p for step in pitches_from_roll(roll) for p in step]
        seeded = seed_roll.shape[1]
        where = f"after the seed {batch['names'][0]} ({seeded} steps)" if seeded else "from nothing"
        span = f"{pitch_name(min(pitches))}-{pitch_name(max(pitches))}" if pitches else "silence"
        return [
            f"wrote {output}: {steps} steps composed {where}, {roll.shape[0]} in all, "
            f"{roll.sum(axis=1).mean():.1f} keys per step, {span}"
        ]
