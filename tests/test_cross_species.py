"""Cross-species tasks: independent references (metrics called directly, brute-force entropy,
plain scikit-learn fits of the reference's pipelines), the reference's names (metrics, MEAN
row, organisms), properties, errors, the shared scoring core, the estimators, and the real
dataset."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks
from threadpoolctl import threadpool_limits

import czbench.tasks.classification as classification
from czbench.context import RunContext
from czbench.errors import InputError
from czbench.estimators import (
    CrossSpeciesIntegrationBenchmark,
    CrossSpeciesLabelPredictionBenchmark,
)
from czbench.metrics import batch_silhouette, entropy_per_cell
from czbench.tasks import get_task
from czbench.tasks.cross_species import (
    make_cross_species_classifier,
    organism_name,
    ortholog_pca_baseline,
    pseudobulk,
    stack_species,
)

LP = "cross_species_label_prediction"
INTEG = "cross_species_integration"
#: the species of the test data ("human", "mouse") as the reference names them
ORGANISM = {"human": "homo_sapiens", "mouse": "mus_musculus"}
SCORES = ("accuracy", "f1", "precision", "recall", "auroc")


@pytest.fixture(autouse=True, scope="module")
def _single_thread():
    """One BLAS / torch thread on the small shared machine (both sides of every comparison)."""
    n_torch = torch.get_num_threads()
    with threadpool_limits(limits=1):
        torch.set_num_threads(1)
        yield
    torch.set_num_threads(n_torch)


def _species_data(seed=0, shift=0.0, n=40):
    """2 species x 4 donors (2 each); types A, B, C shared; D human-only; E tiny in mouse."""
    rng = np.random.default_rng(seed)
    centres = {t: rng.normal(scale=3.0, size=8) for t in "ABCDE"}
    rows = []
    for species, types in (("human", "ABCD"), ("mouse", "ABCE")):
        for t in types:
            count = 4 if (species, t) == ("mouse", "E") else n
            for i in range(count):
                rows.append((species, t, f"{species}{i % 2 + 1}"))
    obs = pd.DataFrame(rows, columns=["species", "cell_type", "donor"])
    x = np.stack([centres[t] for t in obs["cell_type"]]) + rng.normal(size=(len(obs), 8))
    x[obs["species"].to_numpy() == "mouse"] += shift
    order = rng.permutation(len(obs))
    return x[order].astype(np.float64), obs.iloc[order].reset_index(drop=True)


@pytest.fixture(scope="module")
def data():
    return _species_data()


# -- integration ------------------------------------------------------------------------------
def _brute_entropy(x, species, k):
    d = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    names = np.unique(species)
    out = []
    for i in range(len(x)):
        nn = np.argsort(d[i], kind="stable")[:k]
        p = np.array([(species[nn] == s).mean() for s in names])
        p = p[p > 0]
        out.append(-(p * np.log(p)).sum() / np.log(len(names)))
    return float(np.mean(out))


def test_integration_equals_metrics_and_brute_force(data):
    x, obs = data
    results = {r.metric: r.value for r in get_task(INTEG, entropy_k=30).run(x, obs)}
    species = obs["species"].to_numpy()
    assert results["entropy_per_cell"] == entropy_per_cell(x, species, k=30)
    assert results["entropy_per_cell"] == pytest.approx(_brute_entropy(x, species, 30), abs=1e-9)
    assert results["batch_silhouette"] == batch_silhouette(x, obs["cell_type"].to_numpy(),
                                                           species)
    default = get_task(INTEG)
    assert default.knn_k == 200 and default.required_columns == ["cell_type", "species"]


def test_mixed_species_beat_separated():
    x, obs = _species_data(shift=0.0)
    x_shift, _ = _species_data(shift=6.0)
    task = get_task(INTEG, entropy_k=50)
    mixed = {r.metric: r.value for r in task.run(x, obs)}
    apart = {r.metric: r.value for r in task.run(x_shift, obs)}
    for metric in ("entropy_per_cell", "batch_silhouette"):
        assert 0 <= apart[metric] < mixed[metric] <= 1, metric


# -- label prediction -------------------------------------------------------------------------
def _values(results, metric, **params):
    return [r.value for r in results
            if r.metric == metric and all(r.params[k] == v for k, v in params.items())]


@pytest.fixture(scope="module")
def lp_results(data):
    x, obs = data
    return get_task(LP, min_class_size=5).run(x, obs, context=RunContext(seed=3))


def test_label_prediction_layout_and_names(lp_results):
    """The reference's names: ``mean_fold_*`` within a species, plain ``accuracy``, ... across
    species; ``MEAN(lr,knn,rf)``; species by organism name."""
    assert len(lp_results) == 4 * 4 * 5  # pairs x (MEAN, lr, knn, rf) x scores
    pairs = {(r.params["train_species"], r.params["test_species"]) for r in lp_results}
    assert pairs == {(ORGANISM[a], ORGANISM[b]) for a in ORGANISM for b in ORGANISM}
    assert [r.params["classifier"] for r in lp_results[:20:5]] == \
        ["MEAN(lr,knn,rf)", "lr", "knn", "rf"]
    for r in lp_results:
        same = r.params["train_species"] == r.params["test_species"]
        assert r.metric in ({f"mean_fold_{s}" for s in SCORES} if same else set(SCORES))
    assert all(0 <= r.value <= 1 and r.higher_is_better for r in lp_results)
    # the MEAN row: the mean over all rows of the pair (classifiers x folds), as the reference
    for metric, a, b in (("mean_fold_f1", "homo_sapiens", "homo_sapiens"),
                         ("auroc", "mus_musculus", "homo_sapiens")):
        per = [_values(lp_results, metric, train_species=a, test_species=b, classifier=c)[0]
               for c in ("lr", "knn", "rf")]
        assert _values(lp_results, metric, train_species=a, test_species=b,
                       classifier="MEAN(lr,knn,rf)") == [pytest.approx(np.mean(per), abs=1e-12)]


def _reference_models(seed):
    """cz-benchmarks 0.15.1's pipelines of the cross-species task, built here."""
    return {"lr": Pipeline([("scaler", StandardScaler()),
                            ("lr", LogisticRegression(max_iter=1000, random_state=seed))]),
            "knn": Pipeline([("scaler", StandardScaler()),
                             ("knn", KNeighborsClassifier(n_neighbors=5))]),
            "rf": Pipeline([("rf", RandomForestClassifier(n_estimators=100,
                                                          random_state=seed))])}


def _reference_scores(model, x, y):
    """The reference's scorers: ``predict`` for the labels, ``predict_proba`` for the AUROC."""
    pred, proba = model.predict(x), model.predict_proba(x)
    average = "binary" if len(model.classes_) == 2 else "macro"
    return {"accuracy": accuracy_score(y, pred),
            "f1": f1_score(y, pred, average=average),
            "precision": precision_score(y, pred, average=average),
            "recall": recall_score(y, pred, average=average),
            "auroc": roc_auc_score(y, proba, multi_class="ovr", average="macro")}


@pytest.mark.parametrize("train, test", [("human", "mouse"), ("mouse", "human")])
def test_transfer_equals_the_reference_pipelines(data, lp_results, train, test):
    x, obs = data
    # shared types with >= 5 cells in both species: A, B, C (D is human-only, E has 4 mouse cells)
    shared = ["A", "B", "C"]
    a = ((obs["species"] == train) & obs["cell_type"].isin(shared)).to_numpy()
    b = ((obs["species"] == test) & obs["cell_type"].isin(shared)).to_numpy()
    y_a, y_b = obs["cell_type"].to_numpy()[a], obs["cell_type"].to_numpy()[b]
    for name, model in _reference_models(3).items():
        expected = _reference_scores(model.fit(x[a], y_a), x[b], y_b)
        params = dict(train_species=ORGANISM[train], test_species=ORGANISM[test],
                      classifier=name)
        for score, value in expected.items():
            assert _values(lp_results, score, **params) == [pytest.approx(value, abs=1e-6)], \
                (name, score)


@pytest.mark.parametrize("species", ["human", "mouse"])
def test_within_species_equals_the_reference_pipelines(data, lp_results, species):
    """A = A: StratifiedKFold(5, shuffle=True, random_state=seed) over the species' kept
    classes (mouse E has 4 < 5 cells), the reference's pipelines, mean over folds."""
    x, obs = data
    cells = (obs["species"] == species).to_numpy()
    y = obs["cell_type"].to_numpy()
    counts = pd.Series(y[cells]).value_counts()
    cells &= np.isin(y, counts.index[counts >= 5])
    xs, ys = x[cells], y[cells]
    folds = list(StratifiedKFold(5, shuffle=True, random_state=3).split(xs, ys))
    for name, model in _reference_models(3).items():
        per_fold = [_reference_scores(model.fit(xs[tr], ys[tr]), xs[te], ys[te])
                    for tr, te in folds]
        for score in SCORES:
            got = _values(lp_results, f"mean_fold_{score}", train_species=ORGANISM[species],
                          test_species=ORGANISM[species], classifier=name)
            assert got == [pytest.approx(np.mean([f[score] for f in per_fold]), abs=1e-6)], \
                (name, score)


def test_pipelines_are_the_references_and_label_prediction_keeps_its_own():
    for name, reference in _reference_models(7).items():
        ours = make_cross_species_classifier(name, 7)
        steps = ours.steps if hasattr(ours, "steps") else [("rf", ours)]
        assert [type(e) for _, e in steps] == [type(e) for _, e in reference.steps]
        for (_, mine), (_, theirs) in zip(steps, reference.steps, strict=True):
            expected = theirs.get_params()
            if name == "rf":
                expected["n_jobs"] = None  # threads only
            assert mine.get_params() == expected, name
    # task label_prediction's classifiers are unchanged: scaling without centring
    assert classification.make_classifier("lr", 7).steps[0][1].with_mean is False
    assert classification.make_classifier("lr", 7).steps[1][1].max_iter == 100


def test_species_names(data):
    x, obs = data
    assert [organism_name(v) for v in ("human", "Homo sapiens", "homo_sapiens", " MOUSE ",
                                       "Mus musculus", "Danio rerio", "zebrafish", "axolotl")] \
        == ["homo_sapiens", "homo_sapiens", "homo_sapiens", "mus_musculus", "mus_musculus",
            "danio_rerio", "danio_rerio", "axolotl"]
    task = dict(classifiers=("knn",), min_class_size=5, n_folds=2)
    scientific = obs.assign(species=obs["species"].map({"human": "Homo sapiens",
                                                        "mouse": "Mus musculus"}))
    named = get_task(LP, **task).run(x, scientific)
    assert {r.params["train_species"] for r in named} == {"homo_sapiens", "mus_musculus"}
    kept = get_task(LP, species_names="column", **task).run(x, obs)
    assert {r.params["train_species"] for r in kept} == {"human", "mouse"}
    assert [r.value for r in kept] == [r.value for r in get_task(LP, **task).run(x, obs)]
    both = obs.assign(species=np.where(np.arange(len(obs)) % 2, obs["species"],
                                       obs["species"].map({"human": "Homo sapiens",
                                                           "mouse": "mouse"})))
    with pytest.raises(InputError, match=r"^species: the values .* name the same organism "
                                         r"'homo_sapiens'") as err:
        get_task(LP, **task).run(x, both)
    assert "\n" not in str(err.value)
    with pytest.raises(InputError, match="species_names: expected 'organism' or 'column'"):
        get_task(LP, species_names="latin")


def test_grouped_cv_keeps_each_donor_in_one_fold(data):
    x, obs = data
    task = get_task(LP, sample_key="donor", n_folds=2, classifiers=("lr",), min_class_size=5)
    splitter = task.cv_splitter(42)  # the run's seed
    assert isinstance(splitter, StratifiedGroupKFold)
    assert (splitter.n_splits, splitter.shuffle, splitter.random_state) == (2, True, 42)
    rows, labels, samples = task.species_data(x, obs, "human", {"A", "B", "C", "D"})
    assert len(rows) == 160
    for train, test in splitter.split(rows, labels, groups=samples):
        assert not set(samples[train]) & set(samples[test])
    tables = {(a, b): table for a, b, table in task.pair_tables(x, obs, 42)}
    assert len(tables[("homo_sapiens", "homo_sapiens")]) == 2  # one lr row per fold
    assert len(tables[("homo_sapiens", "mus_musculus")]) == 1  # one lr row for the single split
    results = task.run(x, obs)
    assert task.required_columns == ["cell_type", "species", "donor"]
    assert all(0 <= r.value <= 1 for r in results)


def test_pseudobulk_equals_groupby(data):
    x, obs = data
    for method in ("mean", "median"):
        rows, labels, samples = pseudobulk(x, obs["cell_type"].to_numpy(),
                                           obs["donor"].to_numpy(), method)
        ref = pd.DataFrame(x).groupby([obs["donor"], obs["cell_type"]]).agg(method)
        np.testing.assert_allclose(rows, ref.to_numpy(), rtol=1e-12)
        assert list(zip(samples, labels, strict=True)) == list(ref.index)
    task = get_task(LP, sample_key="donor", aggregation="mean", n_folds=2,
                    classifiers=("lr",), min_class_size=5)
    rows, labels, _ = task.species_data(x, obs, "mouse", {"A", "B", "C"})
    assert rows.shape == (6, 8) and sorted(labels) == sorted(["A", "B", "C"] * 2)
    assert len(task.run(x, obs)) == 4 * 2 * 5


def test_stack_species_matches_stacked_input(data):
    x, obs = data
    parts = {s: (x[(obs["species"] == s).to_numpy()],
                 obs[obs["species"] == s].drop(columns="species")) for s in ("human", "mouse")}
    emb, stacked = stack_species({s: p[0] for s, p in parts.items()},
                                 {s: p[1] for s, p in parts.items()})
    assert emb.shape == x.shape and emb.dtype == np.float64
    assert list(stacked["species"].unique()) == ["human", "mouse"]
    ref = {r.metric: r.value for r in get_task(INTEG, entropy_k=30).run(x, obs)}
    got = {r.metric: r.value for r in get_task(INTEG, entropy_k=30).run(emb, stacked)}
    assert got == pytest.approx(ref, abs=1e-6)


# -- errors (one line, before any work) -------------------------------------------------------
def test_errors(data):
    x, obs = data
    human = (obs["species"] == "human").to_numpy()
    for name in (INTEG, LP):
        with pytest.raises(InputError, match="at least 2 species") as err:
            get_task(name).run(x[human], obs[human])
        assert "\n" not in str(err.value)
        with pytest.raises(InputError, match="^seed: the seed belongs to the run"):
            get_task(name, seed=3)
    disjoint = obs.assign(cell_type=obs["species"] + obs["cell_type"])
    with pytest.raises(InputError, match="no cell type occurs in two or more species"):
        get_task(INTEG).run(x, disjoint)
    with pytest.raises(InputError, match="share 0 cell types"):
        get_task(LP, min_class_size=5).run(x, disjoint)
    with pytest.raises(InputError, match="needs sample_key"):
        get_task(LP, aggregation="mean")
    with pytest.raises(InputError, match="aggregation"):
        get_task(LP, aggregation="sum", sample_key="donor")
    with pytest.raises(InputError, match="fewer than n_folds=5"):
        get_task(LP, sample_key="donor", min_class_size=5).run(x, obs)
    with pytest.raises(InputError, match="'donor', which is missing"):
        get_task(LP, sample_key="donor").check_inputs(obs.drop(columns="donor"))
    e = {"h": np.zeros((3, 4)), "m": np.zeros((2, 5))}
    o = {"h": pd.DataFrame({"cell_type": list("aab")}), "m": pd.DataFrame({"cell_type": ["a"] * 2})}
    with pytest.raises(InputError, match="same dimension, got h: 4, m: 5"):
        stack_species(e, o)
    with pytest.raises(InputError, match=r"has 3 rows but embeddings\['m'\] has 2"):
        stack_species({"h": np.zeros((3, 4)), "m": np.zeros((2, 4))}, {"h": o["h"], "m": o["h"]})
    with pytest.raises(InputError, match="at least 2 species, got 1"):
        stack_species({"h": e["h"]}, {"h": o["h"]})


# -- one classification core ------------------------------------------------------------------
def test_label_prediction_tasks_share_the_classification_core(data, monkeypatch):
    """Regression: ``cross_species_label_prediction`` and ``label_prediction`` score every split
    through the one core, ``czbench.tasks.classification.classification_scores`` (the
    cross-species task has its own classifiers, not its own scores)."""
    x, obs = data
    calls = {"n": 0}
    original = classification.classification_scores

    def counting(*args, **kwargs):
        calls["n"] += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(classification, "classification_scores", counting)
    human = (obs["species"] == "human").to_numpy()
    get_task("label_prediction", classifiers=("lr",), min_class_size=5).run(
        x[human], obs[human], context=RunContext(seed=0))
    assert calls["n"] == 5  # 1 classifier x 5 folds
    calls["n"] = 0
    get_task(LP, classifiers=("lr",), min_class_size=5).run(x, obs, context=RunContext(seed=0))
    assert calls["n"] == 2 * 5 + 2  # 2 species x 5 folds, plus 2 transfers


# -- estimators -------------------------------------------------------------------------------
class _RowSpecies:
    """Test double for sklearn's checks, which call fit(X, y) / score(X, y) without species:
    species = (row // 2) % 2 when omitted; the real code runs unchanged."""

    def fit(self, X, y, species=None, sample=None):
        if species is None and hasattr(X, "shape") and len(X.shape) >= 1:
            species = (np.arange(X.shape[0]) // 2) % 2
        return super().fit(X, y, species, sample)

    def score(self, X, y, species=None, sample=None):
        if species is None and hasattr(X, "shape") and len(X.shape) >= 1:
            species = (np.arange(X.shape[0]) // 2) % 2
        return super().score(X, y, species, sample)


class IntegrationRowSpecies(_RowSpecies, CrossSpeciesIntegrationBenchmark):
    pass


NEEDS_SPECIES = (
    "check_fit_score_takes_y", "check_estimators_overwrite_params",
    "check_dont_overwrite_parameters", "check_estimators_fit_returns_self",
    "check_readonly_memmap_input", "check_n_features_in_after_fitting",
    "check_positive_only_tag_during_fit", "check_estimators_dtypes", "check_dtype_object",
    "check_pipeline_consistency", "check_estimators_nan_inf", "check_estimator_sparse_tag",
    "check_estimator_sparse_array", "check_estimator_sparse_matrix", "check_estimators_pickle",
    "check_f_contiguous_array_estimator", "check_methods_sample_order_invariance",
    "check_methods_subset_invariance", "check_fit2d_1feature", "check_dict_unchanged",
    "check_fit_idempotent", "check_fit_check_is_fitted", "check_n_features_in",
    "check_fit2d_predict1d",
)


def _expected_failed(estimator):
    if type(estimator) is CrossSpeciesIntegrationBenchmark:
        return {name: "fit(X, y) without species, which the estimator requires"
                for name in NEEDS_SPECIES}
    return {}


@parametrize_with_checks([CrossSpeciesIntegrationBenchmark(), IntegrationRowSpecies()],
                         expected_failed_checks=_expected_failed, xfail_strict=True)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_estimators_equal_tasks(data):
    x, obs = data
    y, species = obs["cell_type"].to_numpy(), obs["species"].to_numpy()
    est = CrossSpeciesIntegrationBenchmark(entropy_k=30).fit(x, y, species=species)
    ref = get_task(INTEG, entropy_k=30).run(x, obs)
    assert est.results_.to_dict("records") == [r.to_dict() for r in ref]
    assert est.score_ == pytest.approx((ref[0].value + ref[1].value) / 2, abs=0)
    assert est.score(x, y, species=species) == est.score_

    lp = CrossSpeciesLabelPredictionBenchmark(classifiers=("lr", "knn"), min_class_size=5,
                                              random_state=3).fit(x, y, species=species)
    ref = get_task(LP, classifiers=("lr", "knn"), min_class_size=5).run(
        x, obs, context=RunContext(seed=3))
    assert lp.results_.to_dict("records") == [r.to_dict() for r in ref]
    cross = [r.value for r in ref if r.metric == "accuracy"
             and r.params["classifier"] == "MEAN(lr,knn)"]
    assert len(cross) == 2 and lp.score_ == pytest.approx(np.mean(cross), abs=1e-15)
    with pytest.raises(InputError, match="needs each cell's species"):
        lp.fit(x, y)
    grouped = CrossSpeciesLabelPredictionBenchmark(
        grouped=True, aggregation="mean", n_folds=2, classifiers=("lr",), min_class_size=5)
    with pytest.raises(InputError, match="needs each cell's sample"):
        grouped.fit(x, y, species=species)
    assert 0 <= grouped.fit(x, y, species=species, sample=obs["donor"]).score_ <= 1


# -- the real dataset -------------------------------------------------------------------------
def test_pancreas_through_the_runner():
    import czbench.datasets as datasets
    from czbench.run import benchmark

    adata = datasets.load("pancreas_baron_human_mouse")
    emb = ortholog_pca_baseline(adata, 42)
    assert emb.shape == (4028, 50)
    result = benchmark(adata, [emb], [INTEG, LP],
                       task_options={LP: {"classifiers": ("lr", "knn")}})
    frame = result.to_frame()
    assert len(frame) == 2 + 4 * 3 * 5
    assert frame["value"].between(0, 1).all()
    values = {(r.metric, tuple(sorted(r.params.items()))): r.value for r in result.results}
    h2m = dict(train_species="homo_sapiens", test_species="mus_musculus", classifier="lr")
    assert values[("accuracy", tuple(sorted(h2m.items())))] > 0.5
    for species in ("homo_sapiens", "mus_musculus"):
        same = dict(train_species=species, test_species=species, classifier="MEAN(lr,knn)")
        assert values[("mean_fold_accuracy", tuple(sorted(same.items())))] > 0.9
