"""Encode a stream of raw examples in chunks, in worker processes, with bounded memory."""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from itertools import islice
from typing import Any

# The chunk function of the running pool. Worker processes are forked after it is set, so
# they inherit it (and the datamodule it is bound to) without pickling it.
_CHUNK_FUNCTION: Callable[[Any], Any] | None = None


def _run_chunk(task: Any) -> Any:
    return _CHUNK_FUNCTION(task)


def default_workers() -> int:
    """Worker processes for CPU-bound preparation: the cores this process may use, up to 8."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, 8))


def chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    """Consecutive lists of ``size`` items (the last may be shorter)."""
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def map_chunks(
    function: Callable[[list[Any]], Any],
    items: Iterable[Any],
    chunk_size: int = 4096,
    workers: int = 1,
) -> Iterator[Any]:
    """``function(chunk)`` for consecutive chunks of ``items`` (lists of ``chunk_size``), results
    in order; see :func:`map_ordered`."""
    return map_ordered(function, chunks(items, chunk_size), workers)


def map_ordered(
    function: Callable[[Any], Any], tasks: Iterable[Any], workers: int = 1
) -> Iterator[Any]:
    """``function(task)`` for each of ``tasks``, results in order.

    With ``workers > 1`` the tasks run in forked worker processes while this process makes the
    next ones; at most ``2 * workers`` tasks are in flight, so memory stays bounded whatever the
    input size. Without ``fork`` (not Linux/macOS) or with one worker, the tasks run here.
    """
    if workers <= 1 or "fork" not in multiprocessing.get_all_start_methods():
        for task in tasks:
            yield function(task)
        return
    global _CHUNK_FUNCTION
    previous, _CHUNK_FUNCTION = _CHUNK_FUNCTION, function
    try:
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(workers, mp_context=context) as pool:
            pending: deque[Future] = deque()
            for task in tasks:
                pending.append(pool.submit(_run_chunk, task))
                if len(pending) >= 2 * workers:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
    finally:
        _CHUNK_FUNCTION = previous
