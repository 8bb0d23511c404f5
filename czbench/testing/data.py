"""Deterministic data for the conformance checks: a small synthetic dataset, inputs with known
structure ("perfect", shuffled, batch-separated) and the default data of the model checks."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from czbench.errors import InputError

if TYPE_CHECKING:
    import anndata as ad

#: the control value of ``example_data``'s ``condition`` column
CONTROL = "DMSO"
#: spacing of the perfect embedding's clusters (the noise has unit variance)
SEPARATION = 10.0
#: size of the per-batch offset of a batch-separated embedding
BATCH_OFFSET = 50.0
#: the dataset and cells the model checks embed by default
MODEL_DATASET = "pbmc_3chemistries_symphony"
MODEL_CELLS = 300


def example_data(seed: int = 0, n_cells: int = 300, n_genes: int = 200) -> ad.AnnData:
    """A synthetic AnnData (raw counts in X) that every built-in embedding task accepts with its
    default options: obs ``cell_type`` (5 types), ``batch`` (3 batches, a shift in expression),
    ``time`` (numeric: 0, 1, 2, 4, 8) and ``condition`` (control ``"DMSO"`` and 8 perturbations
    of 6 rows each); cell types, batches, times and conditions are drawn independently."""
    if n_cells < 100 or n_genes < 60:
        raise InputError(f"example_data: needs n_cells >= 100 and n_genes >= 60, got "
                         f"{n_cells} x {n_genes}")
    import anndata as ad

    rng = np.random.default_rng(seed)
    types = rng.integers(0, 5, n_cells)
    batches = rng.integers(0, 3, n_cells)
    times = rng.choice(np.array([0.0, 1.0, 2.0, 4.0, 8.0]), n_cells)
    condition = np.full(n_cells, CONTROL, dtype=object)
    treated = rng.choice(n_cells, 48, replace=False)
    condition[treated] = [f"drug_{i}" for i in range(8) for _ in range(6)]
    base = rng.gamma(2.0, 2.0, n_genes)
    type_effect = np.exp(rng.normal(0.0, 1.0, (5, n_genes)))
    batch_effect = np.exp(rng.normal(0.0, 0.5, (3, n_genes)))
    means = base * type_effect[types] * batch_effect[batches]
    counts = rng.poisson(means).astype(np.float32)
    obs = pd.DataFrame({
        "cell_type": pd.Categorical([f"type_{t}" for t in types]),
        "batch": pd.Categorical([f"batch_{b}" for b in batches]),
        "time": times,
        "condition": pd.Categorical(condition.astype(str)),
    }, index=[f"cell_{i:05d}" for i in range(n_cells)])
    adata = ad.AnnData(X=sp.csr_matrix(counts), obs=obs,
                       var=pd.DataFrame(index=[f"gene_{j:04d}" for j in range(n_genes)]))
    from czbench.datasets import from_anndata

    return from_anndata(adata, name=f"example_data_seed{seed}", time_key="time",
                        condition_key="condition")


def spatial_example_data(seed: int = 0, n_cells: int = 400) -> ad.AnnData:
    """A synthetic spatial dataset (:func:`czbench.datasets.synthetic.spatial_tissue`: cell
    types clustered in space, ``region`` labels), loaded as modality ``spatial``: what the
    spatial tasks' conformance checks run on."""
    from czbench.datasets import from_anndata
    from czbench.datasets.synthetic import spatial_tissue

    adata = spatial_tissue(n_cells, seed=seed, purity=0.8)
    return from_anndata(adata, name=f"spatial_example_seed{seed}", modality="spatial")


def is_numeric(values: pd.Series) -> bool:
    """A column of numbers (not booleans, not categories)."""
    return values.dtype.kind in "iuf"


def perfect_embedding(values: pd.Series | np.ndarray, seed: int,
                      numeric: bool = False) -> np.ndarray:
    """An embedding (float32) that encodes ``values``: a well-separated cluster per category
    (missing values: a cluster of their own), or with ``numeric`` the values' order along one
    axis (distinct values evenly spaced); two noise dimensions beside."""
    rng = np.random.default_rng(seed)
    series = pd.Series(np.asarray(values, dtype=object) if not numeric else values)
    n = len(series)
    if numeric:
        ranks = pd.Series(np.asarray(values, dtype=np.float64)).rank(method="dense").to_numpy()
        axis = (ranks - 1.0) * SEPARATION
        out = np.column_stack([axis + rng.normal(0.0, 0.5, n), rng.normal(0.0, 1.0, (n, 2))])
        return out.astype(np.float32)
    codes, _ = pd.factorize(series.astype(str).where(series.notna()), sort=True)
    codes = np.where(codes < 0, codes.max() + 1, codes)
    k = int(codes.max()) + 1
    centres = SEPARATION * np.eye(k, k + 2)
    return (centres[codes] + rng.normal(0.0, 1.0, (n, k + 2))).astype(np.float32)


def shuffled(values: Any, seed: int) -> Any:
    """The same rows in a seeded random order."""
    rng = np.random.default_rng([seed, 1])
    return values[rng.permutation(values.shape[0])]


def batch_separated(embedding: np.ndarray, groups: Any, seed: int) -> np.ndarray:
    """``embedding`` plus a large offset per group (each group in its own direction)."""
    rng = np.random.default_rng([seed, 2])
    codes, _ = pd.factorize(pd.Series(np.asarray(groups, dtype=object)).astype(str), sort=True)
    directions = rng.normal(size=(int(codes.max()) + 1, embedding.shape[1]))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    return (embedding + BATCH_OFFSET * directions[codes]).astype(embedding.dtype)


def metric_data(seed: int, n_cells: int = 300) -> dict[str, np.ndarray]:
    """Inputs for the metric checks: ``labels`` (5), ``batch`` (3, at random), ``time`` (the
    label's index, so one embedding orders both) and ``perfect`` (a cluster per label)."""
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 5, n_cells)
    labels = np.array([f"label_{c}" for c in codes], dtype=object)
    batch = np.array([f"batch_{b}" for b in rng.integers(0, 3, n_cells)], dtype=object)
    return {"labels": labels, "batch": batch, "time": codes.astype(np.float64),
            "perfect": perfect_embedding(labels, seed)}


def model_data() -> ad.AnnData:
    """The first ``MODEL_CELLS`` cells of the shipped ``MODEL_DATASET`` (raw counts, 3 batches),
    the default data of :func:`czbench.testing.check_model`."""
    from czbench.datasets import load

    return load(MODEL_DATASET)[:MODEL_CELLS].copy()
