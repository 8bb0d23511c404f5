"""The held-out protocol: the seeded stratified split, the public data, and reading a
submission's embedding in the published cell order.

Every error here names only public facts (the published cell count and names, shapes, file
formats), never a held-out value.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from czbench.errors import InputError

NPY_MAGIC = b"\x93NUMPY"
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
ZIP_MAGIC = b"PK\x03\x04"
#: the widest embedding a submission may have
MAX_DIMS = 4096


def stratified_split(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Boolean mask of the public cells: in every class, ``round(fraction * n)`` cells drawn
    with ``numpy.random.default_rng(seed)`` (at least one cell on each side of a class with two
    or more). Classes are visited in sorted order, so the mask depends only on (labels,
    fraction, seed)."""
    if not 0.0 < fraction < 1.0:
        raise InputError(f"public_fraction: expected a number between 0 and 1, got {fraction}")
    labels = np.asarray(labels).astype(str)
    rng = np.random.default_rng(seed)
    mask = np.zeros(len(labels), dtype=bool)
    for value in np.unique(labels):
        where = np.flatnonzero(labels == value)
        take = int(round(fraction * len(where)))
        if len(where) >= 2:
            take = min(max(take, 1), len(where) - 1)
        mask[rng.permutation(where)[:take]] = True
    return mask


def publish(adata: ad.AnnData, hold_out: list[str], seed: int
            ) -> tuple[ad.AnnData, ad.AnnData]:
    """(full, public): the cells in a seeded published order, renamed ``cell_00000``...
    ``full`` keeps every obs column (server only); ``public`` holds X, the var names and the
    obs columns that are not held out -- no layers, obsm or uns, which could carry labels."""
    missing = [c for c in hold_out if c not in adata.obs.columns]
    if missing:
        raise InputError(f"hold_out: column '{missing[0]}' is not in the dataset's obs "
                         f"(it has {', '.join(map(str, adata.obs.columns))})")
    order = np.random.default_rng([seed, 1]).permutation(adata.n_obs)
    width = max(5, len(str(adata.n_obs)))
    names = pd.Index([f"cell_{i:0{width}d}" for i in range(adata.n_obs)])
    X = adata.X[order]
    obs = adata.obs.iloc[order].copy()
    obs.index = names
    var = pd.DataFrame(index=pd.Index(adata.var_names.astype(str)))
    full = ad.AnnData(X=X, obs=obs, var=var.copy())
    public_obs = obs.drop(columns=list(hold_out))
    for column in public_obs.columns:
        if isinstance(public_obs[column].dtype, pd.CategoricalDtype):
            public_obs[column] = public_obs[column].cat.remove_unused_categories()
    public = ad.AnnData(X=X.copy(), obs=public_obs, var=var.copy())
    return full, public


@lru_cache(maxsize=16)
def published_names(public_h5ad: str) -> pd.Index:
    """The published cell names, read from the public file (the web server never loads the
    held-out columns)."""
    adata = ad.read_h5ad(public_h5ad, backed="r")
    try:
        return pd.Index(adata.obs_names.astype(str))
    finally:
        adata.file.close()


def sniff(head: bytes) -> str | None:
    """The kind of an upload from its first bytes: ``npy``, ``h5ad`` or ``mlflow`` (a zipped
    package folder); None otherwise. Client file names are never read."""
    if head.startswith(NPY_MAGIC):
        return "npy"
    if head.startswith(HDF5_MAGIC):
        return "h5ad"
    if head.startswith(ZIP_MAGIC):
        return "mlflow"
    return None


def check_embedding(values: object, n_cells: int) -> np.ndarray:
    """``values`` as a float32 cells x dims array, or a one-line error naming public facts."""
    if sp.issparse(values):
        values = values.toarray()
    array = np.asarray(values)
    if array.dtype.kind not in "fiu" or array.ndim != 2:
        raise InputError(f"embedding: expected a 2-D numeric array of {n_cells} rows, got "
                         f"{array.ndim}-D {array.dtype}")
    if array.shape[0] != n_cells or not 1 <= array.shape[1] <= MAX_DIMS:
        raise InputError(f"embedding: expected shape ({n_cells}, 1..{MAX_DIMS}) in the "
                         f"published cell order, got {tuple(array.shape)}")
    array = array.astype(np.float32)
    if not np.isfinite(array).all():
        raise InputError("embedding: expected finite values, got NaN or infinity")
    return array


def read_embedding(path: Path, file_kind: str, obs_names: pd.Index) -> np.ndarray:
    """The embedding stored at ``path`` in the published order: a ``.npy`` (loaded with
    ``allow_pickle=False``) or an ``.h5ad`` whose X rows are named by the published cells."""
    n_cells = len(obs_names)
    if file_kind == "npy":
        try:
            values = np.load(path, allow_pickle=False)
        except ValueError as err:  # object arrays need pickle: refused
            raise InputError(f"embedding: a .npy of numbers is expected ({err})") from None
        except Exception as err:
            raise InputError(f"embedding: not a readable .npy file ({type(err).__name__})"
                             ) from None
        return check_embedding(values, n_cells)
    if file_kind == "h5ad":
        try:
            adata = ad.read_h5ad(path)
        except Exception as err:
            raise InputError(f"embedding: not a readable .h5ad file ({type(err).__name__})"
                             ) from None
        names = pd.Index(adata.obs_names.astype(str))
        if len(names) != n_cells or not names.is_unique or not names.isin(obs_names).all():
            raise InputError(f"embedding: expected obs_names to be the {n_cells} published "
                             f"cell names (cell_...), each once")
        return check_embedding(adata.X, n_cells)[names.get_indexer(obs_names)]
    raise InputError(f"submission: expected a .npy, an .h5ad or a zipped MLflow package, got "
                     f"{file_kind}")
