"""Batches of a map-style dataset, shared out so that every example is read once per epoch.

torch's ``DistributedSampler`` pads the last round by repeating examples (or drops them with
``drop_last``), so under DDP an epoch is not exactly the dataset, and validation metrics are
computed on a few examples twice. :class:`ShardedBatches` cuts every epoch into rounds of
``world_size`` batches instead: round ``s`` takes the next ``world_size * batch_size`` examples
of the epoch's order and deals them to the ranks in near-equal parts. A last round too small to
give every rank an example is merged into the one before (whose batches then hold up to
``batch_size + 1`` examples). Every rank runs the same number of steps, no batch is empty, and
the ranks together read every example exactly once.

Length buckets: given every example's length, a shuffled epoch is cut into pools of
``pool_batches`` rounds, each pool sorted by length, and the rounds then shuffled
(:func:`sorted_pools`, as torchtext's ``BucketIterator``): each batch holds examples of similar
lengths, so little of it is padding, while the batches stay random. Everything else (rounds,
ranks, resuming) is unchanged: only the epoch's order differs.

Resuming mid-epoch: :class:`ShardedBatchLoader` is the DataLoader over them that Lightning
checkpoints (its ``state_dict``: the epoch and how many of its batches were handed out), so a
run resumed from a checkpoint written in the middle of an epoch skips exactly the batches it
already trained on, without making them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset, get_worker_info


def epoch_rounds(size: int, batch_size: int, world_size: int) -> list[tuple[int, int]]:
    """``(start, end)`` positions of each round's examples in the epoch's order."""
    if size == 0:
        return []
    if size < world_size:
        raise ValueError(
            f"{size} examples cannot be shared by {world_size} processes (DDP); expected at "
            f"least one per process"
        )
    step = batch_size * world_size
    bounds = [(start, min(start + step, size)) for start in range(0, size, step)]
    if len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] < world_size:
        (start, _), (_, end) = bounds[-2], bounds[-1]
        bounds[-2:] = [(start, end)]
    return bounds


def sorted_pools(order: np.ndarray, keys: np.ndarray, pool_size: int) -> np.ndarray:
    """``order`` with each run of ``pool_size`` positions (the last may be shorter) sorted by
    ``keys`` of its examples, stably: ties keep their shuffled order.

    Args:
        order: ``(N,)`` example indices (an epoch's shuffled order).
        keys: ``(M,)`` a sortable key per example (its length), indexed by ``order``.
        pool_size: positions per sorted pool.
    """
    pools = [order[start : start + pool_size] for start in range(0, len(order), pool_size)]
    return np.concatenate(
        [pool[np.argsort(keys[pool], kind="stable")] for pool in pools] or [order]
    )


class ShardedBatches(IterableDataset):
    """Rank ``rank``'s batches of ``dataset``, collated, one epoch per iteration.

    Args:
        dataset: a map-style dataset (``__getitems__`` is used when it has one).
        collate: a list of examples -> a batch.
        batch_size: examples per batch and rank.
        shuffle: a new order every epoch (from ``seed`` and the epoch number), the same on
            every rank.
        rank, world_size: this process among the DDP processes.
        lengths: ``(N,)`` a length per example: shuffled epochs are cut into batches of
            similar lengths (see the module's docstring; None: plain shuffling).
        pool_batches: rounds per sorted pool with ``lengths``.

    With DataLoader worker processes, worker ``w`` of ``W`` makes batches ``w, w + W, ...``;
    the loader takes them from the workers in turn, so the order is unchanged. The epoch number
    advances on each iteration, so keep workers persistent (they keep their own count).

    State (:meth:`state_dict`): ``{"epoch": e, "batches_yielded": k}``, the epoch being
    iterated and how many of its batches this process yielded. After :meth:`load_state_dict`
    the next iteration makes the rest of epoch ``e`` (batches ``k, k + 1, ...``), or all of
    epoch ``e + 1`` when ``e`` was complete.
    """

    def __init__(
        self,
        dataset: Dataset,
        collate: Callable[[list[Any]], Any],
        batch_size: int,
        shuffle: bool,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        lengths: np.ndarray | None = None,
        pool_batches: int = 50,
    ) -> None:
        if lengths is not None:
            lengths = np.asarray(lengths, dtype=np.int64)
            if lengths.shape != (len(dataset),):
                raise ValueError(
                    f"lengths: expected one per example, shape ({len(dataset)},), got "
                    f"{lengths.shape}"
                )
        if isinstance(pool_batches, bool) or not isinstance(pool_batches, int) or pool_batches < 1:
            raise ValueError(f"pool_batches: expected a positive integer, got {pool_batches!r}")
        self.dataset = dataset
        self.lengths = lengths
        self.pool_batches = pool_batches
        self.collate = collate
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.epoch = 0
        self.skip_batches = 0
        self.batches_yielded = 0
        self.rounds = epoch_rounds(len(dataset), batch_size, world_size)

    def __len__(self) -> int:
        return len(self.rounds)

    def set_epoch(self, epoch: int) -> None:
        """Make ``epoch`` (all of it) on the next iteration."""
        self.epoch = epoch
        self.skip_batches = 0

    def state_dict(self) -> dict[str, int]:
        """``{"epoch", "batches_yielded"}``: the epoch iterated last and its batches made."""
        return {"epoch": self.epoch - 1, "batches_yielded": self.batches_yielded}

    def load_state_dict(self, state: dict[str, int]) -> None:
        """Continue after ``state``: the rest of its epoch, or the next epoch if it was done."""
        epoch, done = int(state["epoch"]), int(state["batches_yielded"])
        if not 0 <= done <= len(self.rounds):
            raise ValueError(
                f"sampler state: {done} batches yielded, but an epoch has {len(self.rounds)}"
            )
        if done == len(self.rounds):
            epoch, done = epoch + 1, 0
        self.epoch, self.skip_batches = epoch, done

    def epoch_order(self, epoch: int) -> np.ndarray:
        """``(N,)`` the examples in ``epoch``'s order (the same on every rank)."""
        size = len(self.dataset)
        if not self.shuffle:
            return np.arange(size)
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        order = torch.randperm(size, generator=generator).numpy()
        if self.lengths is None or len(self.rounds) < 2:
            return order
        step = self.batch_size * self.world_size
        order = sorted_pools(order, self.lengths, step * self.pool_batches)
        # The rounds in a random order, or each pool would run from short to long. Every
        # round but the last holds `step` examples; the last (short, or merged) stays last.
        full = len(self.rounds) - 1
        rounds = torch.randperm(full, generator=generator).numpy()
        shuffled = order[: full * step].reshape(full, step)[rounds].reshape(-1)
        return np.concatenate([shuffled, order[full * step :]])

    def rank_batch(self, order: np.ndarray, step: int) -> np.ndarray:
        """This rank's example indices of batch ``step``, cut from the epoch's order."""
        start, end = self.rounds[step]
        return np.array_split(order[start:end], self.world_size)[self.rank]

    def batch_indices(self, epoch: int) -> list[np.ndarray]:
        """This rank's example indices of every batch of ``epoch``."""
        order = self.epoch_order(epoch)
        return [self.rank_batch(order, step) for step in range(len(self.rounds))]

    def _fetch(self, indices: np.ndarray) -> list[Any]:
        getitems = getattr(self.dataset, "__getitems__", None)
        if getitems is not None:
            return getitems(indices.tolist())
        return [self.dataset[int(i)] for i in indices]

    def __iter__(self) -> Iterator[Any]:
        # The epoch advances here, not at the first batch: a DataLoader calls iter() when its
        # own iterator is made, and the epoch must not depend on when batches are taken.
        epoch, skip = self.epoch, self.skip_batches
        self.epoch, self.skip_batches, self.batches_yielded = epoch + 1, 0, skip
        return self._epoch_batches(epoch, skip)

    def _epoch_batches(self, epoch: int, skip: int) -> Iterator[Any]:
        # Each batch's indices are cut when it is made: an epoch of millions of examples
        # costs one permutation, not a list of every batch.
        order = self.epoch_order(epoch)
        worker = get_worker_info()
        steps = range(skip, len(self.rounds))
        if worker is not None:
            steps = steps[worker.id :: worker.num_workers]
        for step in steps:
            batch = self.collate(self._fetch(self.rank_batch(order, step)))
            self.batches_yielded += 1
            yield batch


class ShardedBatchLoader(DataLoader):
    """The DataLoader of a :class:`ShardedBatches` that Lightning checkpoints and resumes.

    Lightning saves the ``state_dict`` of a stateful train loader in every checkpoint and
    gives it back to ``load_state_dict`` on resume, before the first iteration. The state is
    ``{"epoch": e, "batches_yielded": k}``: ``k`` counts the batches this loader handed out of
    epoch ``e``, in the main process, so batches that worker processes made ahead do not count.

    Args:
        batches: the :class:`ShardedBatches` to load (each item is a ready batch).
        current_epoch: the trainer's epoch, asked when an iteration starts: a checkpoint
            written at the end of epoch ``e`` (``k`` possibly short of the epoch with
            ``limit_train_batches``) resumes into epoch ``e + 1``, one written in the middle
            of ``e`` into the rest of ``e``. None: epochs count iterations.
        num_workers: worker processes (persistent, see :class:`ShardedBatches`).

    The loader's own ``generator`` draws the workers' base seed, so starting an epoch does
    not advance torch's global random state (which a resumed run restores exactly).
    """

    def __init__(
        self,
        batches: ShardedBatches,
        current_epoch: Callable[[], int] | None = None,
        num_workers: int = 0,
    ) -> None:
        super().__init__(
            batches,
            batch_size=None,
            collate_fn=ready_batch,
            num_workers=num_workers,
            persistent_workers=num_workers > 0,
            generator=torch.Generator().manual_seed(batches.seed),
        )
        self.current_epoch = current_epoch
        self.resume_state: dict[str, int] | None = None
        self.epoch = batches.epoch  # {epoch 0, none taken} until the first batch
        self.batches_yielded = 0

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "batches_yielded": self.batches_yielded}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.resume_state = {key: int(state[key]) for key in ("epoch", "batches_yielded")}

    def __iter__(self) -> Iterator[Any]:
        # A generator: the epoch is chosen at the first batch, when Lightning has settled which
        # epoch a resumed run is in (it calls iter() before restoring its epoch counters).
        batches: ShardedBatches = self.dataset
        epoch = self.current_epoch() if self.current_epoch is not None else batches.epoch
        resume, self.resume_state = self.resume_state, None
        if resume is not None and (self.current_epoch is None or resume["epoch"] == epoch):
            batches.load_state_dict(resume)
        else:
            batches.set_epoch(epoch)
        self.epoch, self.batches_yielded = batches.epoch, batches.skip_batches
        iterator = super().__iter__()
        if self.num_workers > 0:
            # Workers iterate their copies (taken when they start, above): advance this one.
            batches.set_epoch(self.epoch + 1)
        for batch in iterator:
            self.batches_yielded += 1
            yield batch


def ready_batch(batch: Any) -> Any:
    """The loader's collate for ready batches: as is (torch's default would walk every
    element of the batch again, strings included)."""
    return batch
