"""``AnnDataModule``: a LightningDataModule over an AnnData (registered name, h5ad, or memory).

Each batch is a dict::

    {"x": float32 (batch, genes), "index": int64 row ids into the AnnData,
     "cell_type": int64 codes, "batch": int64 codes, ...}   # the obs columns present

``dm.categories[column]`` maps codes back to names. Sparse rows are densified per batch only.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anndata as ad
import lightning as L
import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
from torch.utils.data import DataLoader

from czbench.datasets import STANDARD_COLUMNS, from_anndata, load
from czbench.errors import InputError
from czbench.sampling import stratified_split, stratified_subset

SPLITS = ("train", "val", "test")


class _Rows:
    """Reads rows of X (in memory or backed h5ad) as a dense float32 array, optionally
    normalised (normalize_total to ``target_sum`` + log1p) and reordered to a gene list."""

    def __init__(self, adata: ad.AnnData, gene_index: np.ndarray | None,
                 target_sum: float | None, log1p: bool) -> None:
        self.backed_path = str(adata.filename) if adata.isbacked else None
        self.matrix = None if adata.isbacked else adata.X
        self.gene_index = gene_index
        self.target_sum = target_sum
        self.log1p = log1p
        self._handle: ad.AnnData | None = None

    def __getstate__(self) -> dict[str, Any]:  # worker processes reopen backed files
        return {**self.__dict__, "_handle": None}

    def _source(self) -> Any:
        if self.matrix is not None:
            return self.matrix
        if self._handle is None:
            self._handle = ad.read_h5ad(self.backed_path, backed="r")
        return self._handle.X

    def read(self, rows: np.ndarray) -> np.ndarray:
        order = np.argsort(rows, kind="stable")
        block = self._source()[rows[order]]  # h5py needs increasing indices
        block = block.toarray() if sp.issparse(block) else np.asarray(block)
        block = block.astype(np.float32, copy=False)[np.argsort(order, kind="stable")]
        if self.target_sum is not None:
            totals = block.sum(axis=1, keepdims=True)
            block = block * (self.target_sum / np.where(totals > 0, totals, 1.0))
        if self.log1p:
            block = np.log1p(block)
        if self.gene_index is not None:
            out = np.zeros((block.shape[0], len(self.gene_index)), dtype=np.float32)
            present = self.gene_index >= 0
            out[:, present] = block[:, self.gene_index[present]]
            block = out
        return block


class AnnDataModule(L.LightningDataModule):
    """Seeded, stratified train/val/test splits of an AnnData as dict batches.

    Args:
        data: registered dataset name, .h5ad path, or AnnData.
        label_key, batch_key, species_key, time_key, condition_key: source obs columns for the
            standard columns (as in :func:`czbench.datasets.load`).
        obs_keys: standard columns to put in each batch as integer codes (default: the ones the
            data has among ``cell_type``, ``batch``, ``species``, ``time``, ``condition``;
            times travel as codes of their distinct values and are decoded back by the callback).
        normalize: ``normalize_total`` (to the median cell total of the whole data) + ``log1p``
            per batch, as many models expect raw counts to be prepared.
        genes: gene names in the order the model expects; genes the data lacks are zero
            columns (listed in ``missing_genes``).
        split_fractions: (train, val, test) fractions, stratified by ``cell_type``.
        split_key: obs column with values train / val / test, used instead of fractions.
        val_max_cells: seeded, stratified subsample of the validation split.
        backed: open an h5ad file in backed mode (rows read lazily; for data larger than memory).
        seed: seed of the split and the subsample.
        batch_size, num_workers, pin_memory, **loader_kwargs: passed to every DataLoader.
    """

    def __init__(self, data: str | Path | ad.AnnData, *, label_key: str | None = None,
                 batch_key: str | None = None, species_key: str | None = None,
                 time_key: str | None = None, condition_key: str | None = None,
                 obs_keys: Sequence[str] | None = None, normalize: bool = False,
                 genes: Sequence[str] | None = None,
                 split_fractions: Sequence[float] = (0.8, 0.1, 0.1),
                 split_key: str | None = None, val_max_cells: int | None = None,
                 backed: bool = False, seed: int = 42, batch_size: int = 256,
                 num_workers: int = 0, pin_memory: bool = False,
                 **loader_kwargs: Any) -> None:
        super().__init__()
        keys = {"label_key": label_key, "batch_key": batch_key, "species_key": species_key,
                "time_key": time_key, "condition_key": condition_key}
        if isinstance(data, ad.AnnData):
            self.adata = data if "czbench" in data.uns and not any(keys.values()) else \
                from_anndata(data, **keys)
        else:
            self.adata = load(data, backed=backed, **keys)
        self.name = self.adata.uns.get("czbench", {}).get("name", "anndata")
        if len(split_fractions) != 3 or any(f < 0 for f in split_fractions) or \
                abs(sum(split_fractions) - 1.0) > 1e-6:
            raise InputError(f"split_fractions: expected three non-negative fractions summing "
                             f"to 1, got {tuple(split_fractions)}")
        self.split_fractions = tuple(float(f) for f in split_fractions)
        self.split_key = split_key
        self.val_max_cells = val_max_cells
        self.seed = int(seed)
        self.loader_kwargs = {"batch_size": batch_size, "num_workers": num_workers,
                              "pin_memory": pin_memory, **loader_kwargs}
        obs = self.adata.obs
        default = [c for c in STANDARD_COLUMNS if c in obs]
        self.obs_keys = list(obs_keys) if obs_keys is not None else default
        for key in self.obs_keys:
            if key not in obs:
                raise InputError(f"obs_keys: column '{key}' not in obs; columns are: "
                                 f"{', '.join(map(str, obs.columns))}")
        self.categories: dict[str, list[str]] = {}
        self.codes: dict[str, np.ndarray] = {}
        for key in self.obs_keys:
            values = pd.Categorical(obs[key].astype(str))
            self.categories[key] = [str(c) for c in values.categories]
            self.codes[key] = values.codes.astype(np.int64)
        self.missing_genes: list[str] = []
        gene_index = None
        if genes is not None:
            position = pd.Index(self.adata.var_names).get_indexer(list(genes))
            self.missing_genes = [g for g, p in zip(genes, position, strict=True) if p < 0]
            if len(self.missing_genes) == len(genes):
                raise InputError("genes: none of the requested genes are in var_names")
            gene_index = position
        target_sum = self._median_total() if normalize else None
        self.rows = _Rows(self.adata, gene_index, target_sum, log1p=normalize)
        self.n_genes = len(genes) if genes is not None else self.adata.n_vars
        self.split_indices: dict[str, np.ndarray] = {}

    def _median_total(self) -> float:
        totals = []
        for start in range(0, self.adata.n_obs, 10_000):
            block = self.adata.X[start:start + 10_000]
            totals.append(np.asarray(block.sum(axis=1)).ravel())
        return float(np.median(np.concatenate(totals)))

    # -- splits ------------------------------------------------------------------------------
    def setup(self, stage: str | None = None) -> None:
        if self.split_indices:
            return
        n = self.adata.n_obs
        if self.split_key is not None:
            if self.split_key not in self.adata.obs:
                raise InputError(f"split_key: column '{self.split_key}' not in obs")
            column = self.adata.obs[self.split_key].astype(str).to_numpy()
            unknown = set(column) - set(SPLITS)
            if unknown:
                raise InputError(f"split_key: column '{self.split_key}' holds "
                                 f"{sorted(unknown)[:3]}; expected train / val / test")
            parts = [np.flatnonzero(column == s) for s in SPLITS]
        else:
            labels = self.codes.get("cell_type", np.zeros(n, dtype=np.int64))
            parts = stratified_split(labels, self.split_fractions, self.seed)
        self.split_indices = dict(zip(SPLITS, parts, strict=True))
        if self.val_max_cells is not None:
            val = self.split_indices["val"]
            labels = self.codes.get("cell_type", np.zeros(n, dtype=np.int64))[val]
            self.split_indices["val"] = val[stratified_subset(labels, self.val_max_cells,
                                                              self.seed)]

    def collate(self, rows: list[int]) -> dict[str, torch.Tensor]:
        """Batch of AnnData rows -> dict of tensors."""
        index = np.asarray(rows, dtype=np.int64)
        batch = {"x": torch.from_numpy(self.rows.read(index)),
                 "index": torch.from_numpy(index)}
        for key, codes in self.codes.items():
            batch[key] = torch.from_numpy(codes[index])
        return batch

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        self.setup()
        indices = self.split_indices[split].tolist()
        generator = torch.Generator().manual_seed(self.seed) if shuffle else None
        return DataLoader(indices, shuffle=shuffle, collate_fn=self.collate,
                          generator=generator, **self.loader_kwargs)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)

    def predict_dataloader(self) -> DataLoader:
        return DataLoader(list(range(self.adata.n_obs)), shuffle=False, collate_fn=self.collate,
                          **self.loader_kwargs)

    def obs_frame(self, codes: dict[str, np.ndarray]) -> pd.DataFrame:
        """Decode integer code columns back to their category names."""
        return pd.DataFrame({k: np.asarray(self.categories[k])[v] if k in self.categories
                             else v for k, v in codes.items()})
