"""Task-level properties: good embeddings beat broken ones, determinism, label-prediction
protocol against scikit-learn, and clear errors for bad input."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_validate
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

import czbench.datasets as ds
from czbench.context import RunContext
from czbench.errors import InputError
from czbench.tasks import get_task

MEAN = "MEAN(knn,lr,rf)"
TASKS = ("clustering", "embedding", "label_prediction", "batch_integration")


# --------------------------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def pbmc():
    adata = ds.load("pbmc68k_reduced")
    return np.asarray(adata.obsm["X_pca"]), adata.obs.copy()


@pytest.fixture(scope="module")
def onehot(pbmc):
    """One-hot cell-type embedding with a little seeded jitter, and the same rows shuffled."""
    _, obs = pbmc
    codes, _ = pd.factorize(obs["cell_type"], sort=True)
    rng = np.random.default_rng(0)
    good = np.eye(codes.max() + 1)[codes] + rng.normal(0.0, 0.05, (len(codes), codes.max() + 1))
    shuffled = good[rng.permutation(len(codes))]
    return {"onehot": good, "shuffled": shuffled}


@pytest.fixture(scope="module")
def run_cache(pbmc, onehot):
    """Task results per (task, embedding name), computed once."""
    _, obs = pbmc
    cache: dict = {}

    def get(task: str, which: str):
        if (task, which) not in cache:
            cache[task, which] = get_task(task).run(onehot[which], obs,
                                                    context=RunContext(seed=42))
        return cache[task, which]

    return get


@pytest.fixture(scope="module")
def lp_default(pbmc):
    """label_prediction with the default classifiers on X_pca, seed 42."""
    x, obs = pbmc
    return get_task("label_prediction").run(x, obs, context=RunContext(seed=42))


def _value(results, metric, **params):
    hits = [r.value for r in results if r.metric == metric and r.params == params]
    assert len(hits) == 1, (metric, params, results)
    return hits[0]


def _batch_data(shift: float):
    """4 batches x 3 cell types; ``shift`` moves each batch along its own direction."""
    rng = np.random.default_rng(17)
    n, d = 800, 10
    cell_type = rng.choice(np.array(["alpha", "beta", "gamma"]), n)
    batch = rng.choice(np.array(["b0", "b1", "b2", "b3"]), n)
    centres = {c: rng.normal(0.0, 4.0, d) for c in ("alpha", "beta", "gamma")}
    directions = {b: rng.normal(0.0, 1.0, d) for b in ("b0", "b1", "b2", "b3")}
    x = np.stack([centres[c] for c in cell_type]) + rng.normal(size=(n, d))
    x = x + shift * np.stack([directions[b] for b in batch])
    return x, pd.DataFrame({"cell_type": cell_type, "batch": batch})


# --------------------------------------------------------------------------------------------
# bio metrics: one-hot cell types beat the same embedding shuffled across cells
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("task,metric,params", [
    ("clustering", "adjusted_rand_index", {}),
    ("clustering", "normalized_mutual_info", {}),
    ("embedding", "silhouette_score", {}),
    ("label_prediction", "mean_fold_accuracy", {"classifier": MEAN}),
    ("label_prediction", "mean_fold_f1", {"classifier": MEAN}),
])
def test_onehot_beats_shuffled(run_cache, task, metric, params):
    good = _value(run_cache(task, "onehot"), metric, **params)
    bad = _value(run_cache(task, "shuffled"), metric, **params)
    assert good > bad + 0.2, (good, bad)


# --------------------------------------------------------------------------------------------
# batch integration: separated batches score lower
# --------------------------------------------------------------------------------------------

def test_batch_integration_shift_lowers_scores():
    x_mixed, obs = _batch_data(0.0)
    x_split, obs2 = _batch_data(6.0)
    pd.testing.assert_frame_equal(obs, obs2)
    with pytest.warns(UserWarning, match="pcr_comparison: left out"):  # not prepared
        mixed = get_task("batch_integration").run(x_mixed, obs, context=RunContext(seed=0))
        split = get_task("batch_integration").run(x_split, obs, context=RunContext(seed=0))
    assert [r.metric for r in mixed] == ["entropy_per_cell", "batch_silhouette", "ilisi_knn",
                                         "kbet_per_label", "graph_connectivity", "bras"]
    for metric in ("ilisi_knn", "kbet_per_label", "graph_connectivity", "bras"):
        assert _value(split, metric) < _value(mixed, metric) - 0.1, metric
    pair = get_task("batch_integration", metrics="entropy_per_cell,batch_silhouette")
    assert [r.metric for r in pair.run(x_mixed, obs, context=RunContext(seed=0))] == [
        "entropy_per_cell", "batch_silhouette"]
    e_mixed, e_split = _value(mixed, "entropy_per_cell"), _value(split, "entropy_per_cell")
    s_mixed, s_split = _value(mixed, "batch_silhouette"), _value(split, "batch_silhouette")
    assert e_split < e_mixed - 0.3, (e_split, e_mixed)
    assert s_split < s_mixed - 0.2, (s_split, s_mixed)
    assert e_mixed > 0.9 and s_mixed > 0.9
    assert all(0.0 <= r.value <= 1.0 and r.higher_is_better for r in mixed + split)


# --------------------------------------------------------------------------------------------
# label prediction protocol
# --------------------------------------------------------------------------------------------

def test_label_prediction_returns_20_results(lp_default):
    assert len(lp_default) == 20
    assert {r.params["classifier"] for r in lp_default} == {"lr", "knn", "rf", MEAN}
    assert all(set(r.params) == {"classifier"} for r in lp_default)
    pairs = {(r.metric, r.params["classifier"]) for r in lp_default}
    assert len(pairs) == 20
    scores = ("accuracy", "f1", "precision", "recall", "auroc")
    assert {m for m, _ in pairs} == {f"mean_fold_{s}" for s in scores}
    assert all(0.0 <= r.value <= 1.0 and r.task == "label_prediction" for r in lp_default)
    # MEAN over 15 folds of 3 classifiers, 5 folds each = mean of the per-classifier means
    for s in scores:
        per = [_value(lp_default, f"mean_fold_{s}", classifier=c) for c in ("lr", "knn", "rf")]
        assert _value(lp_default, f"mean_fold_{s}", classifier=MEAN) == pytest.approx(
            np.mean(per), abs=1e-12)


def test_label_prediction_lr_matches_sklearn_cross_validate(pbmc, lp_default):
    x, obs = pbmc
    labels = obs["cell_type"].astype(str).to_numpy()
    counts = pd.Series(labels).value_counts()
    keep = np.isin(labels, counts[counts >= 10].index)
    assert (~keep).sum() > 0  # pbmc68k_reduced has a class under 10 cells (8 naive T cells)
    model = Pipeline([("scale", StandardScaler(with_mean=False)),
                      ("lr", LogisticRegression())])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        cv = cross_validate(model, x[keep], labels[keep],
                            cv=StratifiedKFold(5, shuffle=True, random_state=42),
                            scoring={"accuracy": "accuracy", "f1": "f1_macro"})
    assert _value(lp_default, "mean_fold_accuracy", classifier="lr") == pytest.approx(
        cv["test_accuracy"].mean(), abs=1e-12)
    assert _value(lp_default, "mean_fold_f1", classifier="lr") == pytest.approx(
        cv["test_f1"].mean(), abs=1e-12)


def test_label_prediction_drops_small_classes(pbmc):
    x, obs = pbmc
    obs = obs.copy()
    labels = obs["cell_type"].astype(str).to_numpy().copy()
    rare = np.flatnonzero(labels == "Dendritic")[:6]
    labels[rare] = "rare type"  # 6 cells: under the 10-cell minimum
    obs["cell_type"] = labels
    seed3 = RunContext(seed=3)
    task = get_task("label_prediction", classifiers=("lr",))
    with_rare = task.run(x, obs, context=seed3)
    keep = np.setdiff1d(np.arange(len(x)), rare)
    without = task.run(x[keep], obs.iloc[keep], context=seed3)
    assert [r.to_dict() for r in with_rare] == [r.to_dict() for r in without]
    # not a vacuous comparison: keeping the rare class (min_class_size=1) changes the scores
    kept = get_task("label_prediction", classifiers=("lr",), min_class_size=1)
    changed = kept.run(x, obs, context=seed3)
    assert [r.value for r in changed] != [r.value for r in with_rare]


# --------------------------------------------------------------------------------------------
# determinism
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("task", ["clustering", "embedding", "batch_integration"])
def test_same_seed_identical(pbmc, task):
    if task == "batch_integration":
        x, obs = _batch_data(2.0)
    else:
        x, obs = pbmc
    first = get_task(task).run(x, obs, context=RunContext(seed=5))
    second = get_task(task).run(x, obs, context=RunContext(seed=5))
    assert [r.to_dict() for r in first] == [r.to_dict() for r in second]
    assert all(np.isfinite(r.value) for r in first)


def test_label_prediction_same_seed_identical_other_seed_changes_rf(pbmc, lp_default):
    x, obs = pbmc
    again = get_task("label_prediction").run(x, obs, context=RunContext(seed=42))
    assert [r.to_dict() for r in again] == [r.to_dict() for r in lp_default]
    # the default context is seed 42
    assert [r.to_dict() for r in get_task("label_prediction").run(x, obs)] == \
        [r.to_dict() for r in lp_default]
    rf_other = get_task("label_prediction", classifiers=("rf",)).run(
        x, obs, context=RunContext(seed=7))
    rf_42 = {r.metric: r.value for r in lp_default if r.params["classifier"] == "rf"}
    rf_7 = {r.metric: r.value for r in rf_other if r.params["classifier"] == "rf"}
    assert rf_42.keys() == rf_7.keys()
    assert any(rf_42[m] != rf_7[m] for m in rf_42)


# --------------------------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("task", TASKS)
def test_missing_obs_column(pbmc, task):
    x, obs = pbmc
    key = "batch_key" if task == "batch_integration" else "label_key"
    options = {key: "no_such_column"}
    with pytest.raises(InputError) as info:
        get_task(task, **options).run(x, obs)
    message = str(info.value)
    assert "no_such_column" in message
    for column in ("bulk_labels", "cell_type", "louvain"):
        assert column in message


def test_batch_integration_without_batch_column_on_pbmc(pbmc):
    # pbmc68k_reduced has no batch column: the default batch_key="batch" must be reported
    x, obs = pbmc
    with pytest.raises(InputError) as info:
        get_task("batch_integration").run(x, obs)
    assert "'batch'" in str(info.value) and "cell_type" in str(info.value)


@pytest.mark.parametrize("task", TASKS)
def test_obs_length_mismatch(pbmc, task):
    x, obs = pbmc
    obs = obs.assign(batch=np.where(np.arange(len(obs)) % 2, "a", "b"))
    with pytest.raises(InputError) as info:
        get_task(task).run(x, obs.iloc[:-1])
    assert str(len(x)) in str(info.value) and str(len(x) - 1) in str(info.value)


@pytest.mark.parametrize("task", TASKS)
def test_nan_in_embedding(pbmc, task):
    x, obs = pbmc
    obs = obs.assign(batch=np.where(np.arange(len(obs)) % 2, "a", "b"))
    bad = np.array(x, dtype=np.float64, copy=True)
    bad[10, 3] = np.nan
    with pytest.raises(InputError):
        get_task(task).run(bad, obs)


def test_label_prediction_max_cells_is_a_seeded_stratified_subsample(pbmc):
    # the max_cells subsample is drawn first (over every cell), then the classes with fewer
    # than min_class_size cells in it are dropped (docs/spec.md#task-label_prediction)
    x, obs = pbmc
    labels = obs["cell_type"].astype(str).to_numpy()
    seed5 = RunContext(seed=5)
    task = get_task("label_prediction", classifiers=("lr",), max_cells=300)
    capped = task.evaluate(x, obs, context=seed5)
    assert task.options()["max_cells"] == 300
    # the same as cross-validating the stratified subsample by hand (same folds, same model)
    from czbench.utils.sampling import stratified_subset

    codes = pd.factorize(pd.Series(labels), sort=True)[0]
    drawn = stratified_subset(codes, 300, 5)
    counts = np.bincount(codes[drawn])
    rows = drawn[counts[codes[drawn]] >= 10]
    assert len(rows) < 300  # not vacuous: the subsample holds classes under 10 cells
    assert capped.resolved == {"n_cells": len(rows),
                               "n_classes": int(np.unique(codes[rows]).size)}
    by_hand = get_task("label_prediction", classifiers=("lr",),
                       min_class_size=1).run(x[rows], obs.iloc[rows], context=seed5)
    assert [r.to_dict() for r in capped.results] == [r.to_dict() for r in by_hand]
    # class proportions kept (stratified), and the same seed draws the same cells
    full = np.bincount(codes) / len(codes)
    sub = np.bincount(codes[drawn], minlength=len(full)) / 300
    assert np.abs(full - sub).max() < 0.01
    again = get_task("label_prediction", classifiers=("lr",), max_cells=300)
    assert [r.to_dict() for r in again.run(x, obs, context=seed5)] == \
        [r.to_dict() for r in capped.results]
    # above the number of cells it is the exact computation
    uncapped = get_task("label_prediction", classifiers=("lr",), max_cells=10_000)
    exact = get_task("label_prediction", classifiers=("lr",))
    assert [r.to_dict() for r in uncapped.run(x, obs, context=seed5)] == \
        [r.to_dict() for r in exact.run(x, obs, context=seed5)]


@pytest.mark.parametrize("bad", [0, 9, 2.5, -1])
def test_label_prediction_max_cells_rejects_bad_values(bad):
    with pytest.raises(InputError, match="max_cells"):
        get_task("label_prediction", max_cells=bad)


@pytest.mark.parametrize("task", TASKS)
def test_seed_is_not_a_task_option(task):
    # the seed belongs to the run (RunContext), never to a task
    with pytest.raises(InputError, match="seed"):
        get_task(task, seed=0)
    assert "seed" not in get_task(task).options()
