"""What the reference integration methods share: the batch labels (checked), the log-normalised
highly variable genes of ``baseline:pca`` and a guard that puts global random state back.

The preprocessing is ``baseline:pca``'s (:func:`czbench.baselines.expression.pca_baseline`):
raw counts -> ``normalize_total`` -> ``log1p`` -> 3,000 highly variable genes (Seurat flavour;
all genes when there are fewer), so that "method vs PCA" compares like with like.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd

from czbench.baselines.expression import log_normalized_hvg
from czbench.errors import InputError

#: highly variable genes kept, as in ``baseline:pca``
N_TOP_GENES = 3000


def batch_labels(adata: Any, batch_key: str, model: str) -> pd.Categorical:
    """The batch of each cell (as text), or a one-line error naming ``batch_key``: a missing
    column, cells without a batch, or fewer than 2 batches."""
    if not isinstance(batch_key, str) or not batch_key:
        raise InputError(f"model {model}: batch_key: expected an obs column name, got "
                         f"{batch_key!r}")
    if batch_key not in adata.obs.columns:
        columns = ", ".join(map(str, adata.obs.columns[:20])) or "(none)"
        raise InputError(f"model {model}: batch_key: the dataset has no obs column "
                         f"'{batch_key}'; columns are: {columns}")
    values = adata.obs[batch_key]
    missing = int(values.isna().sum())
    if missing:
        raise InputError(f"model {model}: batch_key: obs['{batch_key}'] has no batch for "
                         f"{missing} cells (missing values); fill or drop them")
    labels = pd.Categorical(values.astype(str).to_numpy())
    if len(labels.categories) < 2:
        only = labels.categories[0] if len(labels.categories) else "(none)"
        raise InputError(f"model {model}: batch_key: obs['{batch_key}'] holds one batch "
                         f"('{only}'); batch correction needs at least 2")
    return labels


def log_hvg(adata: Any, model: str, n_top_genes: int = N_TOP_GENES) -> ad.AnnData:
    """``baseline:pca``'s preprocessing: the raw counts (refused with a one-line error naming
    the model when there are none), ``normalize_total``, ``log1p``, ``n_top_genes`` highly
    variable genes (Seurat flavour). A new AnnData (float32, cells in the dataset's order)."""
    return log_normalized_hvg(adata, n_top_genes=n_top_genes, what=f"model {model}")


def n_components(wanted: int, shape: tuple[int, int], model: str) -> int:
    """``wanted`` components, at most one less than the cells and the genes (as PCA allows)."""
    n = min(wanted, shape[0] - 1, shape[1] - 1)
    if n < 1:
        raise InputError(f"model {model}: needs at least 2 cells and 2 genes, the dataset has "
                         f"{shape[0]} x {shape[1]}")
    return n


@contextmanager
def global_random_state_restored(env: tuple[str, ...] = ()) -> Iterator[None]:
    """Run a block that reseeds the global generators (Python's ``random``, numpy's legacy
    generator, torch's CPU generator when torch is imported) and put them back afterwards,
    with the environment variables named in ``env``; so a method never moves the random
    streams of the code that calls it."""
    import sys

    py_state = random.getstate()
    np_state = np.random.get_state()  # noqa: NPY002 (the legacy global generator)
    torch = sys.modules.get("torch")
    torch_state = torch.get_rng_state() if torch is not None else None
    saved_env = {name: os.environ.get(name) for name in env}
    try:
        yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)  # noqa: NPY002
        if torch_state is not None:
            torch.set_rng_state(torch_state)
        for name, value in saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
