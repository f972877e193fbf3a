"""ShardedBatches: every example once per epoch across DDP ranks, same step count per rank."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from torch.utils.data import DataLoader

from rnnkit.data.io.sharded_batches import ShardedBatches, epoch_rounds, sorted_pools


def collate_indices(examples: list[int]) -> list[int]:
    return list(examples)


def rank_batches(size, batch_size, world_size, shuffle=False, seed=0, epoch=0):
    """Per rank, the list of its batches of ``epoch`` (lists of example indices)."""
    dataset = list(range(size))
    ranks = []
    for rank in range(world_size):
        batches = ShardedBatches(
            dataset, collate_indices, batch_size, shuffle, seed=seed, rank=rank,
            world_size=world_size,
        )  # fmt: skip
        batches.set_epoch(epoch)
        ranks.append(list(batches))
        assert len(batches) == len(ranks[-1])
    return ranks


COMBINATIONS = [
    (size, batch_size, world_size)
    for size, batch_size, world_size in itertools.product(
        [1, 2, 3, 5, 7, 8, 13, 16, 31, 37, 64, 100, 257],
        [1, 2, 3, 4, 8, 32],
        [1, 2, 3, 4, 8],
    )
    if size >= world_size
]


@pytest.mark.parametrize("shuffle", [False, True])
def test_every_example_once_per_epoch_in_equal_step_counts(shuffle):
    for size, batch_size, world_size in COMBINATIONS:
        case = f"N={size} batch_size={batch_size} world_size={world_size}"
        ranks = rank_batches(size, batch_size, world_size, shuffle=shuffle, seed=3)
        seen = [i for batches in ranks for batch in batches for i in batch]
        assert sorted(seen) == list(range(size)), case
        assert len({len(batches) for batches in ranks}) == 1, case
        sizes = [len(batch) for batches in ranks for batch in batches]
        assert min(sizes) >= 1 and max(sizes) <= batch_size + 1, case


def test_unshuffled_order_is_the_dataset_order_and_rounds_deal_near_equal_parts():
    assert rank_batches(10, 2, 2) == [[[0, 1], [4, 5], [8]], [[2, 3], [6, 7], [9]]]
    # A last round too small for every rank is merged into the one before.
    assert epoch_rounds(9, 2, 2) == [(0, 4), (4, 9)]
    assert rank_batches(9, 2, 2) == [[[0, 1], [4, 5, 6]], [[2, 3], [7, 8]]]
    assert epoch_rounds(0, 4, 2) == []
    assert rank_batches(5, 8, 1) == [[[0, 1, 2, 3, 4]]]


def test_too_few_examples_for_the_processes_is_an_error():
    with pytest.raises(ValueError, match="3 examples cannot be shared by 4 processes"):
        ShardedBatches(list(range(3)), collate_indices, 2, shuffle=False, rank=0, world_size=4)


def test_shuffle_is_shared_by_ranks_new_each_epoch_and_reproducible():
    def epoch_order(seed, epoch):
        ranks = rank_batches(50, 4, 3, shuffle=True, seed=seed, epoch=epoch)
        # The global order: round by round, rank by rank.
        return [i for step in zip(*ranks, strict=True) for batch in step for i in batch]

    first = epoch_order(seed=7, epoch=0)
    assert first != list(range(50)) and sorted(first) == list(range(50))
    assert epoch_order(seed=7, epoch=0) == first
    assert epoch_order(seed=7, epoch=1) != first
    assert epoch_order(seed=8, epoch=0) != first
    # Every rank cuts its part from one order: rank r's batch of round s is part r of round s.
    ranks = rank_batches(50, 4, 3, shuffle=True, seed=7)
    order = np.concatenate([batch for step in zip(*ranks, strict=True) for batch in step])
    parts = np.array_split(order[:12], 3)
    assert [ranks[r][0] for r in range(3)] == [p.tolist() for p in parts]


def test_iteration_advances_the_epoch():
    batches = ShardedBatches(list(range(20)), collate_indices, 4, shuffle=True, seed=1)
    epochs = [list(batches) for _ in range(3)]
    assert epochs[0] != epochs[1] != epochs[2]
    fresh = ShardedBatches(list(range(20)), collate_indices, 4, shuffle=True, seed=1)
    assert list(fresh) == epochs[0]
    assert [b.tolist() for b in fresh.batch_indices(2)] == epochs[2]


class CountingDataset:
    """A map-style dataset without ``__getitems__``."""

    def __init__(self, size: int) -> None:
        self.size = size

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> int:
        assert isinstance(index, int)
        return index


def test_datasets_without_getitems_are_read_item_by_item():
    batches = ShardedBatches(CountingDataset(7), collate_indices, 3, shuffle=False)
    assert list(batches) == [[0, 1, 2], [3, 4, 5], [6]]


@pytest.mark.parametrize("world_size", [1, 2])
def test_worker_processes_keep_the_order_across_epochs(world_size):
    def loader_epochs(num_workers, rank):
        batches = ShardedBatches(
            CountingDataset(45), collate_indices, 4, shuffle=True, seed=5, rank=rank,
            world_size=world_size,
        )  # fmt: skip
        loader = DataLoader(
            batches, batch_size=None, num_workers=num_workers,
            persistent_workers=num_workers > 0,
        )  # fmt: skip
        assert len(loader) == len(batches)
        return [list(loader) for _ in range(3)]

    for rank in range(world_size):
        in_process = loader_epochs(0, rank)
        assert in_process[0] != in_process[1]
        assert loader_epochs(2, rank) == in_process


# ---- length buckets ------------------------------------------------------------------------


def bucketed_ranks(lengths, batch_size, world_size, seed=0, epoch=0, pool_batches=4):
    """Per rank, its batches of ``epoch`` with length buckets (lists of example indices)."""
    ranks = []
    for rank in range(world_size):
        batches = ShardedBatches(
            list(range(len(lengths))), collate_indices, batch_size, True, seed=seed, rank=rank,
            world_size=world_size, lengths=lengths, pool_batches=pool_batches,
        )  # fmt: skip
        batches.set_epoch(epoch)
        ranks.append(list(batches))
    return ranks


def padding_share(batches, lengths) -> float:
    """Padded steps over all steps when every batch is padded to its longest example."""
    padded = sum(len(batch) * max(lengths[i] for i in batch) for batch in batches)
    return 1 - sum(lengths) / padded


@pytest.mark.parametrize("world_size", [1, 3])
def test_length_buckets_keep_every_example_once_and_cut_padding(world_size):
    lengths = np.random.default_rng(0).integers(1, 2000, size=503)
    bucketed = bucketed_ranks(lengths, 8, world_size, pool_batches=20)
    seen = sorted(i for batches in bucketed for batch in batches for i in batch)
    assert seen == list(range(len(lengths)))
    assert len({len(batches) for batches in bucketed}) == 1
    plain = rank_batches(len(lengths), 8, world_size, shuffle=True)
    flat = [batch for batches in bucketed for batch in batches]
    assert padding_share(flat, lengths) < 0.1
    assert padding_share([b for batches in plain for b in batches], lengths) > 0.4


def test_length_buckets_are_random_reproducible_and_new_each_epoch():
    lengths = np.random.default_rng(1).integers(1, 500, size=200)
    first = bucketed_ranks(lengths, 4, 1, seed=5)[0]
    assert bucketed_ranks(lengths, 4, 1, seed=5)[0] == first
    assert bucketed_ranks(lengths, 4, 1, seed=5, epoch=1)[0] != first
    # Batches are not served from short to long: the rounds are shuffled.
    longest = [max(lengths[i] for i in batch) for batch in first]
    assert longest != sorted(longest)
    # Within a pool of 4 batches (16 examples), the examples are sorted by length.
    order = np.concatenate(first)
    pools = [lengths[order[start : start + 16]] for start in range(0, 192, 16)]
    assert sum(bool(np.all(np.diff(pool) >= 0)) for pool in pools) < len(pools)


def test_sorted_pools_sort_each_pool_stably():
    keys = np.array([5, 1, 5, 0, 2, 2, 9])
    assert sorted_pools(np.arange(7), keys, 3).tolist() == [1, 0, 2, 3, 4, 5, 6]
    assert sorted_pools(np.array([6, 5, 4, 3]), keys, 10).tolist() == [3, 5, 4, 6]
    assert sorted_pools(np.zeros(0, dtype=np.int64), keys, 3).tolist() == []


def test_length_buckets_resume_mid_epoch_with_the_same_batches():
    lengths = np.random.default_rng(2).integers(1, 300, size=60)
    whole = ShardedBatches(list(range(60)), collate_indices, 4, True, seed=3, lengths=lengths)
    epoch = list(whole)
    resumed = ShardedBatches(list(range(60)), collate_indices, 4, True, seed=3, lengths=lengths)
    resumed.load_state_dict({"epoch": 0, "batches_yielded": 5})
    assert list(resumed) == epoch[5:]


def test_unshuffled_batches_ignore_lengths_and_bad_lengths_are_refused():
    lengths = np.arange(10)[::-1].copy()
    batches = ShardedBatches(list(range(10)), collate_indices, 3, False, lengths=lengths)
    assert list(batches) == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]
    with pytest.raises(ValueError, match=r"^lengths: expected one per example, shape \(10,\)"):
        ShardedBatches(list(range(10)), collate_indices, 3, True, lengths=np.arange(9))
    with pytest.raises(ValueError, match="^pool_batches: expected a positive integer"):
        ShardedBatches(list(range(10)), collate_indices, 3, True, lengths=lengths, pool_batches=0)
