"""`RecurrentTask`: what every task's LightningModule shares."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from torch import nn

import rnnkit
from rnnkit.layers.recurrent import Recurrent
from rnnkit.tasks.building import (
    build_optimizer,
    build_recurrent,
    build_scheduler,
    check_optimization,
    locate,
)
from rnnkit.tasks.checkpoint_file import (
    CHECKPOINT_KEY,
    CheckpointError,
    check_entries,
    check_resumable,
    check_state_dict,
    read_checkpoint,
)
from rnnkit.tasks.pretrained_embeddings import (
    PretrainedEmbedding,
    coverage_record,
    load_pretrained,
    pretrained_embedding,
)

__all__ = ["CHECKPOINT_KEY", "RecurrentTask"]

log = logging.getLogger(__name__)

COMPILED_METHODS = ("loss", "loss_from_emissions")
"""The patterns' methods a training step calls besides ``forward`` (see
:meth:`RecurrentTask.compile_model`)."""


class RecurrentTask(pl.LightningModule):
    """A LightningModule around one rnnkit pattern.

    Every argument is plain data (dicts of numbers and strings), so checkpoints hold no
    pickled objects and load with ``torch.load(weights_only=True)``:

    Args:
        cell: the recurrent layer's config (``src/rnnkit/configs/cell/*.yaml``).
        model: the pattern's hyperparameters (``src/rnnkit/configs/model/*.yaml``).
        data_spec: sizes from the datamodule (vocabulary size, labels, ...).
        optimizer: a ``_partial_`` optimizer config, completed with the parameters here.
        scheduler: optional ``_partial_`` LR scheduler config, with optional ``monitor`` and
            ``interval`` keys for Lightning.
        data: the datamodule's config, kept so eval and predict can rebuild the data side.

    Subclasses set :attr:`task`, build their pattern in :meth:`build_model` and define the
    steps.

    ``optimizer._target_`` must name a ``torch.optim.Optimizer`` subclass and
    ``scheduler._target_`` an ``LRScheduler`` subclass, in ``torch`` or ``rnnkit`` (see
    :mod:`rnnkit.tasks.building`); anything else is refused here, before any training, so a
    checkpoint's stored config can never name code to run.
    """

    task: str = ""

    def __init__(
        self,
        cell: dict[str, Any],
        model: dict[str, Any],
        data_spec: dict[str, Any],
        optimizer: dict[str, Any],
        scheduler: dict[str, Any] | None = None,
        data: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        check_optimization(optimizer, scheduler)
        # The loggers get the run's comparable hparams from rnnkit-train, not these dicts.
        self.save_hyperparameters(logger=False)
        self.pretrained_embeddings: list[PretrainedEmbedding] = []
        self.embedding_coverage: dict[str, dict[str, Any]] = {}
        self._embeddings_started = False  # pretrained vectors copied in, or weights loaded
        self.model = self.build_model(dict(model), dict(data_spec))
        self.artifacts: dict[str, Any] = {}

    def build_model(self, model: dict[str, Any], spec: dict[str, Any]) -> nn.Module:
        raise NotImplementedError

    def build_recurrent(self, input_size: int, **overrides: Any) -> Recurrent:
        """The recurrent layer described by the ``cell`` config, batch-first."""
        return build_recurrent(dict(self.hparams.cell), input_size, **overrides)

    def word_embedding(
        self,
        embedding: nn.Embedding,
        config: Any,
        key: str = "model.embedding",
        vocabulary: str = "vocab",
        size_key: str = "model.embedding_dim",
    ) -> nn.Embedding:
        """Declare ``embedding`` as started from the pretrained vectors its ``key`` config
        (``{pretrained, freeze}``) names, for the words of ``datamodule.<vocabulary>``; frozen
        now if asked, filled when training starts (:meth:`on_fit_start`). Returns it."""
        entry = pretrained_embedding(config, key, embedding, vocabulary, size_key)
        self.pretrained_embeddings.append(entry)
        return embedding

    def on_fit_start(self) -> None:
        """Copy in the pretrained word vectors (:mod:`rnnkit.tasks.pretrained_embeddings`),
        unless the weights came from a checkpoint (resumed or loaded)."""
        if self._embeddings_started or self.trainer.ckpt_path:
            return
        datamodule = getattr(self.trainer, "datamodule", None)
        for entry in self.pretrained_embeddings:
            if entry.pretrained is None:
                continue
            vectors = load_pretrained(entry, datamodule)
            self.embedding_coverage[entry.key] = coverage_record(vectors)
            if self.trainer.is_global_zero:
                log.info("%s: %s", entry.key, vectors.coverage())
        self._embeddings_started = True

    def compile_model(self, **options: Any) -> None:
        """Compile what the training step computes: the pattern's ``forward`` and its loss
        methods (``loss``, ``loss_from_emissions``), with ``torch.compile(**options)``
        (``compile: true`` in the run config); backward is compiled with them (AOT autograd).
        Logging and metrics stay eager. The fused kernel runs eagerly between compiled graphs
        (see :class:`rnnkit.Recurrent`); other cells are compiled step by step and specialise
        on each padded length they meet. Parameter names and checkpoints are unchanged."""
        self.model.compile(**options)
        for name in COMPILED_METHODS:
            method = getattr(self.model, name, None)
            if method is not None:
                setattr(self.model, name, torch.compile(method, **options))

    # ---- metrics ------------------------------------------------------------------------

    def make_split_metrics(self, metrics: Any) -> None:
        """One copy of a torchmetrics ``MetricCollection`` per split, logged ``<split>/<name>``."""
        # "train" cannot be a ModuleDict key: it would shadow nn.Module.train.
        self.split_metrics = nn.ModuleDict(
            {
                f"{split}_metrics": metrics.clone(prefix=f"{split}/")
                for split in ("train", "val", "test")
            }
        )

    def metrics_for(self, split: str) -> Any:
        return self.split_metrics[f"{split}_metrics"]

    def log_loss(self, split: str, loss: torch.Tensor, batch_size: int) -> None:
        """Log ``loss`` under the one name every task uses: ``<split>/loss``.

        ``train/loss`` is the loss of every training step (on the progress bar); ``val/loss``
        and ``test/loss`` are the mean over the whole split (weighted by ``batch_size``), once
        per epoch and averaged across DDP processes (``sync_dist``), so every rank sees, and
        checkpoints and stops on, the same value.
        """
        if split == "train":
            self.log(
                "train/loss",
                loss,
                on_step=True,
                on_epoch=False,
                prog_bar=True,
                batch_size=batch_size,
            )
        else:
            self.log(
                f"{split}/loss",
                loss,
                on_step=False,
                on_epoch=True,
                prog_bar=split == "val",
                batch_size=batch_size,
                sync_dist=True,
            )

    # ---- evaluation --------------------------------------------------------------------

    def evaluate(self, batch: Any, split: str) -> Any:
        """Loss and metrics of one batch of ``split`` (``"val"``, ``"test"``; tasks may use it
        for ``"train"`` too), logged under ``split/``."""
        raise NotImplementedError

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self.evaluate(batch, "val")

    def test_step(self, batch: Any, batch_idx: int) -> None:
        self.evaluate(batch, "test")

    # ---- optimisation ------------------------------------------------------------------

    def configure_optimizers(self) -> Any:
        optimizer = build_optimizer(dict(self.hparams.optimizer), self.parameters())
        if not self.hparams.scheduler:
            return optimizer
        scheduler, lightning_keys = build_scheduler(dict(self.hparams.scheduler), optimizer)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, **lightning_keys}}

    def configure_gradient_clipping(
        self,
        optimizer: Any,
        gradient_clip_val: float | None = None,
        gradient_clip_algorithm: str | None = None,
    ) -> None:
        """Lightning's clipping, then ``on_after_gradient_clipping(trainer, task, optimizer)``
        on every callback that defines it (e.g. :class:`rnnkit.callbacks.GradientNormCallback`,
        which logs the gradient norms after clipping)."""
        self.clip_gradients(
            optimizer,
            gradient_clip_val=gradient_clip_val,
            gradient_clip_algorithm=gradient_clip_algorithm,
        )
        for callback in self.trainer.callbacks:
            notify = getattr(callback, "on_after_gradient_clipping", None)
            if callable(notify):
                notify(self.trainer, self, optimizer)

    # ---- checkpoint contents -----------------------------------------------------------

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        datamodule = getattr(self.trainer, "datamodule", None) if self._trainer else None
        if datamodule is not None:
            self.artifacts = datamodule.artifacts()
        checkpoint[CHECKPOINT_KEY] = {
            "task": self.task,
            "task_class": f"{type(self).__module__}.{type(self).__qualname__}",
            "artifacts": self.artifacts,
            "version": rnnkit.__version__,
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Check the checkpoint fits before Lightning loads it (``trainer.fit(ckpt_path=...)``,
        ``trainer.test(ckpt_path=...)``): weights of this model's names and shapes and, to
        resume training, the training state; else one :class:`CheckpointError` line."""
        source = self._trainer.ckpt_path if self._trainer is not None else None
        if source:  # a Trainer restoring a file (from_checkpoint checks its own loads)
            check_state_dict(checkpoint.get("state_dict") or {}, self.state_dict(), source)
            if self.trainer.state.fn == "fit":
                check_resumable(checkpoint, source)
        self.artifacts = checkpoint.get(CHECKPOINT_KEY, {}).get("artifacts", {})
        self._embeddings_started = True  # the checkpoint's embeddings, not the vectors file

    # ---- loading -----------------------------------------------------------------------

    @classmethod
    def load_from_checkpoint(  # type: ignore[override]
        cls,
        checkpoint_path: str | Path,
        map_location: str | torch.device | None = None,
        hparams_file: Any = None,
        strict: bool | None = None,
        weights_only: bool | None = True,
        **overrides: Any,
    ) -> RecurrentTask:
        """The task saved in ``checkpoint_path``, loaded as data (Lightning's entry, made safe).

        The file is read with ``torch.load(weights_only=True)``; the task class, optimizer and
        scheduler it names are imported only if allow-listed (:mod:`rnnkit.tasks.building`).
        Called on a subclass, the checkpoint must hold that task. ``overrides`` replace stored
        constructor arguments, as in Lightning.

        Raises:
            FileNotFoundError: no file at ``checkpoint_path``.
            CheckpointError: an unusable file (its one line names the file and the problem).
            ValueError: ``hparams_file`` or ``weights_only=False``, which rnnkit does not offer.
        """
        if hparams_file is not None:
            raise ValueError(
                "hparams_file: not supported; rnnkit keeps the config in the checkpoint"
            )
        if weights_only is False:
            raise ValueError("weights_only: rnnkit reads checkpoints with weights_only=True only")
        task = cls.from_checkpoint(
            read_checkpoint(checkpoint_path),
            checkpoint_path,
            strict=strict is not False,
            **overrides,
        )
        return task.to(map_location) if isinstance(map_location, (str, torch.device)) else task

    @classmethod
    def from_checkpoint(
        cls,
        checkpoint: dict[str, Any],
        source: str | Path = "checkpoint",
        strict: bool = True,
        **overrides: Any,
    ) -> RecurrentTask:
        """The task of an already loaded ``checkpoint`` dict (named ``source`` in errors), its
        weights and fitted data artifacts restored; in training mode, as Lightning returns it.
        """
        check_entries(checkpoint, source)
        info = checkpoint[CHECKPOINT_KEY]
        try:
            task_class = locate(
                info.get("task_class"), RecurrentTask, f"{CHECKPOINT_KEY}.task_class", field=""
            )
            if not issubclass(task_class, cls):
                raise ValueError(
                    f"{CHECKPOINT_KEY}.task_class: holds a {task_class.__name__}, "
                    f"not a {cls.__name__}"
                )
            task = task_class(**{**checkpoint["hyper_parameters"], **overrides})
        except (ValueError, TypeError) as error:
            raise CheckpointError(f"checkpoint {source}: {error}") from None
        if strict:
            check_state_dict(checkpoint["state_dict"], task.state_dict(), source)
        task.on_load_checkpoint(checkpoint)
        task.load_state_dict(checkpoint["state_dict"], strict=strict)
        return task

    # ---- prediction on raw input -------------------------------------------------------

    @torch.no_grad()
    def predict_records(
        self, batch: dict[str, Any], datamodule: Any, **options: Any
    ) -> list[dict[str, Any]]:
        """One JSON-able record (plain strings, numbers, lists) per prediction for a batch made
        by ``datamodule.batch_from_raw``: what ``rnnkit-predict output_format=jsonl`` writes."""
        raise NotImplementedError

    def format_prediction(self, record: dict[str, Any]) -> str:
        """A record of :meth:`predict_records` as the text ``rnnkit-predict`` prints (one line,
        or several for a table)."""
        raise NotImplementedError

    def predict_raw(self, batch: dict[str, Any], datamodule: Any, **options: Any) -> list[str]:
        """Human-readable predictions for a batch made by ``datamodule.batch_from_raw``."""
        records = self.predict_records(batch, datamodule, **options)
        return [self.format_prediction(record) for record in records]

    def data_baseline(self, method: str) -> Any:
        """``trainer.datamodule.<method>()``: the classical baseline the data fits on its
        training split (docs/tracking.md); None without a Trainer, a datamodule, that method,
        or a baseline it can fit, and under ``fast_dev_run`` (which logs nothing: the fit,
        up to a minute for speech's HMMs, would be the smoke run's longest step)."""
        if self._trainer is not None and self.trainer.fast_dev_run:
            return None
        datamodule = getattr(self.trainer, "datamodule", None) if self._trainer else None
        fit = getattr(datamodule, method, None)
        return None if fit is None else fit()

    # ---- TensorBoard helpers (no-ops for other loggers) --------------------------------

    def keep_validation_sample(self, split: str, *sample: Any) -> None:
        """Keep the first validation batch's data for the epoch-end text samples and figures."""
        if split == "val" and "_validation_sample" not in self.__dict__:
            self._validation_sample = sample

    def take_validation_sample(self) -> tuple[Any, ...] | None:
        """The kept sample (and forget it); None during Lightning's sanity check or if none."""
        sample = self.__dict__.pop("_validation_sample", None)
        return None if self.trainer.sanity_checking else sample

    def tensorboard(self):
        """The SummaryWriter of the first TensorBoard logger, or None."""
        for logger in self.loggers:
            experiment = getattr(logger, "experiment", None)
            if experiment is not None and hasattr(experiment, "add_figure"):
                return experiment
        return None

    def log_text(self, tag: str, text: str) -> None:
        writer = self.tensorboard()
        if writer is not None:
            writer.add_text(tag, text, global_step=self.global_step)

    def log_figure(self, tag: str, figure) -> None:
        writer = self.tensorboard()
        if writer is not None:
            writer.add_figure(tag, figure, global_step=self.global_step, close=True)
        else:
            import matplotlib.pyplot as plt

            plt.close(figure)
