"""scikit-learn front doors (czbench.estimators): sklearn's estimator checks, equality with the
core tasks, classifier semantics, model-selection use, the example, and clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import sklearn
import torch
from helpers import load_script
from sklearn.base import clone
from sklearn.exceptions import DataConversionWarning, NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score
from sklearn.model_selection import KFold, StratifiedKFold, cross_val_score, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks
from threadpoolctl import threadpool_limits

import czbench.estimators
from czbench.context import DEFAULT_SEED, RunContext
from czbench.errors import InputError
from czbench.estimators import (
    BatchIntegrationBenchmark,
    ClusteringBenchmark,
    EmbeddingBenchmark,
    InputTypeError,
    LabelPredictionBenchmark,
    SequenceClassificationBenchmark,
    TaskBenchmark,
)
from czbench.tasks import get_task
from czbench.tasks.clustering import SWEEP_RESOLUTIONS

ROOT = Path(__file__).resolve().parents[1]
MEAN = "MEAN(knn,lr,rf)"


@pytest.fixture(autouse=True, scope="module")
def _single_thread():
    """One BLAS / OpenMP / torch thread: on a small, shared machine their pools spin and make
    these many small fits 3-10x slower. Both sides of every comparison run under it."""
    n_torch = torch.get_num_threads()
    with threadpool_limits(limits=1):
        torch.set_num_threads(1)
        yield
    torch.set_num_threads(n_torch)


# --------------------------------------------------------------------------------------------
# scikit-learn's estimator checks
# --------------------------------------------------------------------------------------------

class BatchIntegrationRowBatch(BatchIntegrationBenchmark):
    """Test double for sklearn's checks, which call fit(X, y) / score(X, y) without ``batch``:
    when batch is omitted it uses (row // 2) % 2, then runs the real code unchanged."""

    @staticmethod
    def _rows_batch(X, batch):
        if batch is None and hasattr(X, "shape") and len(X.shape) >= 1:
            return (np.arange(X.shape[0]) // 2) % 2
        return batch

    def fit(self, X, y, batch=None):
        return super().fit(X, y, self._rows_batch(X, batch))

    def score(self, X, y, batch=None):
        return super().score(X, y, self._rows_batch(X, batch))


#: sklearn checks that call fit(X, y) on valid data: they cannot pass ``batch``, which
#: BatchIntegrationBenchmark requires (it raises InputError "batch: ..."). They run on
#: BatchIntegrationRowBatch instead. Kept exact by xfail_strict=True.
NEEDS_BATCH = (
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


def expected_failed_checks(estimator):
    if type(estimator) is BatchIntegrationBenchmark:
        return {name: "fit(X, y) without batch, which BatchIntegrationBenchmark requires"
                for name in NEEDS_BATCH}
    return {}


@parametrize_with_checks(
    [ClusteringBenchmark(), EmbeddingBenchmark(), BatchIntegrationBenchmark(),
     BatchIntegrationRowBatch(), TaskBenchmark("embedding"),
     # small settings keep the ~60 fits of the checks fast; the code path is the default one
     LabelPredictionBenchmark(classifiers=("lr",), n_folds=2, min_class_size=2),
     SequenceClassificationBenchmark(classifiers=("lr",), n_folds=2, min_class_size=2)],
    expected_failed_checks=expected_failed_checks, xfail_strict=True)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


# --------------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------------

def _cells(n_per_group: int, seed: int):
    """3 cell types x 2 batches in 8 dims: types well apart, batches shifted a little."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=4.0, size=(3, 8))
    shift = rng.normal(scale=1.0, size=(2, 8))
    types, batches = np.meshgrid(np.arange(3), np.arange(2), indexing="ij")
    types = np.repeat(types.ravel(), n_per_group)
    batches = np.repeat(batches.ravel(), n_per_group)
    X = centres[types] + shift[batches] + rng.normal(size=(len(types), 8))
    order = rng.permutation(len(types))
    names = np.array(["B cell", "NK", "T cell"])
    return X[order], names[types[order]], np.array(["run1", "run2"])[batches[order]]


@pytest.fixture(scope="module")
def data():
    return _cells(40, seed=0)  # 240 cells


@pytest.fixture(scope="module")
def other_data():
    return _cells(30, seed=1)  # 180 different cells, same dims


def _obs(y, batch=None):
    return pd.DataFrame({"cell_type": y} | ({} if batch is None else {"batch": batch}))


UNSUPERVISED = [
    (ClusteringBenchmark, "clustering",
     {"n_neighbors": 10, "resolution": 0.5, "n_iterations": 3, "resolution_sweep": False}),
    (ClusteringBenchmark, "clustering", {"resolution_sweep": True}),
    (EmbeddingBenchmark, "embedding", {}),
    (BatchIntegrationBenchmark, "batch_integration", {"entropy_k": 50}),
]


def _primary(name, results):
    values = {r.metric: r.value for r in results}
    if name == "clustering":
        return values["adjusted_rand_index"]
    if name == "embedding":
        return values["silhouette_score"]
    return (values["entropy_per_cell"] + values["batch_silhouette"]) / 2


# --------------------------------------------------------------------------------------------
# unsupervised estimators = the core tasks
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("cls, task_name, options", UNSUPERVISED)
def test_fit_results_equal_the_task(cls, task_name, options, data):
    X, y, batch = data
    est = cls(random_state=7, **options)
    assert est.fit(X, y, batch=batch) is est
    if cls._metrics is not None:  # e.g. batch integration scores cz-benchmarks' pair
        options = {**options, "metrics": cls._metrics}
    expected = get_task(task_name, **options).run(X, _obs(y, batch),
                                                  context=RunContext(seed=7))
    assert list(est.results_.columns) == ["task", "metric", "value", "params",
                                          "higher_is_better"]
    assert est.results_.to_dict("records") == [r.to_dict() for r in expected]
    assert est.score_ == _primary(task_name, expected)
    assert est.n_features_in_ == X.shape[1]


@pytest.mark.parametrize("cls, task_name, options", [UNSUPERVISED[i] for i in (0, 2, 3)])
def test_score_is_the_task_primary_metric_on_the_given_X(cls, task_name, options, data,
                                                        other_data):
    X, y, batch = data
    X2, y2, batch2 = other_data
    est = cls(**options).fit(X, y, batch=batch)
    expected = get_task(task_name, **options).run(X2, _obs(y2, batch2),
                                                  context=RunContext(seed=DEFAULT_SEED))
    assert est.score(X2, y2, batch=batch2) == _primary(task_name, expected)
    assert est.score(X, y, batch=batch) == est.score_


def test_clustering_resolution_is_a_fitted_attribute(data):
    """Regression: the sweep's chosen resolution is ``resolution_`` (the task's ``resolved``),
    never a params entry of ``results_``."""
    X, y, _ = data
    est = ClusteringBenchmark(resolution_sweep=True, random_state=5).fit(X, y)
    run = get_task("clustering", resolution_sweep=True).evaluate(X, _obs(y),
                                                                 context=RunContext(seed=5))
    assert est.resolution_ == run.resolved["resolution"]
    assert est.resolution_ in SWEEP_RESOLUTIONS
    assert est.results_["params"].tolist() == [{}, {}]
    assert ClusteringBenchmark(resolution=0.7).fit(X, y).resolution_ == 0.7
    assert not hasattr(ClusteringBenchmark(), "resolution_")


def test_labels_any_type_and_sparse_X(data):
    X, y, batch = data
    ref = ClusteringBenchmark().fit(X, y).results_
    codes = pd.factorize(y)[0]
    shuffled_index = pd.Series(pd.Categorical(y), index=np.arange(len(y))[::-1])
    for labels in (codes, list(y), shuffled_index):
        got = ClusteringBenchmark().fit(X, labels).results_
        pd.testing.assert_frame_equal(got, ref)  # positional, never aligned on an index
    with pytest.warns(DataConversionWarning, match="column-vector y"):
        got = ClusteringBenchmark().fit(X, y[:, None]).results_
    pd.testing.assert_frame_equal(got, ref)
    pd.testing.assert_frame_equal(ClusteringBenchmark().fit(sp.csr_matrix(X), y).results_, ref)


# --------------------------------------------------------------------------------------------
# LabelPredictionBenchmark: a classifier
# --------------------------------------------------------------------------------------------

def test_label_prediction_results_classifiers_and_predictions(data):
    X, y, _ = data
    est = LabelPredictionBenchmark(random_state=3)
    assert est.fit(X, y) is est
    expected = get_task("label_prediction", n_jobs=None).run(X, _obs(y),
                                                             context=RunContext(seed=3))
    assert len(expected) == 20
    assert est.results_.to_dict("records") == [r.to_dict() for r in expected]
    assert set(est.results_["params"].map(lambda p: p["classifier"])) == {"lr", "knn", "rf",
                                                                         MEAN}
    assert sorted(est.classifiers_) == ["knn", "lr", "rf"]
    assert list(est.classes_) == ["B cell", "NK", "T cell"]
    np.testing.assert_array_equal(est.predict(X), est.classifiers_["lr"].predict(X))
    np.testing.assert_allclose(est.predict_proba(X), est.classifiers_["lr"].predict_proba(X))
    knn = clone(est).set_params(classifiers=("lr", "knn"), primary_classifier="knn").fit(X, y)
    np.testing.assert_array_equal(knn.predict(X), knn.classifiers_["knn"].predict(X))


@pytest.mark.parametrize("sparse", [False, True])
def test_label_prediction_results_are_the_task_run_with_the_same_seed(data, sparse):
    """Regression: ``results_`` is value for value the task's run under RunContext(seed) with
    the same options (a small class dropped; n_jobs never changes a number)."""
    X, y, _ = data
    X = X + np.random.default_rng(5).normal(scale=3.0, size=X.shape)  # imperfect: seeds matter
    y = y.copy()
    y[:4] = "rare"
    X = sp.csr_matrix(X) if sparse else X
    options = {"n_folds": 3, "min_class_size": 5, "classifiers": ("rf", "lr")}
    est = LabelPredictionBenchmark(**options, n_jobs=1, random_state=11).fit(X, y)
    expected = get_task("label_prediction", **options).run(X, _obs(y),
                                                           context=RunContext(seed=11))
    assert len(expected) == 15
    assert est.results_.to_dict("records") == [r.to_dict() for r in expected]
    assert list(est.classes_) == ["B cell", "NK", "T cell"]
    other_seed = get_task("label_prediction", **options).run(X, _obs(y),
                                                             context=RunContext(seed=12))
    assert [r.value for r in other_seed] != [r.value for r in expected]


def test_label_prediction_score_is_sklearn_accuracy_on_held_out_cells(data):
    X, y, _ = data
    X = X + np.random.default_rng(5).normal(scale=3.0, size=X.shape)  # make it imperfect
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, stratify=y,
                                                        random_state=0)
    est = LabelPredictionBenchmark(classifiers=("lr",)).fit(X_train, y_train)
    reference = Pipeline([("scale", StandardScaler(with_mean=False)),
                          ("lr", LogisticRegression())]).fit(X_train, y_train)
    expected = accuracy_score(y_test, reference.predict(X_test))
    assert 0.5 < expected < 1.0
    assert est.score(X_test, y_test) == expected


def test_label_prediction_drops_small_classes_and_takes_sparse(data):
    X, y, _ = data
    y = y.copy()
    y[:4] = "rare"  # 4 cells < min_class_size=10
    est = LabelPredictionBenchmark(classifiers=("lr",), n_folds=3).fit(sp.csr_matrix(X), y)
    assert "rare" not in est.classes_
    assert est.predict_proba(X[:5]).shape == (5, 3)
    assert set(est.predict(sp.csr_matrix(X))) <= set(est.classes_)


# --------------------------------------------------------------------------------------------
# parameters, Pipeline and model selection
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("est, new", [
    (ClusteringBenchmark(n_neighbors=30, resolution_sweep=True), {"resolution": 0.3}),
    (EmbeddingBenchmark(random_state=None), {"random_state": 1}),
    (BatchIntegrationBenchmark(entropy_k=90), {"entropy_k": 20}),
    (LabelPredictionBenchmark(classifiers=["lr", "knn"], n_jobs=2), {"n_folds": 3}),
])
def test_params_round_trip(est, new, data):
    params = est.get_params()
    copy = clone(est)
    assert copy.get_params() == params
    assert type(copy) is type(est) and copy is not est
    assert copy.set_params(**new) is copy
    assert copy.get_params() == params | new
    assert est.get_params() == params  # the original is untouched
    if isinstance(est, LabelPredictionBenchmark):
        assert est.classifiers == ["lr", "knn"]  # stored as given, not converted
    X, y, batch = data
    fitted = est.fit(X, y) if isinstance(est, LabelPredictionBenchmark) else \
        est.fit(X, y, batch=batch)
    assert fitted.get_params() == params
    assert not hasattr(clone(fitted), "results_")


def test_pipeline_and_cross_val_score(data):
    X, y, batch = data
    cv = KFold(3, shuffle=True, random_state=0)
    pipe = Pipeline([("scale", StandardScaler()), ("bench", ClusteringBenchmark())])
    scores = cross_val_score(pipe, X, y, cv=cv)
    train, test = next(cv.split(X))
    scaler = StandardScaler().fit(X[train])
    expected = get_task("clustering").run(scaler.transform(X[test]), _obs(y[test]))
    assert scores[0] == expected[0].value
    assert np.all((scores > 0.5) & (scores <= 1.0))

    # batch: a fit parameter in a Pipeline; for score, through metadata routing
    fitted = Pipeline([("bench", BatchIntegrationBenchmark())]).fit(X, y, bench__batch=batch)
    assert fitted[-1].results_["metric"].tolist() == ["entropy_per_cell", "batch_silhouette"]
    with sklearn.config_context(enable_metadata_routing=True):
        bench = BatchIntegrationBenchmark().set_fit_request(batch=True)
        bench.set_score_request(batch=True)
        routed = cross_val_score(bench, X, y, cv=cv, params={"batch": batch})
    expected = get_task("batch_integration").run(X[test], _obs(y[test], batch[test]))
    assert routed[0] == _primary("batch_integration", expected)

    accuracy = cross_val_score(LabelPredictionBenchmark(classifiers=("lr",), n_folds=3), X, y,
                               cv=StratifiedKFold(3, shuffle=True, random_state=0))
    assert np.all(accuracy > 0.9)


def test_example_chooses_pca_components(capsys):
    example = load_script(ROOT / "examples" / "choose_pca_components.py")
    search = example.main()
    best = search.best_params_["pca__n_components"]
    assert best in example.N_COMPONENTS
    assert search.best_score_ > 0.3
    assert f"best n_components: {best}" in capsys.readouterr().out


# --------------------------------------------------------------------------------------------
# errors: one line, naming the field
# --------------------------------------------------------------------------------------------

def _one_line_error(match, call, error=InputError):
    with pytest.raises(error, match=match) as info:
        call()
    assert "\n" not in str(info.value)


def test_clear_errors(data):
    X, y, batch = data
    _one_line_error(r"^batch: BatchIntegrationBenchmark needs each cell's batch",
                    lambda: BatchIntegrationBenchmark().fit(X, y))
    fitted = BatchIntegrationBenchmark().fit(X, y, batch=batch)
    _one_line_error(r"^batch: ", lambda: fitted.score(X, y))
    _one_line_error(r"^batch: has 239 entries but X has 240 rows",
                    lambda: BatchIntegrationBenchmark().fit(X, y, batch=batch[1:]))
    _one_line_error(r"^y: has 239 entries but X has 240 rows",
                    lambda: ClusteringBenchmark().fit(X, y[1:]))
    _one_line_error(r"^y: has 239 entries",
                    lambda: LabelPredictionBenchmark().fit(X, y[1:]))
    _one_line_error(r"^y: 1 labels are missing",
                    lambda: EmbeddingBenchmark().fit(X, np.r_[[None], y[1:]]))
    _one_line_error(r"^y: .*requires y to be passed", lambda: EmbeddingBenchmark().fit(X, None))
    _one_line_error(r"^X: Expected 2D array", lambda: ClusteringBenchmark().fit(X[:, 0], y))
    bad = X.copy()
    bad[3, 2] = np.nan
    _one_line_error(r"^X: Input X contains NaN\.$", lambda: ClusteringBenchmark().fit(bad, y))
    _one_line_error(r"^X: X has 3 features, but EmbeddingBenchmark is expecting 8",
                    lambda: EmbeddingBenchmark().fit(X, y).score(X[:, :3], y))
    obj = X.astype(object)
    obj[0, 0] = {"a": 1}
    _one_line_error(r"^X: .*must be a string", lambda: EmbeddingBenchmark().fit(obj, y),
                    InputTypeError)
    _one_line_error(r"^classifiers: unknown classifier 'svm'",
                    lambda: LabelPredictionBenchmark(classifiers=("lr", "svm")).fit(X, y))
    _one_line_error(r"^primary_classifier: 'rf' is not in classifiers",
                    lambda: LabelPredictionBenchmark(classifiers=("lr",),
                                                     primary_classifier="rf").fit(X, y))
    _one_line_error(r"^y: fewer than 2 classes have at least 100 cells",
                    lambda: LabelPredictionBenchmark(min_class_size=100).fit(X, y))
    _one_line_error(r"^y: Unknown label type: continuous",
                    lambda: LabelPredictionBenchmark().fit(X, X[:, 0]))
    _one_line_error(r"^random_state: ", lambda: EmbeddingBenchmark(random_state="x").fit(X, y))
    _one_line_error(r"^n_neighbors: expected an integer >= 2, got 'many'",
                    lambda: ClusteringBenchmark(n_neighbors="many").fit(X, y))
    _one_line_error(r"^classifiers: expected a tuple of names",
                    lambda: LabelPredictionBenchmark(classifiers="lr").fit(X, y))
    with pytest.raises(NotFittedError):
        ClusteringBenchmark().score(X, y)
    with pytest.raises(NotFittedError):
        LabelPredictionBenchmark().predict(X)


def test_package_exports():
    assert sorted(czbench.estimators.__all__) == sorted([
        "BatchIntegrationBenchmark", "ClusteringBenchmark", "CrossSpeciesIntegrationBenchmark",
        "CrossSpeciesLabelPredictionBenchmark", "EmbeddingBenchmark", "InputTypeError",
        "LabelPredictionBenchmark", "NicheCompositionBenchmark",
        "PerturbationExpressionPredictionBenchmark", "ReplicateRetrievalBenchmark",
        "SequenceClassificationBenchmark", "SequentialOrganizationBenchmark",
        "SpatialDomainsBenchmark", "TaskBenchmark", "results_frame"])
    for name in czbench.estimators.__all__:
        assert getattr(czbench.estimators, name).__module__.startswith("czbench.estimators.")
