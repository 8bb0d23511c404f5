"""Raw counts: the one place that knows where a dataset keeps them and how they are normalised.

Used by the baselines (PCA), the perturbation ground truth and the DataModule. Where the counts
are: the ``layer`` asked for; else the dataset's declared ``counts_layer`` (recorded by
:func:`czbench.datasets.load` from the registry: a layer name, or ``""`` = the dataset has no
counts); else ``layers["counts"]`` when present; else X. They must be non-negative integers.

Normalisation is scanpy's ``normalize_total``: each cell scaled to ``target_sum`` (default: the
median total of the cells that have counts). **A cell with no counts stays all zero** -- the one
convention for empty cells everywhere in czbench.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from czbench.datasets.modalities import refuse_counts
from czbench.errors import InputError

#: values inspected by :func:`is_counts` (enough to catch scaled or log data)
COUNTS_CHECK_VALUES = 1_000_000


def is_counts(matrix: Any) -> bool:
    """True when ``matrix`` holds non-negative integers (raw counts); checks the first million
    stored values."""
    values = matrix.data if sp.issparse(matrix) else np.asarray(matrix).ravel()
    values = np.asarray(values[:COUNTS_CHECK_VALUES])
    if values.size == 0:
        return True
    return bool(np.isfinite(values).all() and values.min() >= 0
                and np.all(np.mod(values, 1) == 0))


def counts_location(adata: Any, layer: str | None = None, *, what: str = "counts") -> str | None:
    """Where the counts of ``adata`` are: a layer name, or ``None`` for X (see module doc); data
    of a modality without counts (e.g. morphology) is a one-line error naming ``what``."""
    refuse_counts(adata, what)
    if layer is not None:
        if layer not in adata.layers:
            raise InputError(f"layer: the dataset has no layer '{layer}'; layers are: "
                             f"{', '.join(adata.layers) or '(none)'}")
        return layer
    meta = adata.uns.get("czbench", {}) if hasattr(adata, "uns") else {}
    declared = meta.get("counts_layer") if isinstance(meta, dict) else None
    if declared == "":
        name = meta.get("name", "the dataset")
        shipped = f"obsm:{next(iter(adata.obsm))}" if len(adata.obsm) else "obsm:KEY"
        raise InputError(f"counts: {name} ships no raw counts (its registry entry says so); "
                         f"use an embedding it ships instead, e.g. {shipped}")
    if declared is not None:
        if declared not in adata.layers:
            raise InputError(f"counts: the registry puts the counts in layers['{declared}'], "
                             f"which is missing")
        return str(declared)
    return "counts" if "counts" in adata.layers else None


def counts_matrix(adata: Any, layer: str | None = None, *, what: str = "counts") -> Any:
    """The raw-count matrix of ``adata`` (see module doc), or a one-line InputError naming what
    was found instead. ``what`` names the caller in the error (e.g. ``baseline:pca``)."""
    if getattr(adata, "isbacked", False) and layer is None and \
            counts_location(adata, what=what) is None:
        raise InputError(f"{what}: the dataset is open backed (X stays on disk), and this needs "
                         f"its counts in memory; load it without --backed (backed=False)")
    where = counts_location(adata, layer, what=what)
    matrix = adata.X if where is None else adata.layers[where]
    if matrix is None:
        raise InputError(f"{what}: the dataset has no expression matrix (X is empty)")
    if not is_counts(matrix):
        name = adata.uns.get("czbench", {}).get("name", "the dataset")
        place = "X" if where is None else f"layers['{where}']"
        hint = (f"; use a shipped embedding instead, e.g. obsm:{next(iter(adata.obsm))}"
                if len(adata.obsm) else "")
        raise InputError(f"{what}: {place} of {name} is not raw counts (negative, non-integer "
                         f"or non-finite values, e.g. scaled or log data); czbench normalises "
                         f"counts itself and never re-normalises processed data{hint}")
    return matrix


def row_totals(counts: Any, chunk: int = 10_000) -> np.ndarray:
    """Each cell's total count (float64), read ``chunk`` rows at a time (works on backed X)."""
    n = counts.shape[0]
    parts = [np.asarray(counts[start:start + chunk].sum(axis=1)).ravel()
             for start in range(0, n, chunk)]
    return np.concatenate(parts).astype(np.float64) if parts else np.zeros(0)


def library_target(counts: Any) -> float:
    """scanpy ``normalize_total``'s default target: the median total of cells with counts."""
    totals = row_totals(counts)
    totals = totals[totals > 0]
    if totals.size == 0:
        raise InputError("counts: every cell has zero total counts; expected UMI counts")
    return float(np.median(totals))


def normalize_counts(counts: Any, target_sum: float | None = None) -> sp.csr_matrix | np.ndarray:
    """Counts (cells x genes, sparse or dense) scaled per cell to ``target_sum`` (float64;
    default :func:`library_target`), by ``scanpy.pp.normalize_total`` so the values match
    scanpy's bit for bit. Cells with no counts stay zero."""
    import anndata as ad
    import scanpy as sc

    target = library_target(counts) if target_sum is None else float(target_sum)
    matrix = (sp.csr_matrix(counts, dtype=np.float64) if sp.issparse(counts)
              else np.array(counts, dtype=np.float64))
    data = ad.AnnData(X=matrix)
    sc.pp.normalize_total(data, target_sum=target)
    return data.X


def normalize_rows(block: np.ndarray, target_sum: float) -> np.ndarray:
    """Dense rows scaled to ``target_sum`` each (empty rows stay zero): the per-batch form of
    :func:`normalize_counts` used by the DataModule."""
    totals = block.sum(axis=1, keepdims=True)
    return block * (target_sum / np.where(totals > 0, totals, 1.0))
