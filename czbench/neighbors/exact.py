"""Exact kNN search, the cell itself first.

* On CPU: faiss's exact ``IndexFlatL2`` (BLAS distance blocks + a heap per query), measured
  1.8-2.4x faster than the torch search on 2 cores at 20k-100k cells with the same neighbours
  (``benchmarks/bench_knn_exact.py``, ``benchmarks/results/knn_exact.json``). Searched in
  faiss's 4,096-query blocks on a small thread pool, one OpenMP thread each (``faiss_search``).
* On GPUs (and with an explicit ``block_size``): torch, blocked ``|x|^2 + |y|^2 - 2 x.y`` on
  centred data, then ``topk``. Memory O(block x n), time O(n^2 d).
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

import numpy as np
import torch

from czbench.utils.arrays import as_torch_2d
from czbench.utils.threads import kernel_workers, ordered_map, single_threaded_ops

#: Distance-block budget in elements (block rows x n columns), about 256 MB of float32.
BLOCK_ELEMENTS = 1 << 26
#: The same on GPUs (1 GiB of float32): fewer, larger blocks amortise kernel launches.
GPU_BLOCK_ELEMENTS = 1 << 28


def block_rows(n_columns: int, budget: int = BLOCK_ELEMENTS) -> int:
    """Rows per block so that a (rows x n_columns) block stays within ``budget`` elements."""
    return max(1, min(n_columns, budget // max(1, n_columns)))


def squared_distance_block(x: torch.Tensor, sq: torch.Tensor, start: int,
                           stop: int) -> torch.Tensor:
    """Squared Euclidean distances from rows ``start:stop`` of ``x`` to all rows, in place-friendly
    form (``sq`` = row norms squared; ``x`` should be centred). The diagonal is set to 0."""
    d2 = torch.addmm(sq[None, :], x[start:stop], x.T, beta=1.0, alpha=-2.0)
    d2.add_(sq[start:stop, None]).clamp_(min=0.0)
    d2.diagonal(offset=start).zero_()
    return d2


def centred(embedding: Any, device: str | torch.device | None,
            dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """The embedding as a centred tensor (distances unchanged, less cancellation) and its
    squared row norms."""
    x = as_torch_2d(embedding, device=device, dtype=dtype, rescale=True)
    x = x - x.mean(dim=0, keepdim=True)
    return x, (x * x).sum(dim=1)


def exact_block(x: torch.Tensor, sq: torch.Tensor, start: int, stop: int,
                 k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Squared distances and ids of the k nearest cells of rows start:stop, self first."""
    d2 = squared_distance_block(x, sq, start, stop)
    d2.diagonal(offset=start).fill_(-1.0)  # the cell itself always ranks first
    return torch.topk(d2, k, dim=1, largest=False, sorted=True)


def exact_knn(x: torch.Tensor, sq: torch.Tensor, k: int,
              rows: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(indices int64, distances float64) of the ``k`` nearest cells of every row of the centred
    ``x`` (``sq`` its squared row norms), ``rows`` rows at a time, self first. On CPU the blocks
    run on :func:`~czbench.utils.threads.kernel_workers` threads with single-threaded torch ops
    (the same bits whatever the number of workers)."""
    n = x.shape[0]
    indices = torch.empty((n, k), dtype=torch.int64)
    distances = torch.empty((n, k), dtype=torch.float64)
    cpu = x.device.type == "cpu"

    def block(start: int) -> int:
        stop = min(n, start + rows)
        values, idx = exact_block(x, sq, start, stop, k)
        indices[start:stop] = idx.cpu()
        distances[start:stop] = values.clamp(min=0.0).sqrt().cpu().double()
        return start

    workers = kernel_workers() if cpu else 1
    with single_threaded_ops() if cpu else nullcontext():
        for _ in ordered_map(block, range(0, n, rows), workers):
            pass
    return indices, distances


def faiss_search(index: Any, x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """``index.search(x, k)`` (squared distances, ids) in blocks of faiss's own query block size,
    on :func:`~czbench.utils.threads.kernel_workers` threads with one OpenMP thread each (set
    per thread and restored): graceful beside busy processes, and the same bits whatever the
    number of workers (each block is searched as a single-threaded search would)."""
    import faiss

    n = x.shape[0]
    chunk = max(1, int(faiss.cvar.distance_compute_blas_query_bs))
    d2 = np.empty((n, k), dtype=np.float32)
    idx = np.empty((n, k), dtype=np.int64)

    def search(start: int) -> int:
        previous = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)
        try:
            d2[start:start + chunk], idx[start:start + chunk] = index.search(
                x[start:start + chunk], k)
        finally:
            faiss.omp_set_num_threads(previous)
        return start

    for _ in ordered_map(search, range(0, n, chunk), kernel_workers()):
        pass
    return d2, idx


def flat_knn(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(indices int64, distances float64) of the ``k`` exact nearest cells of every row of the
    centred float32 ``x``, by faiss ``IndexFlatL2``; self first."""
    import faiss

    x = np.ascontiguousarray(x, dtype=np.float32)
    index = faiss.IndexFlatL2(x.shape[1])
    index.add(x)
    d2, idx = faiss_search(index, x, k)
    put_self_first(idx, d2)
    distances = np.sqrt(np.clip(d2.astype(np.float64), 0.0, None))
    distances[:, 0] = 0.0
    return idx, distances


def put_self_first(idx: np.ndarray, d2: np.ndarray) -> None:
    """Put each cell itself in column 0 (in place), keeping the others in distance order."""
    rows = np.arange(idx.shape[0])
    wrong = np.flatnonzero(idx[:, 0] != rows)
    for row in wrong:
        ids = [int(j) for j in idx[row] if j != row and j >= 0]
        dists = [float(v) for j, v in zip(idx[row], d2[row], strict=True) if j != row and j >= 0]
        k = idx.shape[1]
        ids, dists = ([int(row)] + ids)[:k], ([0.0] + dists)[:k]
        pad = k - len(ids)
        idx[row] = ids + [-1] * pad
        d2[row] = dists + [np.inf] * pad
    d2[rows, 0] = 0.0
