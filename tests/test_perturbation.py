"""perturbation_expression_prediction: ground truth vs scanpy, metric vs scipy, seeds, cache,
input forms, errors, and the baselines' order on the shipped THP-1 CRISPR dataset."""

from __future__ import annotations

import warnings

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from scipy.stats import spearmanr

import czbench.tasks.perturbation as pert
from czbench.errors import InputError
from czbench.perturbation_truth import normalize_counts, spearman
from czbench.tasks import get_task
from czbench.tasks.perturbation import (
    BASELINES,
    PerturbationExpressionPredictionTask,
    baseline_mean_effect,
    baseline_no_change,
    baseline_observed,
)

NAME = "perturbation_expression_prediction"
REAL = "thp1_crispr_papalexi_lowmoi_sceptre"


# -- synthetic data ----------------------------------------------------------------------------
def synthetic(seed: int = 0) -> ad.AnnData:
    """40 genes; control 150 cells; A (100 cells, 12 genes changed), B (90 cells, 8 genes),
    C (10 cells: too few), D (60 cells, no effect: too few DE genes)."""
    rng = np.random.default_rng(seed)
    sizes = {"ctrl": 150, "A": 100, "B": 90, "C": 10, "D": 60}
    base = rng.uniform(3, 12, size=40)
    rows, labels = [], []
    for condition, n in sizes.items():
        mean = base.copy()
        if condition == "A":
            mean[:6] *= 5
            mean[6:12] /= 6
        if condition == "B":
            mean[10:14] *= 4
            mean[20:24] /= 5
        rows.append(rng.poisson(mean, size=(n, 40)))
        labels += [condition] * n
    adata = ad.AnnData(X=sp.csr_matrix(np.vstack(rows).astype(np.float32)),
                       obs=pd.DataFrame({"condition": labels},
                                        index=[f"cell{i}" for i in range(len(labels))]),
                       var=pd.DataFrame(index=[f"g{j}" for j in range(40)]))
    return adata


@pytest.fixture(autouse=True)
def fresh_cache(monkeypatch):
    monkeypatch.setattr(pert, "_TRUTH_CACHE", {})


@pytest.fixture(scope="module")
def syn() -> ad.AnnData:
    return synthetic()


def prepared(adata, **options) -> PerturbationExpressionPredictionTask:
    task = get_task(NAME, control="ctrl", **options)
    task.prepare(adata)
    return task


# -- references --------------------------------------------------------------------------------
def test_normalize_by_hand(syn):
    counts = syn.X.toarray().astype(np.float64)
    totals = counts.sum(axis=1, keepdims=True)
    expected = counts / totals * np.median(totals)
    np.testing.assert_allclose(normalize_counts(syn.X).toarray(), expected, rtol=1e-12)
    np.testing.assert_allclose(normalize_counts(counts), expected, rtol=1e-12)


def test_spearman_matches_scipy():
    rng = np.random.default_rng(1)
    for n in (2, 5, 9, 50):
        x = rng.integers(0, 4, size=n).astype(float)   # ties
        y = rng.normal(size=n)
        expected = spearmanr(x, y).statistic
        assert spearman(x, y) == pytest.approx(0.0 if np.isnan(expected) else expected, abs=1e-12)
    assert spearman(np.ones(6), np.arange(6.0)) == 0.0    # NaN -> 0
    assert spearman([1.0, 2.0, 3.0], [3.0, 2.0, 1.0]) == pytest.approx(-1.0)


def test_metric_by_hand_and_skips(syn):
    task = prepared(syn)
    assert task.evaluated_ == ["A", "B"]
    assert set(task.skipped_) == {"C", "D"}
    assert "min_cells" in task.skipped_["C"] and "min_de_genes" in task.skipped_["D"]
    truth = task.truth_
    rng = np.random.default_rng(5)
    prediction = pd.DataFrame(rng.gamma(2.0, 3.0, size=syn.shape), index=syn.obs_names,
                              columns=syn.var_names)
    results = task.run(prediction, syn.obs)
    by_condition = {r.params["condition"]: r.value for r in results
                    if r.metric == "spearman_correlation"}
    for condition in ("A", "B"):
        targets = truth[(truth.condition == condition) & truth.is_target]
        n_de = int((truth.condition == condition).sum())
        assert len(targets) == max(5, n_de // 2)
        cells = syn.obs_names[syn.obs["condition"] == condition]
        controls = task.matched_controls_[condition]
        assert len(controls) == len(cells) == len(set(controls))          # 1:1, no repeats
        assert set(syn.obs.loc[controls, "condition"]) == {"ctrl"}
        genes = list(targets.gene)
        effect = np.log((prediction.loc[cells, genes].mean().to_numpy() + 1e-8)
                        / (prediction.loc[controls, genes].mean().to_numpy() + 1e-8))
        expected = spearmanr(effect, targets.logfoldchange).statistic
        assert by_condition[condition] == pytest.approx(expected, abs=1e-12)
    values = list(by_condition.values())
    summary = {r.metric: r.value for r in results if not r.params}
    assert summary["mean_spearman_correlation"] == pytest.approx(np.mean(values))
    assert summary["median_spearman_correlation"] == pytest.approx(np.median(values))


def test_input_forms_agree(syn):
    task = prepared(syn)
    values = baseline_observed(syn) * np.random.default_rng(2).uniform(0.5, 1.5, size=syn.shape)
    frame = pd.DataFrame(values, index=syn.obs_names, columns=syn.var_names)
    expected = [r.value for r in task.run(values, syn.obs)]
    shuffled = frame.sample(frac=1.0, random_state=0)[list(reversed(frame.columns))]
    forms = [frame, shuffled, sp.csr_matrix(values),
             ad.AnnData(X=values, obs=pd.DataFrame(index=syn.obs_names),
                        var=pd.DataFrame(index=syn.var_names))]
    for form in forms:
        assert [r.value for r in task.run(form)] == pytest.approx(expected, abs=1e-12)
    # a subset of cells/genes is fine as long as evaluated cells and targets are there
    keep = sorted({c for v in task.matched_controls_.values() for c in v}
                  | set(syn.obs_names[syn.obs.condition.isin(["A", "B"])]))
    genes = sorted(set(task.truth_.query("is_target").gene))
    assert [r.value for r in task.run(frame.loc[keep, genes])] == pytest.approx(expected)


def test_seeded_reproducibility_subset_and_cache(syn, tmp_path, monkeypatch):
    a = prepared(syn, seed=3)
    monkeypatch.setattr(pert, "_TRUTH_CACHE", {})
    b = prepared(syn, seed=3)
    assert a._truth == b._truth and a._truth is not b._truth
    c = prepared(syn, seed=4)
    assert c.matched_controls_ != a.matched_controls_
    # evaluating a subset of conditions draws the same targets and controls
    only_b = prepared(syn, seed=3, conditions=["B"])
    assert only_b._truth["conditions"]["B"] == a._truth["conditions"]["B"]
    # file cache: written inside cache_dir only, then read back
    cache = tmp_path / "cache"
    first = prepared(syn, seed=3, cache_dir=cache)
    files = list(cache.iterdir())
    assert len(files) == 1 and files[0].name.startswith("perturbation_truth_")
    monkeypatch.setattr(pert, "_TRUTH_CACHE", {})
    monkeypatch.setattr(pert, "ground_truth", lambda *a, **k: pytest.fail("not cached"))
    second = prepared(syn, seed=3, cache_dir=cache)
    assert second._truth == first._truth
    # changed data -> different key (never a stale hit)
    other = syn.copy()
    other.X = other.X.copy()
    other.X[0, 0] += 1
    monkeypatch.undo()
    monkeypatch.setattr(pert, "_TRUTH_CACHE", {})
    prepared(other, seed=3, cache_dir=cache)
    assert len(list(cache.iterdir())) == 2


def test_errors(syn):
    with pytest.raises(InputError, match="control value 'nope'"):
        get_task(NAME, control="nope").prepare(syn)
    no_column = syn.copy()
    del no_column.obs["condition"]
    with pytest.raises(InputError, match="condition_key"):
        prepared(no_column)
    with pytest.raises(InputError, match="control"):       # unregistered dataset, no control
        get_task(NAME).prepare(syn)
    with pytest.raises(InputError, match="conditions: Z"):
        prepared(syn, conditions=["Z"])
    with pytest.raises(InputError, match="prepare"):
        get_task(NAME, control="ctrl").run(np.zeros(syn.shape))
    task = prepared(syn)
    frame = pd.DataFrame(baseline_observed(syn), index=syn.obs_names, columns=syn.var_names)
    target = task.truth_.query("is_target").gene.iloc[0]
    cell = task.matched_controls_["A"][0]
    for bad, pattern in [
        (frame.drop(columns=[target]), f"target genes are missing, e.g. .*{target}"),
        (frame.drop(index=task.matched_controls_["B"][:2]), "evaluated cells are missing"),
        (frame.to_numpy()[:, :10], "dataset's shape"),
        (-frame, "negative values"),
        (frame.mask((frame.index == cell)[:, None] & (frame.columns == target)[None, :]),
         "NaN"),
    ]:
        with pytest.raises(InputError, match=pattern) as info:
            task.run(bad)
        assert "\n" not in str(info.value)
    with pytest.raises(InputError, match="target_fraction"):
        get_task(NAME, target_fraction=0)


def test_baselines_on_synthetic(syn):
    task = prepared(syn)
    means = {name: task.run(f(syn, control="ctrl"))[-2].value for name, f in BASELINES.items()}
    assert means["no_change"] == 0.0
    assert means["observed"] > 0.5
    no_change = baseline_no_change(syn, control="ctrl")
    assert np.allclose(no_change, no_change[0])
    mean_effect = baseline_mean_effect(syn, control="ctrl", exclude_conditions=["D"])
    ctrl = no_change[0]
    norm = baseline_observed(syn)
    labels = syn.obs.condition.to_numpy()
    log_effect = {c: np.log((norm[labels == c].mean(0) + 1e-8) / (ctrl + 1e-8))
                  for c in "ABC"}
    expected_a = ctrl * np.exp((log_effect["B"] + log_effect["C"]) / 2)
    np.testing.assert_allclose(mean_effect[labels == "A"][0], expected_a, rtol=1e-10)
    np.testing.assert_allclose(mean_effect[labels == "D"][0], ctrl)


# -- the shipped dataset -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def real():
    import czbench.datasets as datasets

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        adata = datasets.load(REAL)
    task = get_task(NAME, seed=42)                 # control/exclusions from the registry
    task.check_inputs(adata.obs, adata.n_obs)
    task.prepare(adata)
    return adata, task


def test_de_matches_scanpy_on_real_condition(real):
    import scanpy as sc

    adata, task = real
    reference = ad.AnnData(X=adata.X.astype(np.float64), obs=adata.obs[["condition"]].copy(),
                           var=pd.DataFrame(index=adata.var_names))
    sc.pp.normalize_total(reference)
    sc.pp.log1p(reference)
    sc.tl.rank_genes_groups(reference, "condition", groups=["STAT1"],
                            reference="non-targeting", method="wilcoxon")
    frame = sc.get.rank_genes_groups_df(reference, "STAT1")
    frame = frame[(frame.pvals_adj < 1e-4) & (frame.logfoldchanges.abs() >= 1)]
    ours = task.truth_.query("condition == 'STAT1'").set_index("gene")
    assert set(ours.index) == set(frame.names)
    np.testing.assert_allclose(ours.loc[frame.names, "logfoldchange"],
                               frame.logfoldchanges, atol=1e-6)
    np.testing.assert_allclose(ours.loc[frame.names, "pval_adj"], frame.pvals_adj, rtol=1e-6)


def test_real_dataset_baseline_order(real):
    adata, task = real
    assert "ambiguous" not in task.evaluated_ + list(task.skipped_)
    assert len(task.evaluated_) + len(task.skipped_) == 25
    assert len(task.evaluated_) >= 3
    assert task.resolved_["control"] == "non-targeting"
    assert task.resolved_["exclude_conditions"] == ["ambiguous"]
    means = {}
    for name, baseline in BASELINES.items():
        prediction = baseline(adata)
        assert prediction.shape == adata.shape
        results = task.run(prediction, adata.obs)
        assert len(results) == len(task.evaluated_) + 2
        means[name] = results[-2].value
    assert means["observed"] > means["mean_effect"] >= means["no_change"]


# -- the estimator and the callback: same numbers as the task ----------------------------------
def _observed_truth_setup():
    import czbench.datasets as ds

    adata = ds.load("thp1_crispr_papalexi_lowmoi_sceptre")
    return adata


def test_estimator_fit_learns_truth_and_score_matches_the_task():
    from sklearn.base import clone

    from czbench.estimators import PerturbationExpressionPredictionBenchmark

    adata = _observed_truth_setup()
    keep = ~adata.obs["condition"].isin(["ambiguous"]).to_numpy()
    counts, labels = adata.X[keep], adata.obs["condition"].to_numpy()[keep]
    est = PerturbationExpressionPredictionBenchmark(control="non-targeting", random_state=0)
    assert est.fit(counts, labels) is est
    assert est.evaluated_ and all(c != "non-targeting" for c in est.evaluated_)
    observed = normalize_counts(counts)
    sub = adata[keep].copy()
    task = get_task(NAME, seed=0)
    task.prepare(sub)
    expected = {r.metric: r.value for r in task.run(normalize_counts(sub.X)) if not r.params}
    assert est.score(observed) == pytest.approx(expected["mean_spearman_correlation"], abs=1e-12)
    no_change = np.tile(np.asarray(observed[labels == "non-targeting"].mean(axis=0)),
                        (observed.shape[0], 1))
    assert est.score(no_change) == 0.0
    assert clone(est).get_params() == est.get_params()
    with pytest.raises(InputError, match="same cells"):
        est.score(observed[:10])
    with pytest.raises(InputError, match="control"):
        PerturbationExpressionPredictionBenchmark().fit(counts, labels)


def test_callback_scores_predictions_of_every_cell():
    import lightning as L
    import torch

    from czbench.callbacks import BenchmarkCallback
    from czbench.datamodules import AnnDataModule

    class Identity(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.dummy = torch.nn.Parameter(torch.zeros(1))

        def validation_step(self, batch, batch_idx):
            return None

    dm = AnnDataModule("thp1_crispr_papalexi_lowmoi_sceptre", split_fractions=(0.0, 1.0, 0.0),
                       batch_size=4096)
    callback = BenchmarkCallback([NAME], embedding_fn=lambda m, b: b["x"], seed=0)
    trainer = L.Trainer(accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False,
                        callbacks=[callback])
    trainer.validate(Identity(), datamodule=dm, verbose=False)
    got = {callback.log_name(r): r.value for r in callback.results_}
    task = get_task(NAME, seed=0)
    task.prepare(dm.adata)
    for r in task.run(dm.adata.X.astype(np.float32)):
        assert got[callback.log_name(r)] == pytest.approx(r.value, abs=1e-9)
