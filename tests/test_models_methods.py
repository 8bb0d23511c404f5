"""The reference integration methods (Harmony, ComBat, Scanorama, scVI) on shipped data.

Properties: each mixes the batches of ``pbmc_3chemistries_symphony`` clearly better than
``baseline:pca`` (``entropy_per_cell``) while keeping cell types apart (kNN label agreement, which
also catches rows put back in the wrong order); each is bit-identical for a seed; the wrappers
match the libraries run by hand; bad inputs are one-line errors; global random state is left as
it was found.
"""

from __future__ import annotations

import os
import random

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scanpy as sc
import torch
from sklearn.neighbors import KNeighborsClassifier

import czbench.datasets as ds
from czbench.baselines import baseline
from czbench.context import RunContext
from czbench.errors import InputError
from czbench.models import get_model
from czbench.tasks import get_task

PBMC = "pbmc_3chemistries_symphony"
MORPHOLOGY = "lincs_cellpainting_a549_1plate_cytominereval"


@pytest.fixture(scope="module")
def pbmc() -> ad.AnnData:
    return ds.load(PBMC)


@pytest.fixture(scope="module")
def pca_scores(pbmc: ad.AnnData) -> dict[str, float]:
    pca = baseline("pca", pbmc, seed=0)
    return {"entropy": batch_entropy(pca, pbmc), "labels": label_agreement(pca, pbmc)}


@pytest.fixture(scope="module")
def harmony_pair(pbmc: ad.AnnData) -> tuple[np.ndarray, np.ndarray]:
    model = get_model("harmony")
    return model.embed(pbmc, seed=0), model.embed(pbmc, seed=0)


def batch_entropy(embedding: np.ndarray, adata: ad.AnnData) -> float:
    task = get_task("batch_integration", metrics="entropy_per_cell")
    (result,) = task.run(embedding, adata.obs, context=RunContext(seed=0))
    return float(result.value)


def label_agreement(embedding: np.ndarray, adata: ad.AnnData, k: int = 15) -> float:
    """Share of cells whose k nearest neighbours' majority cell type is their own (cells whose
    rows were shuffled would score near chance)."""
    labels = adata.obs["cell_type"].astype(str).to_numpy()
    knn = KNeighborsClassifier(n_neighbors=k + 1).fit(embedding, labels)
    neighbours = knn.kneighbors(embedding, return_distance=False)[:, 1:]
    votes = [pd.Series(labels[row]).mode().iloc[0] for row in neighbours]
    return float(np.mean(np.asarray(votes) == labels))


def assert_integrates(embedding: np.ndarray, adata: ad.AnnData, pca: dict[str, float]) -> None:
    entropy = batch_entropy(embedding, adata)
    assert entropy > pca["entropy"] + 0.1, (entropy, pca["entropy"])
    assert label_agreement(embedding, adata) > pca["labels"] - 0.1


def same_up_to_sign(ours: np.ndarray, ref: np.ndarray, atol: float) -> None:
    signs = np.sign(np.sum(ours * ref, axis=0))
    np.testing.assert_allclose(ours * signs, ref, atol=atol)


# --------------------------------------------------------------------------------------------
# Harmony
# --------------------------------------------------------------------------------------------

def test_harmony_mixes_batches_better_than_pca_and_is_deterministic(pbmc, pca_scores,
                                                                   harmony_pair):
    first, second = harmony_pair
    assert first.shape == (pbmc.n_obs, 50) and first.dtype == np.float32
    assert np.array_equal(first, second)
    assert not np.allclose(first, get_model("harmony").embed(pbmc, seed=1), atol=1e-3)
    assert_integrates(first, pbmc, pca_scores)


def test_harmony_is_harmonypy_on_the_pca_baseline(pbmc, harmony_pair):
    import harmonypy

    pcs = baseline("pca", pbmc, seed=0)  # cells x PCs: harmonypy reads the orientation itself
    ref = harmonypy.run_harmony(pcs.astype(np.float64), pbmc.obs, "batch", verbose=False,
                                random_state=0).Z_corr
    ref = np.asarray(ref if ref.shape == pcs.shape else ref.T)
    np.testing.assert_allclose(harmony_pair[0], ref, rtol=1e-5, atol=1e-5)


def test_harmony_runs_on_morphology_and_its_identity_follows_its_parameters():
    wells = ds.load(MORPHOLOGY)
    out = get_model("harmony", batch_key="compound", max_iter_harmony=2).embed(wells, seed=0)
    assert out.shape == (wells.n_obs, 50)
    ident = get_model("harmony").identity()
    assert ident == get_model("model:harmony").identity()
    assert ident["params"]["theta"] == 2.0 and ident["weights_sha256"] is None
    assert get_model("harmony", theta=2).identity() == ident
    assert get_model("harmony", theta=1.0).identity()["sha256"] != ident["sha256"]
    assert get_model("harmony", batch_key="donor").identity()["sha256"] != ident["sha256"]


# --------------------------------------------------------------------------------------------
# ComBat
# --------------------------------------------------------------------------------------------

def test_combat_matches_scanpy_run_by_hand_and_mixes_batches(pbmc, pca_scores):
    ours = get_model("combat").embed(pbmc, seed=0)
    ref = ad.AnnData(X=pbmc.X.astype(np.float32), obs=pbmc.obs[["batch"]].copy())
    sc.pp.normalize_total(ref)
    sc.pp.log1p(ref)  # 1,767 genes: all are kept (fewer than 3,000)
    with np.errstate(divide="ignore"):  # scanpy's convergence check on zero-variance genes
        sc.pp.combat(ref, key="batch")
    sc.pp.pca(ref, n_comps=50, random_state=0)
    assert ours.shape == (pbmc.n_obs, 50)
    same_up_to_sign(ours, ref.obsm["X_pca"], atol=1e-5 * np.abs(ref.obsm["X_pca"]).max())
    assert np.array_equal(ours, get_model("combat").embed(pbmc, seed=0))
    assert_integrates(ours, pbmc, pca_scores)


def test_combat_selects_hvgs_like_the_pca_baseline(pbmc):
    ours = get_model("combat", n_comps=10, n_top_genes=500).embed(pbmc, seed=0)
    ref = ad.AnnData(X=pbmc.X.astype(np.float32), obs=pbmc.obs[["batch"]].copy())
    sc.pp.normalize_total(ref)
    sc.pp.log1p(ref)
    sc.pp.highly_variable_genes(ref, n_top_genes=500, flavor="seurat")
    ref = ref[:, ref.var["highly_variable"].to_numpy()].copy()
    with np.errstate(divide="ignore"):  # scanpy's convergence check on zero-variance genes
        sc.pp.combat(ref, key="batch")
    sc.pp.pca(ref, n_comps=10, random_state=0)
    same_up_to_sign(ours, ref.obsm["X_pca"], atol=1e-5 * np.abs(ref.obsm["X_pca"]).max())


# --------------------------------------------------------------------------------------------
# Scanorama
# --------------------------------------------------------------------------------------------

def test_scanorama_mixes_batches_keeps_cell_order_and_is_deterministic(pbmc, pca_scores):
    model = get_model("scanorama")
    np.random.seed(123)  # noqa: NPY002 (the legacy global generator is the point)
    random.seed(123)
    np_state, py_state = np.random.get_state()[1].copy(), random.getstate()  # noqa: NPY002
    first = model.embed(pbmc, seed=0)
    # scanorama seeds numpy's and Python's global generators; czbench puts them back
    now = np.random.get_state()[1]  # noqa: NPY002
    assert np.array_equal(now, np_state) and random.getstate() == py_state
    assert first.shape == (pbmc.n_obs, 100)
    assert np.array_equal(first, model.embed(pbmc, seed=0))
    assert not np.allclose(first, model.embed(pbmc, seed=1), atol=1e-3)
    assert_integrates(first, pbmc, pca_scores)


# --------------------------------------------------------------------------------------------
# scVI
# --------------------------------------------------------------------------------------------

def test_scvi_epoch_budget():
    assert get_model("scvi").epochs(1_200) == 50
    assert get_model("scvi").epochs(1_000_000) == 8  # scvi-tools' heuristic below the cap
    assert get_model("scvi", max_epochs=7).epochs(1_200) == 7


def test_scvi_trains_quietly_and_puts_global_state_back(pbmc, capfd):
    import scvi

    torch.manual_seed(11)
    np.random.seed(11)  # noqa: NPY002 (the legacy global generator is the point)
    states = (torch.get_rng_state(), np.random.get_state()[1].copy(),  # noqa: NPY002
              random.getstate())
    threads, seed_env = torch.get_num_threads(), os.environ.get("PL_GLOBAL_SEED")
    out = get_model("scvi", max_epochs=1, n_top_genes=500).embed(pbmc, seed=0)
    assert out.shape == (pbmc.n_obs, 10)
    assert torch.equal(torch.get_rng_state(), states[0])
    assert np.array_equal(np.random.get_state()[1], states[1])  # noqa: NPY002
    assert random.getstate() == states[2]
    assert torch.get_num_threads() == threads and os.environ.get("PL_GLOBAL_SEED") == seed_env
    assert scvi.settings.seed is None
    printed = capfd.readouterr()
    assert "Seed set" not in printed.err + printed.out
    assert "GPU available" not in printed.err + printed.out


def test_scvi_trains_on_the_counts_of_seurat_v3_hvgs(pbmc):
    from czbench.models.methods.scvi import hvg_counts

    ours = hvg_counts(pbmc, "scvi", n_top_genes=500)
    ref = ad.AnnData(X=pbmc.X.astype(np.float32), var=pbmc.var[[]].copy())
    sc.pp.highly_variable_genes(ref, n_top_genes=500, flavor="seurat_v3")
    ref = ref[:, ref.var["highly_variable"].to_numpy()]
    assert list(ours.var_names) == list(ref.var_names)
    assert (ours.X != ref.X).nnz == 0 and list(ours.obs_names) == list(pbmc.obs_names)


@pytest.mark.slow
def test_scvi_mixes_batches_better_than_pca_and_is_deterministic(pbmc, pca_scores):
    model = get_model("scvi")
    first = model.embed(pbmc, seed=0)
    assert first.shape == (pbmc.n_obs, 10)
    assert np.array_equal(first, model.embed(pbmc, seed=0))
    short = get_model("scvi", max_epochs=5)
    assert not np.allclose(short.embed(pbmc, seed=0), short.embed(pbmc, seed=1), atol=1e-3)
    assert_integrates(first, pbmc, pca_scores)


# --------------------------------------------------------------------------------------------
# inputs
# --------------------------------------------------------------------------------------------

METHODS = ["harmony", "combat", "scanorama", "scvi"]


@pytest.mark.parametrize("name", METHODS)
def test_a_missing_batch_column_is_a_one_line_error(pbmc, name):
    with pytest.raises(InputError, match="batch_key: the dataset has no obs column 'donor'") \
            as err:
        get_model(name, batch_key="donor").embed(pbmc, seed=0)
    assert "\n" not in str(err.value) and f"model {name}" in str(err.value)


@pytest.mark.parametrize("name", METHODS)
def test_one_batch_is_a_one_line_error(pbmc, name):
    one = pbmc[pbmc.obs["batch"] == "5p"].copy()
    with pytest.raises(InputError, match="at least 2") as err:
        get_model(name).embed(one, seed=0)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("name", ["combat", "scanorama", "scvi"])
def test_counts_based_methods_refuse_morphology(name):
    wells = ds.load(MORPHOLOGY)
    with pytest.raises(InputError, match=f"model {name}") as err:
        get_model(name, batch_key="compound").embed(wells, seed=0)
    assert "\n" not in str(err.value)


def test_combat_refuses_a_batch_of_one_cell(pbmc):
    data = pbmc.copy()
    data.obs["batch"] = data.obs["batch"].astype(str)
    data.obs.iloc[0, data.obs.columns.get_loc("batch")] = "alone"
    with pytest.raises(InputError, match="2 cells per batch; batch 'alone'"):
        get_model("combat").embed(data, seed=0)


def test_scanorama_exact_search_needs_knn_cells_per_batch(pbmc):
    data = pbmc.copy()
    data.obs["batch"] = data.obs["batch"].astype(str)
    data.obs.iloc[:5, data.obs.columns.get_loc("batch")] = "tiny"
    with pytest.raises(InputError, match="knn: exact search .* the smallest batch has 5"):
        get_model("scanorama", approx=False).embed(data, seed=0)


@pytest.mark.parametrize(("name", "params"), [
    ("harmony", {"theta": -1.0}), ("harmony", {"max_iter_harmony": 0}),
    ("scanorama", {"knn": "20"}), ("scanorama", {"approx": 1}),
    ("scvi", {"n_latent": 0}), ("combat", {"n_comps": 1.5}), ("combat", {"batch_key": ""}),
])
def test_bad_parameters_are_one_line_errors(name, params):
    with pytest.raises(InputError, match=f"model {name}: {next(iter(params))}"):
        get_model(name, **params)
