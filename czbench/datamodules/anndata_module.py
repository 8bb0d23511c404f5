"""``AnnDataModule``: a LightningDataModule over an AnnData (registered name, h5ad, or memory).

Each batch is a dict::

    {"x": float32 (batch, genes), "index": int64 row ids into the AnnData,
     "cell_type": int64 codes, "batch": int64 codes, ...}   # the obs columns present

plus ``"spatial"``: float32 (batch, 2) coordinates when the dataset is spatial (µm); the obs
columns the spatial tasks read (``spatial_x``, ``spatial_y``, ``spatial_tile``) travel as
codes like the others.

``dm.categories[column]`` maps codes back to names. The data is read in ``setup`` (or when
``adata`` / ``n_genes`` is first asked for), never in ``__init__``; DataLoader workers receive
only the expression rows' source and the obs codes, never the whole AnnData.
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

from czbench.datasets import STANDARD_COLUMNS, from_anndata, get_info, list_datasets, load
from czbench.datasets.counts import counts_location, is_counts, library_target, normalize_rows
from czbench.errors import InputError
from czbench.utils.checks import DEFAULT_SEED
from czbench.utils.sampling import stratified_split, stratified_subset

SPLITS = ("train", "val", "test")


class RowReader:
    """Reads rows of one matrix (in memory, or X of a backed h5ad reopened in each worker) as
    dense float32, optionally normalised (counts to ``target_sum``, then ``log1p``) and
    reordered to a gene list. This, not the AnnData, is what DataLoader workers receive."""

    def __init__(self, adata: ad.AnnData, layer: str | None, gene_index: np.ndarray | None,
                 target_sum: float | None, log1p: bool) -> None:
        backed = adata.isbacked and layer is None
        self.backed_path = str(adata.filename) if backed else None
        self.matrix = None if backed else (adata.X if layer is None else adata.layers[layer])
        self.gene_index = gene_index
        self.target_sum = target_sum
        self.log1p = log1p
        self._handle: ad.AnnData | None = None

    def __getstate__(self) -> dict[str, Any]:  # worker processes reopen backed files
        return {**self.__dict__, "_handle": None}

    def source(self) -> Any:
        if self.matrix is not None:
            return self.matrix
        if self._handle is None:
            self._handle = ad.read_h5ad(self.backed_path, backed="r")
        return self._handle.X

    def read(self, rows: np.ndarray) -> np.ndarray:
        order = np.argsort(rows, kind="stable")
        block = self.source()[rows[order]]  # h5py needs increasing indices
        block = block.toarray() if sp.issparse(block) else np.asarray(block)
        block = block.astype(np.float32, copy=False)[np.argsort(order, kind="stable")]
        if self.target_sum is not None:
            block = normalize_rows(block, self.target_sum).astype(np.float32, copy=False)
        if self.log1p:
            block = np.log1p(block)
        if self.gene_index is not None:
            out = np.zeros((block.shape[0], len(self.gene_index)), dtype=np.float32)
            present = self.gene_index >= 0
            out[:, present] = block[:, self.gene_index[present]]
            block = out
        return block


class Collate:
    """Turns a list of row ids into a batch dict (picklable: a reader and the obs codes)."""

    def __init__(self, reader: RowReader, codes: dict[str, np.ndarray],
                 spatial: np.ndarray | None = None) -> None:
        self.reader = reader
        self.codes = codes
        self.spatial = spatial

    def __call__(self, rows: list[int]) -> dict[str, torch.Tensor]:
        index = np.asarray(rows, dtype=np.int64)
        batch = {"x": torch.from_numpy(self.reader.read(index)),
                 "index": torch.from_numpy(index)}
        for key, codes in self.codes.items():
            batch[key] = torch.from_numpy(codes[index])
        if self.spatial is not None:
            batch["spatial"] = torch.from_numpy(self.spatial[index])
        return batch


def _registered_columns(adata: ad.AnnData) -> list[str]:
    """Obs columns a registered dataset's task options name (e.g. the compound column a
    Cell Painting plate's tasks read), beyond the standard ones."""
    meta = adata.uns.get("czbench", {})
    if not meta.get("registered") or meta.get("name") not in list_datasets():
        return []
    found: dict[str, None] = {}
    for options in get_info(meta["name"]).task_options.values():
        for value in options.values():
            for item in (value if isinstance(value, tuple | list) else (value,)):
                if isinstance(item, str) and item in adata.obs and \
                        item not in STANDARD_COLUMNS:
                    found[item] = None
    return list(found)


class AnnDataModule(L.LightningDataModule):
    """Seeded, stratified train/val/test splits of an AnnData as dict batches.

    Args:
        data: registered dataset name, .h5ad path, or AnnData.
        label_key, batch_key, species_key, time_key, condition_key: source obs columns for the
            standard columns (as in :func:`czbench.datasets.load`).
        spatial_key: obsm key of the cells' 2-D coordinates (makes the data spatial; default
            ``spatial`` on a spatial dataset): each batch then carries ``batch["spatial"]``.
        obs_keys: obs columns to put in each batch as integer codes (default: the ones the
            data has among ``cell_type``, ``batch``, ``species``, ``time``, ``condition``, plus
            the columns a registered dataset's task options read, e.g. ``compound``; times
            travel as codes of their distinct values and are decoded back by the callback).
        normalize: read the raw counts (:mod:`czbench.datasets.counts`), scale each cell to the
            median total of the cells with counts, then ``log1p`` -- per batch, as many models
            expect; data that is not counts (or a modality without counts, e.g. Cell Painting
            features, which ``x`` carries as given) is refused.
        target_sum: with ``normalize``, the total each cell is scaled to (default: the median
            total of this data's cells with counts). A packaged model passes its training
            data's, so a cell's input does not depend on the other cells of a new file.
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
                 spatial_key: str | None = None, obs_keys: Sequence[str] | None = None,
                 normalize: bool = False,
                 target_sum: float | None = None, genes: Sequence[str] | None = None,
                 split_fractions: Sequence[float] = (0.8, 0.1, 0.1),
                 split_key: str | None = None, val_max_cells: int | None = None,
                 backed: bool = False, seed: int = DEFAULT_SEED, batch_size: int = 256,
                 num_workers: int = 0, pin_memory: bool = False,
                 **loader_kwargs: Any) -> None:
        super().__init__()
        if not isinstance(data, ad.AnnData | str | Path):
            raise InputError(f"data: expected a registered dataset name, an .h5ad path or an "
                             f"AnnData, got {type(data).__name__}")
        if isinstance(data, str | Path) and str(data) not in list_datasets() \
                and not Path(data).expanduser().exists():
            raise InputError(f"data: '{data}' is neither a registered dataset "
                             f"({', '.join(list_datasets())}) nor an existing .h5ad file")
        if len(split_fractions) != 3 or any(f < 0 for f in split_fractions) or \
                abs(sum(split_fractions) - 1.0) > 1e-6:
            raise InputError(f"split_fractions: expected three non-negative fractions summing "
                             f"to 1, got {tuple(split_fractions)}")
        self.data = data
        self.keys = {"label_key": label_key, "batch_key": batch_key,
                     "species_key": species_key, "time_key": time_key,
                     "condition_key": condition_key, "spatial_key": spatial_key}
        self.obs_keys_requested = None if obs_keys is None else list(obs_keys)
        self.normalize = bool(normalize)
        if target_sum is not None and (isinstance(target_sum, bool) or
                                       not float(target_sum) > 0):
            raise InputError(f"target_sum: expected a positive number, got {target_sum!r}")
        self.target_sum = None if target_sum is None else float(target_sum)
        self.genes = None if genes is None else list(genes)
        self.split_fractions = tuple(float(f) for f in split_fractions)
        self.split_key = split_key
        self.val_max_cells = val_max_cells
        self.backed = bool(backed)
        self.seed = int(seed)
        self.loader_kwargs = {"batch_size": batch_size, "num_workers": num_workers,
                              "pin_memory": pin_memory, **loader_kwargs}
        self._adata: ad.AnnData | None = None
        self._obs_keys: list[str] = []
        self._categories: dict[str, list[str]] = {}
        self._codes: dict[str, np.ndarray] = {}
        self._missing_genes: list[str] = []
        self.split_indices: dict[str, np.ndarray] = {}
        self._collate: Collate | None = None

    # -- loading -------------------------------------------------------------------------------
    @property
    def adata(self) -> ad.AnnData:
        """The dataset (read on first use)."""
        self._load()
        assert self._adata is not None
        return self._adata

    @property
    def obs_keys(self) -> list[str]:
        """The standard obs columns each batch carries as integer codes."""
        self._load()
        return self._obs_keys

    @property
    def categories(self) -> dict[str, list[str]]:
        """Per obs key, the category names its codes index."""
        self._load()
        return self._categories

    @property
    def codes(self) -> dict[str, np.ndarray]:
        """Per obs key, every cell's integer code."""
        self._load()
        return self._codes

    @property
    def missing_genes(self) -> list[str]:
        """Requested ``genes`` the data lacks (zero columns in ``x``)."""
        self._load()
        return self._missing_genes

    @property
    def name(self) -> str:
        return self.adata.uns.get("czbench", {}).get("name", "anndata")

    @property
    def n_genes(self) -> int:
        """Columns of ``x`` in each batch (``len(genes)``, else the dataset's genes)."""
        return len(self.genes) if self.genes is not None else int(self.adata.n_vars)

    def _load(self) -> None:
        if self._adata is not None:
            return
        data, keys = self.data, self.keys
        if isinstance(data, ad.AnnData):
            adata = data if "czbench" in data.uns and not any(keys.values()) else \
                from_anndata(data, **keys)
        else:
            adata = load(data, backed=self.backed, **keys)
        obs = adata.obs
        obs_keys = self.obs_keys_requested if self.obs_keys_requested is not None else \
            [*(c for c in STANDARD_COLUMNS if c in obs), *_registered_columns(adata),
             *(c for c in ("spatial_x", "spatial_y", "spatial_tile") if c in obs)]
        for key in obs_keys:
            if key not in obs:
                raise InputError(f"obs_keys: column '{key}' not in obs; columns are: "
                                 f"{', '.join(map(str, obs.columns))}")
        categories, codes = {}, {}
        for key in obs_keys:  # a missing value (NaN) has code -1 and decodes back to NaN
            column = obs[key]
            values = pd.Categorical(column.astype(str).where(column.notna().to_numpy()))
            categories[key] = [str(c) for c in values.categories]
            codes[key] = values.codes.astype(np.int64)
        gene_index, missing = None, []
        if self.genes is not None:
            position = pd.Index(adata.var_names).get_indexer(self.genes)
            missing = [g for g, p in zip(self.genes, position, strict=True) if p < 0]
            if len(missing) == len(self.genes):
                raise InputError("genes: none of the requested genes are in var_names")
            gene_index = position
        layer, target_sum = None, None
        if self.normalize:
            try:
                layer = counts_location(adata, what="normalize")
            except InputError as err:
                message = str(err)
                raise InputError(message if message.startswith("normalize:") else
                                 f"normalize: {message}") from None
            matrix = adata.X if layer is None else adata.layers[layer]
            if not is_counts(matrix[: min(adata.n_obs, 2000)]):
                where = "X" if layer is None else f"layers['{layer}']"
                raise InputError(f"normalize: {where} is not raw counts (negative, non-integer "
                                 f"or non-finite values); pass normalize=False for data that is "
                                 f"already processed")
            target_sum = self.target_sum if self.target_sum is not None else \
                library_target(matrix)
        self._obs_keys, self._categories, self._codes = list(obs_keys), categories, codes
        self._missing_genes = missing
        spatial = obs[["spatial_x", "spatial_y"]].to_numpy(np.float32) \
            if {"spatial_x", "spatial_y"} <= set(obs.columns) else None
        self._collate = Collate(RowReader(adata, layer, gene_index, target_sum,
                                          log1p=self.normalize), codes, spatial)
        self._adata = adata

    # -- splits ------------------------------------------------------------------------------
    def setup(self, stage: str | None = None) -> None:
        """Read the data (once) and draw the seeded splits."""
        self._load()
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
        self._load()
        assert self._collate is not None
        return self._collate(rows)

    def _loader(self, indices: list[int], shuffle: bool) -> DataLoader:
        self._load()
        generator = torch.Generator().manual_seed(self.seed) if shuffle else None
        return DataLoader(indices, shuffle=shuffle, collate_fn=self._collate,
                          generator=generator, **self.loader_kwargs)

    def _split_loader(self, split: str, shuffle: bool) -> DataLoader:
        self.setup()
        return self._loader(self.split_indices[split].tolist(), shuffle)

    def train_dataloader(self) -> DataLoader:
        return self._split_loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._split_loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._split_loader("test", shuffle=False)

    def predict_dataloader(self) -> DataLoader:
        return self._loader(list(range(self.adata.n_obs)), shuffle=False)

    def obs_frame(self, codes: dict[str, np.ndarray]) -> pd.DataFrame:
        """Decode integer code columns back to their category names (code -1: NaN)."""
        def decode(key: str, values: np.ndarray) -> Any:
            names = np.asarray([*self.categories[key], None], dtype=object)
            return names[np.where(np.asarray(values) < 0, len(names) - 1, values)]

        return pd.DataFrame({k: decode(k, v) if k in self.categories else v
                             for k, v in codes.items()})
