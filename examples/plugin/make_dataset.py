"""Rebuild the plugin's dataset from the czbench-shipped ``lung_celllines_mixology``.

The subset: the 450 cells of the 3-cell-line design (H1975, H2228, HCC827; batches
``celseq2`` and ``dropseq``, i.e. two technologies) and the 1,000 genes with the most UMIs in
those cells (ties broken by gene id), raw counts kept. Run: ``python make_dataset.py``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

import czbench.datasets as ds

OUT = Path(__file__).parent / "src" / "czbench_plugin_example" / "data" / "lung_mixology_3cl.h5ad"


def build() -> Path:
    adata = ds.load("lung_celllines_mixology")
    cells = adata[adata.obs["design"] == "3 cell lines"]
    totals = np.asarray(cells.X.sum(axis=0)).ravel()
    order = np.lexsort((cells.var_names.to_numpy(), -totals))[:1000]
    subset = cells[:, np.sort(order)].copy()
    subset.obs = subset.obs[["cell_type", "batch", "technology"]].copy()
    for column in subset.obs:
        subset.obs[column] = subset.obs[column].astype(str).astype("category")
    subset.uns = {"source": "subset of czbench's lung_celllines_mixology (make_dataset.py)"}
    subset.write_h5ad(OUT, compression="gzip")
    print(OUT.name, subset.shape, hashlib.sha256(OUT.read_bytes()).hexdigest())
    return OUT


if __name__ == "__main__":
    build()
