"""Batches of a map-style dataset, shared out so that every example is read once per epoch.

torch's ``DistributedSampler`` pads the last round by repeating examples (or drops them with
``drop_last``), so under DDP an epoch is not exactly the dataset, and validation metrics are
computed on a few examples twice. :class:`ShardedBatches` cuts every epoch into rounds of
``world_size`` batches instead: round ``s`` takes the next ``world_size * batch_size`` examples
of the epoch's order and deals them to the ranks in near-equal parts. A last round too small to
give every rank an example is merged into the one before (whose batches then hold up to
``batch_size + 1`` examples). Every rank runs the same number of steps, no batch is empty, and
the ranks together read every example exactly once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, IterableDataset, get_worker_info


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


class ShardedBatches(IterableDataset):
    """Rank ``rank``'s batches of ``dataset``, collated, one epoch per iteration.

    Args:
        dataset: a map-style dataset (``__getitems__`` is used when it has one).
        collate: a list of examples -> a batch.
        batch_size: examples per batch and rank.
        shuffle: a new order every epoch (from ``seed`` and the epoch number), the same on
            every rank.
        rank, world_size: this process among the DDP processes.

    With DataLoader worker processes, worker ``w`` of ``W`` makes batches ``w, w + W, ...``;
    the loader takes them from the workers in turn, so the order is unchanged. The epoch number
    advances on each iteration, so keep workers persistent (they keep their own count).
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
    ) -> None:
        self.dataset = dataset
        self.collate = collate
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.epoch = 0
        self.rounds = epoch_rounds(len(dataset), batch_size, world_size)

    def __len__(self) -> int:
        return len(self.rounds)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def epoch_order(self, epoch: int) -> np.ndarray:
        """``(N,)`` the examples in ``epoch``'s order (the same on every rank)."""
        size = len(self.dataset)
        if not self.shuffle:
            return np.arange(size)
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        return torch.randperm(size, generator=generator).numpy()

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
        # Each batch's indices are cut when it is made: an epoch of millions of examples
        # costs one permutation, not a list of every batch.
        order = self.epoch_order(self.epoch)
        self.epoch += 1
        worker = get_worker_info()
        steps = range(len(self.rounds))
        if worker is not None:
            steps = steps[worker.id :: worker.num_workers]
        for step in steps:
            yield self.collate(self._fetch(self.rank_batch(order, step)))


def ready_batch(batch: Any) -> Any:
    """The loader's collate for ready batches: as is (torch's default would walk every
    element of the batch again, strings included)."""
    return batch
