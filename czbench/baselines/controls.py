"""Control embeddings: fixed reference points that make scores comparable across datasets.

Definition: docs/spec.md#baselines-and-controls.

Computed from the dataset alone (never from the methods compared), so a normalised score does not
move when a new method is added (OpenProblems' reason for controls; scIB's min-max scaling over
methods moves):

* ``control:random`` — Gaussian noise, cells x 50, seeded.
* ``control:shuffled`` — the unintegrated PCA embedding with its rows permuted across all cells.
* ``control:shuffled_within_batch`` — rows permuted within each batch (needs ``batch``): keeps
  the batch effect, destroys the biology.
* ``control:onehot`` — one-hot cell type plus N(0, 0.01²) jitter: perfect biology.
* ``control:pca`` — the unintegrated PCA embedding itself (``baseline:pca``, or the dataset's
  shipped PCA when X is not counts).
* spatial data adds ``control:coordinates`` and ``control:shuffled_coordinates``
  (:mod:`czbench.baselines.spatial`).
"""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd

from czbench.baselines.expression import pca_baseline
from czbench.context import RunCache
from czbench.datasets.counts import counts_matrix
from czbench.datasets.modalities import modality_of
from czbench.errors import CZBenchError, InputError

CONTROLS = ("random", "shuffled", "shuffled_within_batch", "onehot", "pca")
RANDOM_DIMS = 50
ONEHOT_JITTER = 0.01


def shared_pca(adata: ad.AnnData, seed: int, cache: RunCache | None = None) -> np.ndarray:
    """``baseline:pca`` at ``seed``, computed once per (dataset, seed) in ``cache`` and shared
    by the baseline, the controls and ``pcr_comparison``; a fresh copy for each caller."""
    if cache is None:
        return pca_baseline(adata, seed=seed)
    return cache.get(adata, ("baseline:pca", int(seed)),
                     lambda: pca_baseline(adata, seed=seed)).copy()


def unintegrated_pca(adata: ad.AnnData, seed: int,
                     cache: RunCache | None = None) -> np.ndarray:
    """The PCA baseline, or the shipped ``X_pca`` when a transcriptomics dataset has no
    counts (on morphology: the PCA of the features; on sequences, which have no features, the
    4-mer spectrum: ``control:shuffled`` is then the k-mer baseline with its rows permuted)."""
    if modality_of(adata).name == "sequence":
        from czbench.baselines.sequence import kmer_baseline

        return kmer_baseline(adata, seed)
    if modality_of(adata).counts:
        try:
            counts_matrix(adata)
        except CZBenchError:
            if "X_pca" in adata.obsm:
                return np.asarray(adata.obsm["X_pca"], dtype=np.float32)
            raise
    return shared_pca(adata, seed, cache)


def control_embeddings(adata: ad.AnnData, *, seed: int, label_key: str = "cell_type",
                       batch_key: str = "batch",
                       cache: RunCache | None = None) -> dict[str, np.ndarray]:
    """{``control:<name>``: embedding} for every control the dataset's columns allow (the PCA
    read from ``cache`` when given)."""
    if label_key not in adata.obs:
        raise InputError(f"label_key: controls need obs column '{label_key}'")
    rng = np.random.default_rng(seed)
    n = adata.n_obs
    pca = unintegrated_pca(adata, seed, cache)
    out = {"control:random": rng.standard_normal((n, RANDOM_DIMS)).astype(np.float32),
           "control:shuffled": pca[rng.permutation(n)]}
    if batch_key in adata.obs:
        shuffled = pca.copy()
        for _, rows in pd.Series(np.arange(n)).groupby(adata.obs[batch_key].to_numpy()):
            rows = rows.to_numpy()
            shuffled[rows] = pca[rng.permutation(rows)]
        out["control:shuffled_within_batch"] = shuffled
    codes = pd.factorize(adata.obs[label_key], sort=True)[0]  # -1: no label (all zeros)
    onehot = np.vstack([np.eye(codes.max() + 1, dtype=np.float32),
                        np.zeros((1, codes.max() + 1), dtype=np.float32)])[codes]
    out["control:onehot"] = onehot + rng.normal(0, ONEHOT_JITTER, onehot.shape).astype(np.float32)
    out["control:pca"] = pca
    if modality_of(adata).spatial:  # position alone, and neighbours that are not neighbours
        from czbench.baselines.spatial import spatial_controls

        out.update(spatial_controls(adata, seed))
    return out
