"""Task ``replicate_retrieval`` on the shipped screens.

- The LINCS Cell Painting plate (384 wells): every compound's mAP equals an independent
  brute-force implementation of copairs' definition written here (loops over wells, no
  ``czbench.metrics.retrieval``), and the plate-level numbers match the dataset's notes.
- The THP-1 CRISPR screen (Papalexi et al. 2021) with its registered options, on its PCA: the
  pseudo-bulk profiles equal a pandas groupby mean, and the IFN-gamma pathway knockouts
  (IFNGR1, IFNGR2, JAK2, STAT1) are retrieved far above a shuffled-label control.
"""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest

import czbench.datasets as ds
from czbench.baselines import baseline
from czbench.context import RunContext
from czbench.errors import CZBenchWarning
from czbench.tasks import get_task

PLATE = "lincs_cellpainting_a549_1plate_cytominereval"
THP1 = "thp1_crispr_papalexi_lowmoi_sceptre"


def _load(name: str) -> ad.AnnData:
    try:
        return ds.load(name)
    except Exception:  # noqa: BLE001 - the loader is being extended; read the file itself
        return ad.read_h5ad(ds.info(name).path())


def _per_perturbation(run) -> dict[str, float]:
    return {r.params["perturbation"]: r.value for r in run.results
            if r.metric == "mean_average_precision" and r.params}


def _headline(run, metric: str) -> float:
    return next(r.value for r in run.results if r.metric == metric and not r.params)


def brute_force_map(x: np.ndarray, labels: list[str], control: str) -> dict[str, float]:
    """copairs' phenotypic-activity mAP, one query at a time: the query's positives are the
    other rows of its label, its negatives every control row; cosine similarity, highest
    first, equal similarities ranking positives first (copairs' stable sort puts the positive
    pairs first); AP = mean over positives of the precision at each positive's rank."""
    x = np.asarray(x, dtype=np.float64)
    norms = [float(np.sqrt(np.dot(row, row))) for row in x]

    def cosine(i: int, j: int) -> float:
        return float(np.dot(x[i], x[j])) / (norms[i] * norms[j])

    controls = [j for j, lab in enumerate(labels) if lab == control]
    aps: dict[str, list[float]] = {}
    for q, lab in enumerate(labels):
        if lab == control:
            continue
        ranked = [(cosine(q, j), True) for j, other in enumerate(labels)
                  if other == lab and j != q]
        ranked += [(cosine(q, j), False) for j in controls]
        ranked.sort(key=lambda pair: (-pair[0], not pair[1]))
        hits, precisions = 0, []
        for rank, (_, positive) in enumerate(ranked, start=1):
            if positive:
                hits += 1
                precisions.append(hits / rank)
        aps.setdefault(lab, []).append(sum(precisions) / len(precisions))
    return {lab: sum(v) / len(v) for lab, v in aps.items()}


# --------------------------------------------------------------------------------------------
# Cell Painting plate: wells are profiles
# --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def plate() -> ad.AnnData:
    return _load(PLATE)


def test_plate_map_equals_a_brute_force_copairs_per_compound(plate):
    x = np.asarray(plate.X)
    task = get_task("replicate_retrieval", **ds.info(PLATE).task_options["replicate_retrieval"])
    assert task.perturbation_key == "compound" and task.profile_definition == "row"
    run = task.evaluate(x, plate.obs, context=RunContext(seed=42))
    got = _per_perturbation(run)
    expected = brute_force_map(x, plate.obs["compound"].astype(str).tolist(), "DMSO")
    assert len(expected) == 58 and set(got) == set(expected)
    for compound, value in expected.items():
        assert got[compound] == pytest.approx(value, abs=1e-6), compound
    mean = _headline(run, "mean_average_precision")
    assert mean == pytest.approx(np.mean(list(got.values())), abs=1e-12)
    # the dataset's notes (its own numpy implementation, raw features): 0.618, 40 above 0.5
    assert mean == pytest.approx(0.618, abs=1e-3)
    assert sum(v > 0.5 for v in expected.values()) == 40
    assert run.resolved["n_controls"] == 24 and run.resolved["n_profiles"] == 384
    fraction = _headline(run, "fraction_retrieved")
    corrected = run.resolved["corrected_p_value"]
    assert fraction == np.mean([p < 0.05 for p in corrected.values()])
    assert 0.3 < fraction <= 1  # a real plate: many compounds are active


def test_plate_shuffled_compounds_fall_to_the_random_level(plate):
    obs = plate.obs[["compound"]].astype(str)
    treated = np.flatnonzero(obs["compound"].to_numpy() != "DMSO")
    shuffled = obs["compound"].to_numpy().copy()
    shuffled[treated] = shuffled[np.random.default_rng(0).permutation(treated)]
    obs["compound"] = shuffled
    task = get_task("replicate_retrieval", perturbation_key="compound", null_size=1000)
    run = task.evaluate(np.asarray(plate.X), obs, context=RunContext(seed=0))
    # the notes: random ranking gives 0.264 (99th percentile 0.278) with this structure
    assert _headline(run, "mean_average_precision") < 0.35
    assert _headline(run, "fraction_retrieved") < 0.1


# --------------------------------------------------------------------------------------------
# THP-1 CRISPR screen: pseudo-bulk per (guide, replicate)
# --------------------------------------------------------------------------------------------

#: knockouts of the IFN-gamma receptor pathway: the screen's strongest transcriptional effects
IFNG_PATHWAY = ("IFNGR1", "IFNGR2", "JAK2", "STAT1")


@pytest.fixture(scope="module")
def thp1() -> tuple[ad.AnnData, np.ndarray]:
    adata = _load(THP1)
    return adata, baseline("pca", adata, seed=0)


def _thp1_task(**extra):
    return get_task("replicate_retrieval",
                    **{**ds.info(THP1).task_options["replicate_retrieval"], **extra})


def test_thp1_pseudo_bulk_profiles_equal_a_groupby_mean(thp1):
    adata, pca = thp1
    task = _thp1_task()
    obs = adata.obs
    kept = obs[obs["perturbation"] != "ambiguous"]
    frame = pd.DataFrame(pca[(obs["perturbation"] != "ambiguous").to_numpy()]
                         .astype(np.float64))
    for key in ("perturbation", "grna_top", "bio_rep"):
        frame[key] = kept[key].astype(str).to_numpy()
    grouped = frame.groupby(["perturbation", "grna_top", "bio_rep"])
    sizes = grouped.size()
    means = grouped.mean()[sizes >= 10]
    means = means[means.index.get_level_values(0) != "SPI1"]  # no group of >= 10 cells
    plan = task.plan(obs)
    assert plan.perturbations_dropped == {"SPI1": 0}
    got_keys = list(zip(*(plan.keys[c].astype(str) for c in plan.keys.columns), strict=True))
    assert sorted(got_keys) == list(means.index)
    index = pd.MultiIndex.from_tuples(got_keys)
    profiles = task.profiles(pca, obs)
    assert profiles.dtype == pca.dtype == np.float32
    np.testing.assert_allclose(pd.DataFrame(profiles, index=index).loc[means.index],
                               means.to_numpy(), rtol=1e-5, atol=1e-5)
    exact = task.profiles(pca.astype(np.float64), obs)
    np.testing.assert_allclose(pd.DataFrame(exact, index=index).loc[means.index],
                               means.to_numpy(), rtol=0, atol=1e-12)
    assert (plan.sizes >= 10).all() and plan.n_profiles_dropped_small == int((sizes < 10).sum())


def test_thp1_ifng_pathway_knockouts_are_retrieved_above_shuffled_labels(thp1):
    adata, pca = thp1
    task = _thp1_task()
    with pytest.warns(CZBenchWarning, match="SPI1"):
        run = task.evaluate(pca, adata.obs, context=RunContext(seed=0))
    per_gene = _per_perturbation(run)
    genes = set(adata.obs["perturbation"].astype(str)) - {"ambiguous", "non-targeting"}
    assert len(genes) == 25 and set(per_gene) == genes - {"SPI1"}
    assert 0 <= _headline(run, "fraction_retrieved") <= 1
    assert run.resolved["profile"] == "mean of rows per (perturbation, grna_top, bio_rep)"
    assert run.resolved["n_rows_excluded"] == int((adata.obs["perturbation"] == "ambiguous")
                                                   .sum())
    # shuffled control: genes and guides permuted together over the targeting cells
    obs = adata.obs[["perturbation", "grna_top", "bio_rep"]].astype(str)
    targeting = np.flatnonzero(~obs["perturbation"].isin(["ambiguous", "non-targeting"]))
    perm = np.random.default_rng(0).permutation(targeting)
    for key in ("perturbation", "grna_top"):
        values = obs[key].to_numpy().copy()
        values[targeting] = values[perm]
        obs[key] = values
    with pytest.warns(CZBenchWarning):
        shuffled = task.evaluate(pca, obs, context=RunContext(seed=0))
    null = _per_perturbation(shuffled)
    assert _headline(shuffled, "fraction_retrieved") == 0
    for gene in IFNG_PATHWAY:
        assert per_gene[gene] > 0.95, gene
        assert per_gene[gene] > max(null.values()) + 0.2, gene
        assert run.resolved["corrected_p_value"][gene] < 0.05, gene
    assert _headline(run, "mean_average_precision") > 0.4
