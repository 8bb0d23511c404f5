"""Coarse-grained parallelism for the hot kernels, graceful on a busy machine.

Many small parallel regions (one OpenMP fork/join per torch op on a 1,024 x 1,024 tile) wait for
threads that another process has descheduled: beside a busy torch process a tiled kernel ran 51x
slower than alone (docs/performance.md#under-contention). The kernels therefore cut their work
into independent blocks, run the blocks in a small thread pool (torch, numpy and faiss release
the GIL) and keep each block single-threaded:

* :func:`single_threaded_ops` holds torch's intra-op threads (OpenMP and MKL) at 1 for the
  duration of a kernel and restores the caller's setting on exit, also on error. torch's thread
  count is process-wide, so a torch op that another Python thread runs *during* the kernel also
  runs single-threaded; nested and concurrent kernels share one save and the last to leave
  restores it.
* :func:`kernel_workers`: the pool size, the caller's ``torch.get_num_threads()`` (the user's
  setting, read before the kernel holds it at 1) capped by the cores this process may run on.
* :func:`single_threaded_blas` does the same for the BLAS libraries (numpy's, scipy's, faiss's;
  by threadpoolctl) around kernels built from many small BLAS calls (kBET's eigensolver).
* :func:`ordered_map`: the blocks, at most ``2 x workers`` in flight, results in input order,
  so accumulation order (and every bit of the result) does not depend on the number of workers.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

import torch

T = TypeVar("T")
R = TypeVar("R")

_LOCK = threading.Lock()
_DEPTH = 0
_SAVED = 1


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity where the OS reports it)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def kernel_workers() -> int:
    """Threads for a kernel's blocks: the caller's torch intra-op thread count (as set before any
    kernel held it at 1), at most :func:`available_cores`."""
    with _LOCK:
        threads = _SAVED if _DEPTH else torch.get_num_threads()
    return max(1, min(threads, available_cores()))


@contextmanager
def single_threaded_ops() -> Iterator[None]:
    """Hold ``torch.set_num_threads(1)`` inside the block; restore the previous count on exit."""
    global _DEPTH, _SAVED
    with _LOCK:
        if _DEPTH == 0:
            _SAVED = torch.get_num_threads()
            if _SAVED != 1:
                torch.set_num_threads(1)
        _DEPTH += 1
    try:
        yield
    finally:
        with _LOCK:
            _DEPTH -= 1
            if _DEPTH == 0 and torch.get_num_threads() != _SAVED:
                torch.set_num_threads(_SAVED)


_BLAS_DEPTH = 0
_BLAS_LIMITS: Any = None


@contextmanager
def single_threaded_blas() -> Iterator[None]:
    """Hold every BLAS library at one thread inside the block (threadpoolctl); restore the
    previous limits when the last nested or concurrent user leaves."""
    global _BLAS_DEPTH, _BLAS_LIMITS
    with _LOCK:
        if _BLAS_DEPTH == 0:
            from threadpoolctl import threadpool_limits

            _BLAS_LIMITS = threadpool_limits(1, user_api="blas")
        _BLAS_DEPTH += 1
    try:
        yield
    finally:
        with _LOCK:
            _BLAS_DEPTH -= 1
            if _BLAS_DEPTH == 0:
                _BLAS_LIMITS.restore_original_limits()
                _BLAS_LIMITS = None


def ordered_map(fn: Callable[[T], R], items: Iterable[T], workers: int) -> Iterator[R]:
    """``fn`` over ``items`` on ``workers`` threads (inline for one), yielding results in input
    order with at most ``2 * workers`` blocks in flight (bounded memory)."""
    if workers <= 1:
        for item in items:
            yield fn(item)
        return
    source = iter(items)
    pool = ThreadPoolExecutor(workers, thread_name_prefix="czbench-kernel")
    pending: deque[Future[R]] = deque()
    try:
        for item in source:
            pending.append(pool.submit(fn, item))
            if len(pending) >= 2 * workers:
                break
        while pending:
            result = pending.popleft().result()
            nxt = next(source, _END)
            if nxt is not _END:
                pending.append(pool.submit(fn, nxt))
            yield result
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


_END = object()
