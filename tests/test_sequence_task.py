"""Task ``sequence_classification``: scores against scikit-learn, the splice page's ordering of
the composition baselines, leakage-grouped folds, the conformance kit, the run's table."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef, roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import czbench
import czbench.datasets as ds
from czbench.baselines.sequence import gc_baseline, kmer_baseline, onehot_baseline
from czbench.context import RunContext
from czbench.errors import CZBenchWarning, InputError
from czbench.metrics import probe_scores
from czbench.tasks import get_task
from czbench.testing import check_task

SPLICE = "splice_junctions_primate_uci"


@pytest.fixture(scope="module")
def splice():
    return ds.load(SPLICE)


def _value(run, metric, classifier="lr", folds="stratified"):
    return next(r.value for r in run.results if r.metric == metric and
                r.params["classifier"] == classifier and r.params["folds"] == folds)


def test_probe_scores_match_scikit_learn():
    rng = np.random.default_rng(0)
    labels = np.array(["a", "b", "c"])
    y = rng.choice(labels, 200)
    proba = rng.dirichlet(np.ones(3), 200)
    proba[np.arange(200), np.searchsorted(labels, y)] += 0.3
    proba /= proba.sum(axis=1, keepdims=True)
    pred = labels[proba.argmax(axis=1)]
    got = probe_scores(y, proba, labels)
    assert got["mcc"] == pytest.approx(matthews_corrcoef(y, pred))
    assert got["accuracy"] == pytest.approx(accuracy_score(y, pred))
    assert got["macro_f1"] == pytest.approx(f1_score(y, pred, average="macro"))
    assert got["auroc"] == pytest.approx(roc_auc_score(y, proba, multi_class="ovr"))
    p2 = proba[y != "c"][:, :2] / proba[y != "c"][:, :2].sum(axis=1, keepdims=True)
    two = probe_scores(y[y != "c"], p2, labels[:2])
    pred2 = labels[:2][p2.argmax(axis=1)]
    assert two["macro_f1"] == pytest.approx(f1_score(y[y != "c"], pred2, average="macro"))


def test_lr_probe_is_scikit_learns_on_the_same_folds(splice):
    sub = splice[::4].copy()
    x, y = kmer_baseline(sub, kmer_k=2), sub.obs["cell_type"].to_numpy()
    task = get_task("sequence_classification", classifiers=("lr",))
    run = task.evaluate(x, sub.obs, context=RunContext(seed=3))
    for folds, splitter, groups in (
            ("stratified", StratifiedKFold(5, shuffle=True, random_state=3), None),
            ("grouped", StratifiedGroupKFold(5, shuffle=True, random_state=3),
             pd.factorize(sub.obs["leakage_group"].astype(str), sort=True)[0])):
        mcc, acc = [], []
        for train, test in splitter.split(x, y, groups):
            model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))
            pred = model.fit(x[train], y[train]).predict(x[test])
            mcc.append(matthews_corrcoef(y[test], pred))
            acc.append(accuracy_score(y[test], pred))
        assert _value(run, "mcc", folds=folds) == pytest.approx(np.mean(mcc), abs=1e-9)
        assert _value(run, "accuracy", folds=folds) == pytest.approx(np.mean(acc), abs=1e-9)
    assert run.resolved["n_groups"] == sub.obs["leakage_group"].nunique()


def test_splice_page_ordering_of_composition_baselines(splice):
    """The page: LR accuracy 0.673 (4-mer), 0.516 (GC), 0.928 (one-hot) with plain folds and
    0.641 for 4-mers grouped by leakage_group (seed 0)."""
    task = get_task("sequence_classification", classifiers=("lr",))
    context = RunContext(seed=0)
    runs = {name: task.evaluate(fn(splice), splice.obs, context=context)
            for name, fn in (("kmer", kmer_baseline), ("gc", gc_baseline),
                             ("onehot", onehot_baseline))}
    acc = {name: _value(run, "accuracy") for name, run in runs.items()}
    assert acc["gc"] == pytest.approx(0.516, abs=0.005)
    assert acc["kmer"] == pytest.approx(0.673, abs=0.005)
    assert acc["onehot"] == pytest.approx(0.928, abs=0.005)
    grouped = _value(runs["kmer"], "accuracy", folds="grouped")
    assert grouped == pytest.approx(0.641, abs=0.005)
    assert acc["gc"] < grouped < acc["kmer"] < acc["onehot"]
    assert _value(runs["onehot"], "mcc") == pytest.approx(0.883, abs=0.005)


def test_small_classes_and_groups(splice):
    obs = splice.obs.iloc[::8].copy()
    obs["cell_type"] = obs["cell_type"].astype(str)
    obs.iloc[0, obs.columns.get_loc("cell_type")] = "lonely"
    x = kmer_baseline(splice[::8], kmer_k=2)
    task = get_task("sequence_classification", classifiers=("lr",))
    with pytest.warns(CZBenchWarning, match="lonely"):
        run = task.evaluate(x, obs, context=RunContext(seed=0))
    assert run.resolved["classes_left_out"] == ["lonely"]
    assert run.resolved["n_sequences"] == len(obs) - 1
    bare = obs[["cell_type"]].assign(cell_type=splice.obs["cell_type"].iloc[::8].to_numpy())
    folds = {r.params["folds"] for r in task.evaluate(x, bare, context=RunContext(seed=0))
             .results}  # the default group column is optional
    assert folds == {"stratified"}
    with pytest.raises(InputError, match="^group_key: task 'sequence_classification' needs"):
        get_task("sequence_classification", group_key="locus").evaluate(x, bare)
    one = bare.assign(cell_type="N")
    with pytest.raises(InputError, match="^label_key"):
        task.evaluate(x, one)


def test_conformance_kit_passes(splice):
    sub = splice[::8].copy()
    report = check_task(get_task("sequence_classification", classifiers=("lr",)), sub)
    assert not report.failed


def test_benchmark_run_defaults_and_determinism(splice):
    sub = ds.from_anndata(splice[::25].copy(), modality="sequence")
    kwargs = {"tasks": ["sequence_classification"], "seed": 0,
              "task_options": {"sequence_classification": {"classifiers": ("lr",),
                                                           "kmer_k": 3}}}
    result = czbench.benchmark(sub, **kwargs)
    frame = result.to_frame()
    assert set(frame["embedding"]) == {"baseline:kmer", "baseline:gc", "baseline:onehot",
                                       "baseline:kmer_dinucleotide_shuffled"}
    again = czbench.benchmark(sub, **kwargs).to_frame()
    assert frame["value"].tolist() == again["value"].tolist()
    assert json.loads(json.dumps(result.document))["dataset"]["row_unit"] == "sequence"


def test_controls_bracket_the_baselines(splice):
    """--controls on a sequence dataset: the label one-hot on top, the k-mer rows shuffled
    (a shuffled-label probe) at chance, below every composition baseline but GC."""
    sub = ds.from_anndata(splice[::10].copy(), modality="sequence")
    result = czbench.benchmark(sub, ["baseline:kmer", "baseline:gc", "baseline:onehot"],
                               ["sequence_classification"], seed=0, controls=True,
                               task_options={"sequence_classification":
                                             {"classifiers": ("lr",)}})
    mcc = {r["embedding"]: r["value"] for r in result.document["results"]
           if r["metric"] == "mcc" and r["params"] == {"classifier": "lr",
                                                        "folds": "stratified"}}
    assert mcc["control:onehot"] == max(mcc.values())
    assert abs(mcc["control:shuffled"]) < 0.1 and abs(mcc["control:random"]) < 0.1
    assert mcc["control:shuffled"] < mcc["baseline:kmer"] - 0.2
    assert mcc["control:pca"] == mcc["baseline:kmer"]  # the unintegrated input: 4-mers
