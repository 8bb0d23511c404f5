"""Exact silhouette, streamed over row blocks in torch (no n x n matrix is ever held).

Definitions (METRICS.md, scib-metrics / cz-benchmarks):

* ``silhouette_samples``: s(i) = (b_i - a_i) / max(a_i, b_i) with Euclidean distances;
  s(i) = 0 for a cell alone in its group (scikit-learn's convention).
* ``silhouette_score``: mean s(i) over cells with groups = cell type, rescaled to (asw + 1) / 2.
* ``batch_silhouette``: per cell type, s(i) with groups = batch inside that cell type, replaced by
  1 - |s(i)|, averaged within the type; mean over types. Types with one batch, or where every
  cell is its own batch, are skipped.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from czbench._arrays import as_codes, as_torch_2d
from czbench.errors import InputError
from czbench.neighbors import block_rows, centred, squared_distance_block


def silhouette_samples(embedding: Any, labels: Any, *, device: str | torch.device | None = None,
                       dtype: torch.dtype = torch.float32,
                       block_size: int | None = None) -> np.ndarray:
    """Per-cell silhouette values (float64), exact, computed in row blocks.

    Args:
        embedding: (n, d) array or tensor.
        labels: n group labels (any hashable values).
        device: where to compute (default: the embedding's device, CPU for numpy input).
        dtype: precision of the distance blocks. float32 (default) agrees with scikit-learn's
            float64 values to ~1e-6 per cell (~1e-9 on the mean) thanks to centring; float64 is
            exact to ~1e-15 and about three times slower on CPU.
        block_size: rows per block (default: about 2**26 / n).
    """
    x, sq = centred(embedding, device, dtype)
    n = x.shape[0]
    codes = as_codes(labels, n)
    n_groups = int(codes.max()) + 1
    if n_groups < 2:
        raise InputError("labels: silhouette needs at least 2 distinct groups, got 1")
    codes_t = torch.from_numpy(codes).to(x.device)
    onehot = torch.zeros((n, n_groups), dtype=dtype, device=x.device)
    onehot[torch.arange(n, device=x.device), codes_t] = 1.0
    sizes = onehot.sum(dim=0)
    out = torch.empty(n, dtype=torch.float64)
    rows = block_size or block_rows(n)
    for start in range(0, n, rows):
        stop = min(n, start + rows)
        dist = squared_distance_block(x, sq, start, stop).sqrt_()
        sums = (dist @ onehot).double()  # (rows, groups): summed distance to each group
        del dist
        own = codes_t[start:stop]
        own_size = sizes[own].double()
        a = sums.gather(1, own[:, None]).squeeze(1) / (own_size - 1).clamp(min=1)
        mean_other = sums / sizes.double()[None, :]
        mean_other.scatter_(1, own[:, None], float("inf"))
        b = mean_other.min(dim=1).values
        denom = torch.maximum(a, b)
        s = torch.where(denom > 0, (b - a) / denom, torch.zeros_like(a))
        s = torch.where(own_size > 1, s, torch.zeros_like(s))
        out[start:stop] = s.cpu()
    return out.numpy()


def silhouette_score(embedding: Any, labels: Any, **kwargs: Any) -> float:
    """Mean silhouette over cells with groups = ``labels``, rescaled to [0, 1]: (asw + 1) / 2."""
    asw = float(silhouette_samples(embedding, labels, **kwargs).mean())
    return (asw + 1.0) / 2.0


def batch_silhouette(embedding: Any, labels: Any, batch: Any, **kwargs: Any) -> float:
    """Mean over cell types of mean(1 - |s(i)|), s computed with groups = batch in each type."""
    x = as_torch_2d(embedding, device=kwargs.get("device"),
                    dtype=kwargs.get("dtype", torch.float32))
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
        s = silhouette_samples(x[torch.from_numpy(mask).to(x.device)], sub_batches, **kwargs)
        per_type.append(float(np.mean(1.0 - np.abs(s))))
    if not per_type:
        raise InputError("batch: no cell type spans two or more batches, so batch_silhouette "
                         "is undefined")
    return float(np.mean(per_type))
