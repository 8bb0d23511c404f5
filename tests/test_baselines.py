"""Baselines: the PCA pipeline against a hand-run scanpy pipeline; counts detection."""

from __future__ import annotations

import numpy as np
import pytest
import scanpy as sc

import czbench.datasets as ds
from czbench.baselines import baseline, pca_baseline
from czbench.errors import InputError


def test_pca_baseline_matches_the_documented_scanpy_pipeline():
    adata = ds.load("lung_celllines_mixology")  # exactly 3,000 genes: all are kept
    ref = adata.copy()
    ref.X = ref.X.astype(np.float32)
    sc.pp.normalize_total(ref)
    sc.pp.log1p(ref)
    sc.pp.pca(ref, n_comps=50, random_state=7)
    ours = pca_baseline(adata, seed=7)
    assert ours.shape == (adata.n_obs, 50)
    np.testing.assert_allclose(np.abs(ours), np.abs(ref.obsm["X_pca"]), atol=1e-4)


def test_pca_baseline_selects_hvgs_when_there_are_more_genes():
    adata = ds.load("pbmc_3chemistries_symphony")
    ref = adata.copy()
    ref.X = ref.X.astype(np.float32)
    sc.pp.normalize_total(ref)
    sc.pp.log1p(ref)
    sc.pp.highly_variable_genes(ref, n_top_genes=1000, flavor="seurat")
    ref = ref[:, ref.var["highly_variable"]].copy()
    sc.pp.pca(ref, n_comps=20, random_state=0)
    ours = pca_baseline(adata, n_top_genes=1000, n_comps=20, seed=0)
    np.testing.assert_allclose(np.abs(ours), np.abs(ref.obsm["X_pca"]), atol=1e-4)


def test_pca_baseline_is_bit_for_bit_reproducible():
    adata = ds.load("pbmc_3chemistries_symphony")
    assert np.array_equal(baseline("pca", adata, seed=3), baseline("pca", adata, seed=3))


def _as_registered(adata):
    return adata


def _as_unregistered(adata):
    # the same data with no registry declaration of where its counts are
    return ds.from_anndata(adata, name=adata.uns["czbench"]["name"])


SOURCES = [pytest.param(_as_registered, id="registered"),
           pytest.param(_as_unregistered, id="from_anndata")]


@pytest.mark.parametrize("source", SOURCES)
def test_scaled_data_is_refused_not_renormalised(source):
    # refused, saying the data are not counts and naming the embedding the dataset ships
    # (docs/spec.md#baselines-and-controls: scaled or log data are refused)
    adata = source(ds.load("pbmc68k_reduced"))
    with pytest.raises(InputError, match=r"no(t)? raw counts.*obsm:X_pca"):
        baseline("pca", adata)


@pytest.mark.parametrize("source", SOURCES)
def test_counts_layer_is_preferred_over_processed_x(source):
    # docs/spec.md#baselines-and-controls: raw counts are layers["counts"] if present, else X
    adata = source(ds.load("pbmc_3chemistries_symphony"))
    expected = baseline("pca", adata, seed=1)
    adata.layers["counts"] = adata.X.copy()
    adata.X = adata.layers["lognorm_original"]
    assert np.array_equal(baseline("pca", adata, seed=1), expected)


def test_raw_baseline_is_the_matrix_and_unknown_names_fail():
    adata = ds.load("lung_celllines_mixology")
    raw = baseline("raw", adata)
    assert (raw != adata.X.astype(np.float32)).nnz == 0
    with pytest.raises(InputError, match="unknown baseline 'umap'"):
        baseline("umap", adata)
