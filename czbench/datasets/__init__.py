"""Datasets: a registry of shipped, offline datasets and a loader for users' own h5ad files.

>>> import czbench.datasets as ds
>>> ds.list()                                   # doctest: +SKIP
['pbmc_3chemistries_symphony', 'lung_celllines_mixology', 'pbmc68k_reduced', ...]
>>> adata = ds.load("pbmc_3chemistries_symphony")          # doctest: +SKIP
>>> adata = ds.load("mine.h5ad", label_key="celltype", batch_key="sample")  # doctest: +SKIP

Every loaded AnnData carries the standard obs columns its data has (``cell_type`` and, where
present, ``batch`` / ``species`` / ``time`` / ``condition``), copied from the source columns,
which are kept; ``adata.uns["czbench"]`` records the name, file, sha256, column mapping and
where the raw counts are (:mod:`czbench.datasets.counts`).
"""

from __future__ import annotations

import importlib
from typing import Any

from czbench.datasets.modalities import (
    Modality,
    get_modality,
    list_modalities,
    modality_of,
    register_modality,
    row_unit_of,
    unregister_modality,
)
from czbench.datasets.registry import (
    DATA_DIR,
    STANDARD_COLUMNS,
    DatasetInfo,
    get_info,
    list_datasets,
    register,
    unregister,
)

list = list_datasets  # noqa: A001 - the public name asked for: czbench.datasets.list()
#: registry entry of a dataset (set after the imports: the submodule ``info`` has that name too)
info = get_info

#: loaders and count helpers, imported on first use (they need anndata and scanpy): the
#: registry above stays light, so ``czbench run`` can check a dataset name in well under 1 s
_LAZY = {
    "counts_matrix": "counts", "is_counts": "counts", "library_target": "counts",
    "normalize_counts": "counts", "from_anndata": "loading",
    "load": "loading", "standardize_obs": "loading", "summary": "loading",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"czbench.datasets.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'czbench.datasets' has no attribute {name!r}")


__all__ = ["DATA_DIR", "STANDARD_COLUMNS", "DatasetInfo", "Modality", "counts_matrix",
           "from_anndata", "get_info", "get_modality", "info", "is_counts", "library_target",
           "list", "list_datasets", "list_modalities", "load", "modality_of",
           "normalize_counts", "register", "register_modality", "row_unit_of",
           "standardize_obs", "summary", "unregister", "unregister_modality"]
