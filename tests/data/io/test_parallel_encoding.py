"""map_chunks: chunk results in order, bounded read-ahead, errors from worker processes."""

from __future__ import annotations

import os

import pytest

from rnnkit.data.io.parallel_encoding import chunks, default_workers, map_chunks


class CountingStream:
    """Items ``0 .. size - 1``, recording how many were taken."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.taken = 0

    def __iter__(self):
        for item in range(self.size):
            self.taken = item + 1
            yield item


def chunk_summary(chunk: list[int]) -> tuple[int, int, int]:
    return chunk[0], len(chunk), os.getpid()


def test_chunks_are_consecutive_and_the_last_may_be_short():
    assert list(chunks(range(7), 3)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(chunks([], 3)) == []


@pytest.mark.parametrize("workers", [1, 2])
def test_results_come_in_order(workers):
    results = list(map_chunks(chunk_summary, range(103), chunk_size=10, workers=workers))
    assert [(first, size) for first, size, _ in results] == [
        (start, min(10, 103 - start)) for start in range(0, 103, 10)
    ]
    processes = {pid for _, _, pid in results}
    if workers == 1:
        assert processes == {os.getpid()}
    else:
        assert os.getpid() not in processes


@pytest.mark.parametrize("workers", [1, 2])
def test_at_most_two_chunks_per_worker_are_read_ahead(workers):
    stream = CountingStream(250)
    chunk_size = 10
    taken_at_result = []
    for index, (first, _, _) in enumerate(
        map_chunks(chunk_summary, stream, chunk_size=chunk_size, workers=workers)
    ):
        assert first == index * chunk_size
        taken_at_result.append(stream.taken)
    assert len(taken_at_result) == 25
    for index, taken in enumerate(taken_at_result):
        # Result i needs chunks 0..i read; at most 2 * workers chunks may be read but unfinished.
        assert (index + 1) * chunk_size <= taken <= (index + 2 * workers) * chunk_size
    if workers > 1:  # the workers do run ahead of the results
        assert taken_at_result[0] > chunk_size


def fail_on_chunk_three(chunk: list[int]) -> int:
    if chunk[0] == 30:
        raise ValueError(f"bad example {chunk[0]}")
    return chunk[0]


@pytest.mark.parametrize("workers", [1, 2])
def test_an_error_in_a_chunk_reaches_the_caller(workers):
    results = []
    with pytest.raises(ValueError, match="bad example 30"):
        for result in map_chunks(fail_on_chunk_three, range(100), chunk_size=10, workers=workers):
            results.append(result)
    assert results == [0, 10, 20]


def test_the_chunk_function_may_be_a_bound_method_of_an_unpicklable_object():
    # Forked workers inherit the function: neither it nor its object is pickled.
    class Encoder:
        def __init__(self) -> None:
            self.lock = open(os.devnull)  # noqa: SIM115 (unpicklable on purpose)

        def encode(self, chunk: list[int]) -> list[int]:
            return [2 * item for item in chunk]

    encoder = Encoder()
    try:
        results = list(map_chunks(encoder.encode, range(9), chunk_size=4, workers=2))
    finally:
        encoder.lock.close()
    assert results == [[0, 2, 4, 6], [8, 10, 12, 14], [16]]


def test_default_workers_is_between_one_and_eight():
    assert 1 <= default_workers() <= min(8, os.cpu_count() or 1)
