"""The datamodule contract every rnnkit dataset follows."""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import os
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.utilities import rank_zero_only
from torch.utils.data import DataLoader, Dataset, Subset
from tqdm.auto import tqdm

from rnnkit.data.io.parallel_encoding import default_workers, map_chunks
from rnnkit.data.io.prepared_cache import Columns, PreparedCache, cache_key, to_columns
from rnnkit.data.io.sharded_batches import ShardedBatches, ShardedBatchLoader
from rnnkit.data.io.streamed_split import Export, StreamedSplit

BASELINE_MAX_EXAMPLES = 200_000
"""The most training examples a classical baseline that grows with its data (logistic
regression, a word translation table) is fitted on: SST-2 and Multi30k are whole below it."""

SPLITS = ("train", "val", "test")
log = logging.getLogger(__name__)
# Our loaders are iterables of ready batches with a length; they share batches out to worker
# processes themselves (ShardedBatches, StreamBatches), which Lightning cannot know.
warnings.filterwarnings("ignore", message=r"Your `IterableDataset` has `__len__` defined")

# Attributes that shape batches or loaders but not the prepared arrays: changing them reuses
# the cache (see RnnkitDataModule.preparation_settings).
LOADING_SETTINGS = frozenset(
    {
        "batch_size",
        "eval_batch_size",
        "num_workers",
        "cache_dir",
        "rebuild_cache",
        "prepare_workers",
        "stream_from",
        "stream_options",
        "fitted",
        "datasets",
        "preparation",
        "trainer",  # None until Lightning attaches one: a set-up before it must find the cache
    }
)


class RnnkitDataModule(pl.LightningDataModule):
    """Base class: raw splits in, padded tensor batches out, fitted state as JSON.

    A subclass reads raw examples (:meth:`load_split`), fits what it learns from data on the
    training split only (:meth:`fit_artifacts`: vocabularies, label maps, scalers), encodes
    examples (:meth:`encode`) and pads them into batches (:meth:`collate`). It tells the task
    the sizes the model needs through :attr:`spec` (vocabulary size, number of labels, ...),
    so nobody writes them in YAML.

    Everything fitted is returned by :meth:`artifacts` as plain JSON-able data and restored by
    :meth:`load_artifacts`; checkpoints carry it, so eval and predict reuse the training
    vocabulary exactly.

    ``task`` names the task this data is for; a checkpoint of another task is refused.

    **Prepare once, read mapped.** A subclass that reads files (:meth:`source_files`) and
    encodes examples into flat fields (:meth:`encoded_fields`) is prepared once per input files
    and settings into ``cache_dir`` (see :mod:`rnnkit.data.io.prepared_cache`): the raw
    examples stream through fitting and encoding (in ``prepare_workers`` processes), the
    encoded splits are written as flat arrays, and every later run with the same files and
    settings memory-maps them and starts at once. ``rebuild_cache=True`` prepares again
    regardless. Without a ``cache_dir``, or for built-in data, splits are kept in memory.

    Batches are dealt by :class:`~rnnkit.data.io.sharded_batches.ShardedBatches`: under DDP the
    ranks together read every example exactly once per epoch.

    **Stream from an export.** With ``stream_from`` (a folder or fsspec URL written by
    :func:`~rnnkit.data.io.parquet_export.export_prepared`, e.g. ``s3://bucket/prefix``) no
    file is read and nothing is prepared: the fitted state comes from the export's
    ``artifacts.json`` and every split is a :class:`~rnnkit.data.io.streamed_split.StreamedSplit`
    whose Parquet shards stream as batches are made, each DDP process reading its own share
    (see :mod:`rnnkit.data.io.streamed_split`). ``stream_options`` are the fsspec storage
    options of the URL. Every subclass gets both through :meth:`from_config`, whatever its own
    arguments; streamed loaders use no worker processes.
    """

    task: str = ""
    # Raw examples per preparation chunk (one unit of work for an encoding process); a
    # datamodule whose raw examples are large (pieces of a text file) sets fewer.
    prepare_chunk: int = 4096
    # Whether encoding reads the fitted artifacts (vocabularies, label maps): then a datamodule
    # restored from a checkpoint reads the training run's cache only when it fitted the same
    # ones, and otherwise prepares its own, keyed by them as well; False: it reads the run's.
    encoding_uses_artifacts: bool = True

    def __init__(
        self,
        batch_size: int = 32,
        num_workers: int = 0,
        seed: int = 0,
        cache_dir: str | os.PathLike | None = None,
        rebuild_cache: bool = False,
        prepare_workers: int | None = None,
        stream_from: str | os.PathLike | None = None,
        stream_options: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size: expected a positive integer, got {batch_size!r}")
        if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0:
            raise ValueError(f"num_workers: expected an integer >= 0, got {num_workers!r}")
        if prepare_workers is not None and (
            isinstance(prepare_workers, bool)
            or not isinstance(prepare_workers, int)
            or prepare_workers < 0
        ):
            raise ValueError(
                f"prepare_workers: expected an integer >= 0 or null (one per core), "
                f"got {prepare_workers!r}"
            )
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.seed = seed
        self.cache_dir = None if cache_dir in (None, "") else Path(cache_dir)
        self.rebuild_cache = bool(rebuild_cache)
        self.prepare_workers = prepare_workers
        self.stream_from = None if stream_from in (None, "") else str(stream_from)
        self.stream_options = dict(stream_options or {})
        self.fitted = False
        self.datasets: dict[str, Dataset | list[Any]] = {}
        # What the last preparation counted (examples, unknown tokens, ...), for the summary.
        self.preparation: dict[str, Any] = {}
        self._rebuilt = False
        # The prepared cache, chosen by the first call of _cache (see there).
        self._chosen_cache: PreparedCache | None = None
        self._cache_chosen = False

    @classmethod
    def from_config(cls, **arguments: Any) -> RnnkitDataModule:
        """``cls(**arguments)``, with ``stream_from`` and ``stream_options`` taken out of the
        arguments and set afterwards: so any subclass streams, whichever arguments it
        forwards to this class."""
        stream_from = arguments.pop("stream_from", None)
        stream_options = arguments.pop("stream_options", None)
        datamodule = cls(**arguments)
        datamodule.stream_from = None if stream_from in (None, "") else str(stream_from)
        datamodule.stream_options = dict(stream_options or {})
        return datamodule

    # ---- what a subclass defines -------------------------------------------------------

    def load_split(self, split: str) -> Iterable[Any]:
        """Raw examples of ``split`` (one of train, val, test); a generator keeps memory flat."""
        raise NotImplementedError

    def fit_artifacts(self, train_examples: Iterable[Any]) -> None:
        """Learn vocabularies / label maps / scalers from the training examples only (one
        pass over ``train_examples``, which may be a generator)."""
        raise NotImplementedError

    def artifacts(self) -> dict[str, Any]:
        """What :meth:`fit_artifacts` learned, as JSON-able data."""
        raise NotImplementedError

    def load_artifacts(self, artifacts: dict[str, Any]) -> None:
        """Restore what :meth:`artifacts` returned; marks the module fitted."""
        raise NotImplementedError

    def encode(self, example: Any) -> Any:
        """One raw example to what :meth:`collate` consumes."""
        raise NotImplementedError

    def collate(self, examples: list[Any]) -> dict[str, Any]:
        """A list of encoded examples to a batch dict of tensors."""
        raise NotImplementedError

    def collate_training(self, examples: list[Any]) -> dict[str, Any]:
        """A training batch: :meth:`collate`'s, unless a subclass batches training data
        otherwise."""
        return self.collate(examples)

    @property
    def spec(self) -> dict[str, Any]:
        """Sizes the model needs from the data (available once fitted)."""
        raise NotImplementedError

    # ---- what a subclass defines to be prepared once (optional) ---------------------------

    def source_files(self) -> list[Path]:
        """The files :meth:`load_split` reads (their identities key the prepared cache); none:
        nothing is cached."""
        return []

    def encoded_fields(self) -> dict[str, tuple[Any, bool]] | None:
        """Once fitted: each field of an encoded example as ``(numpy dtype, variable
        length)``, e.g. ``{"tokens": (np.uint16, True), "label": (np.int64, False)}``; None:
        the encoded examples are not flat fields and stay in memory."""
        return None

    def split_aliases(self) -> dict[str, str]:
        """Splits that are another split's examples, e.g. ``{"test": "val"}`` when there is no
        held-out test data: prepared and held once, served under both names."""
        return {}

    def encode_counts(self, example: Any, counts: Counter) -> Any:
        """:meth:`encode`, also adding to ``counts`` what is worth reporting (such as
        ``unknown_tokens``); the default counts nothing."""
        return self.encode(example)

    def preparation_settings(self) -> dict[str, Any]:
        """What the prepared arrays depend on besides the files: by default every plain
        attribute (numbers, strings, lists of them) but :data:`LOADING_SETTINGS`."""
        return {
            name: value
            for name, value in sorted(vars(self).items())
            if not name.startswith("_") and name not in LOADING_SETTINGS and _plain(value)
        }

    def parse_raw(self, raw: str) -> list[Any]:
        """Raw user input (a sentence, a file path, ...) to raw examples, for prediction."""
        raise NotImplementedError

    def fitted_baseline(
        self, name: str, fit: Callable[[Any], Any], max_examples: int | None = None
    ) -> Any:
        """A classical baseline of the task, ``fit(training split)``, fitted on first use and
        kept under ``name`` (a private attribute: not a preparation setting); None before
        set-up, or when the training split streams from an export (no process holds its
        arrays), or when ``fit`` finds nothing to fit (then not tried again).

        With ``max_examples``, a larger training split is sampled down to that many examples,
        evenly spaced through it, so a baseline's cost stays bounded at any data size."""
        train = self.datasets.get("train")
        if train is None or isinstance(train, StreamedSplit):
            return None
        baselines = self.__dict__.setdefault("_baselines", {})
        if name not in baselines:
            if max_examples is not None and len(train) > max_examples:
                train = Subset(train, evenly_spaced(len(train), max_examples))
            baselines[name] = fit(train)
        return baselines[name]

    def summary(self) -> dict[str, Any]:
        """A few lines for the run's opening summary: sizes, vocabularies, label scheme."""
        sizes = {f"{split}_examples": len(data) for split, data in self.datasets.items()}
        counts = self.preparation.get("counts", {})
        return {**sizes, **self.spec, **counts}

    # ---- shared machinery --------------------------------------------------------------

    def prepare_data(self) -> None:
        """Prepare the cache once, on one process per node (Lightning calls this before
        :meth:`setup` on rank 0 and waits for it under DDP)."""
        if self.streamed:
            return
        cache = self._cache()
        if cache is not None and (not cache.complete or (self.rebuild_cache and not self._rebuilt)):
            self._prepare(cache)

    @property
    def streamed(self) -> bool:
        """Whether the splits stream from an export (``stream_from``)."""
        return getattr(self, "stream_from", None) is not None

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        if self.streamed:
            self._setup_streamed()
            return
        cache = self._cache()
        aliases = self.split_aliases()
        if cache is None:
            raw = {split: list(self.load_split(split)) for split in SPLITS if split not in aliases}
            if not self.fitted:
                self.fit_artifacts(raw["train"])
                self.fitted = True
            self.datasets = {
                split: [self.encode(e) for e in examples] for split, examples in raw.items()
            }
            for split, target in aliases.items():
                self.datasets[split] = self.datasets[target]
            self.datasets = {split: self.datasets[split] for split in SPLITS}
            return
        # Before a Trainer is attached (rnnkit-train sets up first), a DDP process launched by
        # Lightning knows its rank from the environment, which rank_zero_only has read.
        trainer = getattr(self, "trainer", None)
        first_rank = (trainer.global_rank if trainer is not None else rank_zero_only.rank) == 0
        if not cache.complete or (self.rebuild_cache and first_rank and not self._rebuilt):
            self._prepare(cache)
        elif not self.fitted:
            self.load_artifacts(cache.artifacts())
            self.fitted = True
        self.preparation = {"folder": str(cache.folder), **_report(cache.manifest())}
        self.datasets = cache.splits()

    def _setup_streamed(self) -> None:
        """Fitted state from the export's artifacts, splits streamed from its shards."""
        streaming = None if self.cache_dir is None else self.cache_dir / "streaming"
        export = Export(self.stream_from, self.stream_options, cache_dir=streaming)
        manifest = export.manifest
        cls = type(self)
        name = f"{cls.__module__}.{cls.__qualname__}"
        if manifest.get("datamodule") != name:
            raise ValueError(
                f"data.stream_from: {export.url} was exported from "
                f"{manifest.get('datamodule')}, not {name}"
            )
        artifacts = export.artifacts()
        if not self.fitted:
            self.load_artifacts(artifacts)
            self.fitted = True
        elif _json(self.artifacts()) != _json(artifacts):
            raise ValueError(
                f"data.stream_from: {export.url} was encoded with other vocabularies or label "
                f"maps than this checkpoint's"
            )
        settings = _json(self.preparation_settings())
        exported = _json(manifest.get("settings", {}))
        differing = sorted(
            k for k in set(settings) | set(exported) if settings.get(k) != exported.get(k)
        )
        if differing:
            log.warning(
                "%s was prepared with other settings than this config's (%s); the export's apply",
                export.url,
                ", ".join(differing),
            )
        missing = [split for split in SPLITS if split not in manifest["splits"]]
        if missing:
            raise ValueError(f"data.stream_from: {export.url} holds no {missing[0]!r} split")
        self.preparation = {"stream_from": export.url, **_report(manifest)}
        self.datasets = {split: export.split(split) for split in SPLITS}

    # ---- preparation ---------------------------------------------------------------------

    def _cache(self) -> PreparedCache | None:
        """This run's prepared cache (None: kept in memory), chosen once: fitting, or loading
        the cache's artifacts, changes the settings (vocabularies, learned labels), which must
        not send a later call (Lightning's prepare_data after a set-up, at fit and at test) to
        another key and prepare everything again."""
        if not self._cache_chosen:
            self._chosen_cache = self._choose_cache()
            self._cache_chosen = True
        return self._chosen_cache

    def _choose_cache(self) -> PreparedCache | None:
        if self.cache_dir is None or type(self).encoded_fields is RnnkitDataModule.encoded_fields:
            return None
        files = self.source_files()
        if not files:
            return None
        settings = self.preparation_settings()
        name = type(self).__name__
        if self.fitted:
            # Restored from a checkpoint: its vocabularies encode. The cache a training run on
            # the same files and settings prepared holds exactly that when it fitted the same
            # ones (evaluating the run's own checkpoint); otherwise another key is prepared.
            unfitted = getattr(self, "_unfitted_settings", settings)
            trained = PreparedCache(self.cache_dir, name, cache_key(name, unfitted, files))
            if not self.encoding_uses_artifacts:  # any fitted state encodes alike
                return trained
            if trained.complete and _json(trained.artifacts()) == _json(self.artifacts()):
                return trained
            settings = {**settings, "artifacts": self.artifacts()}
        return PreparedCache(self.cache_dir, name, cache_key(name, settings, files))

    def _prepare(self, cache: PreparedCache) -> None:
        # The objects alive now (imported modules: hundreds of thousands) are left out of the
        # garbage collector's full collections while preparation makes and drops millions of
        # examples, which would otherwise walk them again and again (half of the time spent
        # reading a large table); forked encoding workers inherit this, sharing more pages.
        gc.freeze()
        try:
            self._prepare_splits(cache)
        finally:
            gc.unfreeze()

    def _prepare_splits(self, cache: PreparedCache) -> None:
        workers = default_workers() if self.prepare_workers is None else self.prepare_workers
        if not self.fitted:
            self.fit_prepared(workers)
            self.fitted = True
        fields = self.encoded_fields()
        aliases = self.split_aliases()
        totals: dict[str, int] = {}
        with cache.writing() as writer:
            for split in SPLITS:
                if split in aliases:
                    continue
                split_writer = writer.split(split, fields)
                with self._progress_bar(f"encode {split}") as bar:
                    for columns, count, counts in self.map_split(split, self.encode_chunk, workers):
                        split_writer.write_columns(columns, count)
                        bar.update(count)
                        for key, value in counts.items():
                            totals[f"{split}_{key}"] = totals.get(f"{split}_{key}", 0) + value
            writer.finish(self.artifacts(), {"counts": totals}, aliases)
        self._rebuilt = True
        log.info("prepared %s into %s", type(self).__name__, cache.folder)

    def fit_prepared(self, workers: int) -> None:
        """Fit when preparing into the cache, with ``workers`` processes to spare; by default
        :meth:`fit_artifacts` of the training examples, here. A datamodule that can fit from
        chunks counted in workers (:meth:`map_split`) overrides this."""
        self.fit_artifacts(self._progress(self.load_split("train"), "fit train"))

    def map_split(self, split: str, function: Callable[[Any], Any], workers: int) -> Iterator[Any]:
        """``function(chunk)`` of consecutive chunks of ``split``'s raw examples (lists of
        :attr:`prepare_chunk` examples of :meth:`load_split`), in ``workers`` forked processes,
        results in order. A datamodule whose files a worker can read and parse itself yields
        other chunks (its ``function`` then takes them), so that reading runs in parallel too.
        """
        return map_chunks(function, self.load_split(split), self.prepare_chunk, workers)

    def encode_chunk(self, examples: list[Any]) -> tuple[Columns, int, Counter]:
        """Encode a chunk of raw examples (in a worker process) into columns, their count and
        what :meth:`encode_counts` counted; a datamodule that can encode a whole chunk at once
        (vectorised) overrides this."""
        counts: Counter = Counter()
        encoded = [self.encode_counts(example, counts) for example in examples]
        return to_columns(encoded, self.encoded_fields()), len(encoded), counts

    @staticmethod
    def _progress(examples: Iterable[Any], description: str) -> Iterable[Any]:
        """A progress bar (count and rate) that shows only once preparation takes 2 s."""
        return tqdm(
            examples, desc=description, unit=" examples", delay=2.0, mininterval=1.0, leave=False
        )

    @staticmethod
    def _progress_bar(description: str) -> tqdm:
        """:meth:`_progress`'s bar, advanced by hand a chunk at a time (``update(count)``)."""
        return tqdm(desc=description, unit=" examples", delay=2.0, mininterval=1.0, leave=False)

    def restore(self, artifacts: dict[str, Any]) -> None:
        """Restore fitted state from a checkpoint instead of fitting it again."""
        if not self.fitted and self.cache_dir is not None:
            # The settings a training run keyed its cache by (none when, say, the data moved).
            with contextlib.suppress(OSError, ValueError):
                self._unfitted_settings = self.preparation_settings()
        self.load_artifacts(artifacts)
        self.fitted = True
        self._cache_chosen = False  # prepared with these artifacts: another key

    def batch_from_raw(self, raw: str) -> dict[str, Any]:
        """Prediction input: raw user input encoded and collated into one batch."""
        return self.collate([self.encode(example) for example in self.parse_raw(raw)])

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        trainer = getattr(self, "trainer", None)
        world_size = trainer.world_size if trainer is not None else 1
        rank = trainer.global_rank if trainer is not None else 0
        data = self.datasets[split]
        collate = self.collate_training if split == "train" else self.collate
        if isinstance(data, StreamedSplit):
            # One process streams the rank's share; a worker process would stream it again.
            streamed = data.batches(collate, self.batch_size, shuffle, self.seed, rank, world_size)
            return DataLoader(streamed, batch_size=None, num_workers=0)
        batches = ShardedBatches(
            self.datasets[split],
            collate,
            self.batch_size,
            shuffle=shuffle,
            seed=self.seed,
            rank=rank,
            world_size=world_size,
            lengths=self.bucket_lengths(split) if shuffle else None,
        )
        # An iterable of ready batches: Lightning adds no distributed sampler (which would
        # repeat examples to even out the ranks); ShardedBatches shares them out itself.
        # The loader's state (epoch, batches taken) is checkpointed: a resumed run continues
        # mid-epoch where it stopped.
        return ShardedBatchLoader(
            batches,
            current_epoch=(lambda: trainer.current_epoch)
            if trainer is not None and shuffle
            else None,
            num_workers=self.num_workers,
        )

    def bucket_lengths(self, split: str) -> np.ndarray | None:
        """``(N,)`` the length of each example of ``split`` by which shuffled batches are
        bucketed (:class:`~rnnkit.data.io.sharded_batches.ShardedBatches`), or None (the
        default) for plain shuffled batches."""
        return None

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)


def _plain(value: Any) -> bool:
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    return False


def _json(value: Any) -> Any:
    """``value`` as JSON would give it back (tuples as lists, keys as strings)."""
    return json.loads(json.dumps(value, default=str))


def _report(manifest: dict[str, Any]) -> dict[str, Any]:
    return {"counts": manifest.get("counts", {}), "created": manifest.get("created")}


def pad_sequences(
    sequences: list[list[int] | np.ndarray], pad_value: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad id sequences (lists or 1-D arrays) into ``(N, L_max)`` long ids and ``(N,)``
    lengths."""
    lengths = np.fromiter((len(s) for s in sequences), dtype=np.int64, count=len(sequences))
    padded = np.full((len(sequences), int(lengths.max())), pad_value, dtype=np.int64)
    for row, sequence in enumerate(sequences):
        padded[row, : len(sequence)] = sequence
    return torch.from_numpy(padded), torch.from_numpy(lengths)


def evenly_spaced(total: int, count: int) -> list[int]:
    """``count`` indices spread evenly over ``range(total)``, the first included."""
    return (np.arange(count, dtype=np.int64) * total // count).tolist()
