"""Exact silhouette, streamed over square tiles in torch (no n x n matrix is ever held).

Definitions: docs/spec.md#silhouette_score and docs/spec.md#batch_silhouette (scib-metrics /
cz-benchmarks):

* ``silhouette_samples``: s(i) = (b_i - a_i) / max(a_i, b_i) with Euclidean distances;
  s(i) = 0 for a cell alone in its group (scikit-learn's convention).
* ``silhouette_score``: mean s(i) over cells with groups = cell type, rescaled to (asw + 1) / 2.
* ``batch_silhouette``: per cell type, s(i) with groups = batch inside that cell type, replaced by
  1 - |s(i)|, averaged within the type; mean over types. Types with one batch, or where every
  cell is its own batch, are skipped.

How it is fast: cells are sorted by group and cut into tiles that each lie inside one group.
Each (tile, tile) distance block is one matrix product of augmented rows ``[-2x, |x|^2, 1] .
[x, 1, |y|^2]`` (so the squared distances come out of the GEMM directly), then clamp, sqrt and
row/column sums while the block is still in cache. Distances are symmetric, so only tile pairs
i <= j are computed: their row sums go to the rows' per-group totals and their column sums to
the columns'. That is n^2/2 distances, cache-resident, about 0.8 ns per pair on 2 CPU cores.
On CPU the row tiles run on a small thread pool with single-threaded torch ops
(:mod:`czbench.utils.threads`), so the kernel slows down in proportion to the CPU it gets beside
busy processes instead of waiting at every op's OpenMP barrier (docs/performance.md).
"""

from __future__ import annotations

import threading
from contextlib import nullcontext
from typing import Any

import numpy as np
import torch

from czbench.context import resolve_device
from czbench.errors import InputError
from czbench.utils.arrays import as_codes, as_torch_2d
from czbench.utils.threads import kernel_workers, ordered_map, single_threaded_ops

#: Tile edge (cells) by device type: cache-sized on CPU, launch-amortising on GPUs.
TILE = {"cpu": 1024, "cuda": 8192}


def group_distance_sums(x: torch.Tensor, codes: np.ndarray, n_groups: int,
                        tile: int) -> torch.Tensor:
    """(n, n_groups) float64: summed Euclidean distance from each cell to each group.

    On CPU the row tiles run on :func:`~czbench.utils.threads.kernel_workers` threads with
    single-threaded torch ops (graceful beside other processes); the sums are accumulated in
    tile order, so the result does not depend on the number of workers.
    """
    cpu = x.device.type == "cpu"
    workers = kernel_workers() if cpu else 1
    with single_threaded_ops() if cpu else nullcontext():
        return _group_distance_sums(x, codes, n_groups, tile, workers)


def _group_distance_sums(x: torch.Tensor, codes: np.ndarray, n_groups: int, tile: int,
                         workers: int) -> torch.Tensor:
    n = x.shape[0]
    dev = x.device
    x = x - x.mean(dim=0, keepdim=True)  # distances unchanged, less cancellation
    sq = (x * x).sum(dim=1, keepdim=True)
    ones = torch.ones_like(sq)
    order_np = np.argsort(codes, kind="stable")
    order = torch.from_numpy(order_np).to(dev)
    xs, sqs, ones_s = x[order], sq[order], ones[order]
    left = torch.cat([-2.0 * xs, sqs, ones_s], dim=1).contiguous()
    right = torch.cat([xs, ones_s, sqs], dim=1).contiguous()
    bounds = np.searchsorted(codes[order_np], np.arange(n_groups + 1))
    tiles = [(s, min(s + tile, int(bounds[g + 1])), g)
             for g in range(n_groups) for s in range(int(bounds[g]), int(bounds[g + 1]), tile)]
    local = threading.local()

    def row_tile(i: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Tile i's per-group row sums, and its column sums for every later cell (float64)."""
        a0, a1, _ = tiles[i]
        buf = getattr(local, "buf", None)
        if buf is None:
            buf = local.buf = torch.empty(tile * tile, dtype=x.dtype, device=dev)
        row_left = left[a0:a1]
        row_acc = torch.zeros((a1 - a0, n_groups), dtype=torch.float64, device=dev)
        col = torch.empty(n - a1, dtype=torch.float64, device=dev)
        for b0, b1, gb in tiles[i:]:
            block = buf[: (a1 - a0) * (b1 - b0)].view(a1 - a0, b1 - b0)
            torch.mm(row_left, right[b0:b1].T, out=block)
            block.clamp_(min=0.0).sqrt_()
            if a0 == b0:
                block.fill_diagonal_(0.0)
            row_acc[:, gb] += block.sum(dim=1)
            if a0 != b0:
                col[b0 - a1:b1 - a1] = block.sum(dim=0)
        return row_acc, col

    sums = torch.zeros((n, n_groups), dtype=torch.float64, device=dev)
    for (a0, a1, ga), (row_acc, col) in zip(tiles, ordered_map(row_tile, range(len(tiles)),
                                                               workers), strict=True):
        sums[a1:, ga] += col
        sums[a0:a1] += row_acc
    out = torch.empty_like(sums)
    out[order] = sums
    return out


def silhouette_samples(embedding: Any, labels: Any, *, device: str | torch.device | None = None,
                       dtype: torch.dtype = torch.float32,
                       block_size: int | None = None) -> np.ndarray:
    """Per-cell silhouette values (float64), exact, computed tile by tile.

    Args:
        embedding: (n, d) array or tensor.
        labels: n group labels (any hashable values).
        device: where to compute (default: the embedding's device; for numpy input CUDA when
            available, else CPU). The same code runs on every device.
        dtype: precision of the distance tiles. float32 (default) agrees with scikit-learn's
            float64 values to ~1e-6 per cell (~1e-9 on the mean) thanks to centring; float64 is
            exact to ~1e-12 and about three times slower on CPU.
        block_size: tile edge in cells (default: 1024 on CPU, 8192 on CUDA).
    """
    dev = resolve_device(embedding, device)
    x = as_torch_2d(embedding, device=dev, dtype=dtype, rescale=True)
    n = x.shape[0]
    codes = as_codes(labels, n)
    n_groups = int(codes.max()) + 1
    if n_groups < 2:
        raise InputError("labels: silhouette needs at least 2 distinct groups, got 1")
    if block_size is not None and block_size < 1:
        raise InputError(f"block_size: expected a positive tile edge, got {block_size}")
    tile = block_size or TILE.get(dev.type, TILE["cuda"])
    sums = group_distance_sums(x, codes, n_groups, tile).cpu()
    sizes = torch.from_numpy(np.bincount(codes, minlength=n_groups)).double()
    own = torch.from_numpy(codes)
    own_size = sizes[own]
    a = sums.gather(1, own[:, None]).squeeze(1) / (own_size - 1).clamp(min=1)
    mean_other = sums / sizes[None, :]
    mean_other.scatter_(1, own[:, None], float("inf"))
    b = mean_other.min(dim=1).values
    denom = torch.maximum(a, b)
    s = torch.where(denom > 0, (b - a) / denom, torch.zeros_like(a))
    s = torch.where(own_size > 1, s, torch.zeros_like(s))
    return s.numpy()


def silhouette_score(embedding: Any, labels: Any, **kwargs: Any) -> float:
    """Mean silhouette over cells with groups = ``labels``, rescaled to [0, 1]: (asw + 1) / 2."""
    asw = float(silhouette_samples(embedding, labels, **kwargs).mean())
    return (asw + 1.0) / 2.0


def batch_silhouette(embedding: Any, labels: Any, batch: Any, **kwargs: Any) -> float:
    """Mean over cell types of mean(1 - |s(i)|), s computed with groups = batch in each type."""
    dev = resolve_device(embedding, kwargs.pop("device", None))
    x = as_torch_2d(embedding, device=dev, dtype=kwargs.get("dtype", torch.float32),
                    rescale=True)
    n = x.shape[0]
    label_codes = as_codes(labels, n, name="labels")
    batch_codes = as_codes(batch, n, name="batch")
    per_type = []
    for code in np.unique(label_codes):
        mask = label_codes == code
        sub_batches = batch_codes[mask]
        n_batches = len(np.unique(sub_batches))
        if n_batches == 1 or n_batches == int(mask.sum()):
            continue
        s = silhouette_samples(x[torch.from_numpy(mask).to(dev)], sub_batches, **kwargs)
        per_type.append(float(np.mean(1.0 - np.abs(s))))
    if not per_type:
        raise InputError("batch: no cell type spans two or more batches, so batch_silhouette "
                         "is undefined")
    return float(np.mean(per_type))
