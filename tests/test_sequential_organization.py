"""Task ``sequential_organization``: sequential_alignment against a brute-force reference, the
time silhouette against scikit-learn, seeding, properties that can fail, clear errors, the real
time-course dataset through benchmark() and the CLI, and the scikit-learn estimator."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import silhouette_score as sk_silhouette_score
from sklearn.neighbors import NearestNeighbors
from sklearn.utils.estimator_checks import parametrize_with_checks
from threadpoolctl import threadpool_limits

from czbench.context import RunContext
from czbench.errors import InputError
from czbench.estimators import SequentialOrganizationBenchmark
from czbench.metrics.sequential import random_baseline, sequential_alignment, time_values
from czbench.neighbors import knn_graph
from czbench.tasks import get_task, list_tasks
from czbench.tasks.sequential_organization import SEQUENTIAL_K, SequentialOrganizationTask

DATASET = "bmdc_lps_timecourse_shalek_pseudotimede"


@pytest.fixture(autouse=True, scope="module")
def _single_thread():
    """One BLAS / torch thread: the machine is small and shared (both sides of every
    comparison run under it)."""
    n_torch = torch.get_num_threads()
    with threadpool_limits(limits=1):
        torch.set_num_threads(1)
        yield
    torch.set_num_threads(n_torch)


# --------------------------------------------------------------------------------------------
# independent references
# --------------------------------------------------------------------------------------------

def reference_alignment(X, t, k, seed):
    """The definition (docs/spec.md#sequential_alignment) written out with scikit-learn's
    brute-force kNN and explicit candidate lists: per cell the mean |t_i - t_j| over its k
    neighbours (self excluded), mean over cells; the random baseline draws min(10,000, 10 n)
    cells from default_rng(seed), then per cell k distinct cells among the others."""
    X = np.asarray(X, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    n = len(t)
    if len(np.unique(t)) == 1:
        return 1.0
    k = min(k, n - 1)
    neighbours = NearestNeighbors(n_neighbors=k, algorithm="brute").fit(X).kneighbors(
        return_distance=False)  # the query cell itself is left out
    per_cell = [np.mean(np.abs(t[i] - t[neighbours[i]])) for i in range(n)]
    mean_knn = np.mean(per_cell)
    rng = np.random.default_rng(seed)
    m = min(10_000, 10 * n)
    cells = rng.integers(0, n, size=m)
    diffs = []
    for i in cells:
        candidates = np.delete(np.arange(n), i)
        chosen = candidates[rng.choice(len(candidates), size=k, replace=False)]
        diffs.append(np.abs(t[i] - t[chosen]))
    baseline = np.mean(np.concatenate(diffs))
    return float(min(1.0, max(0.0, 1.0 - mean_knn / baseline)))


def time_course(n_per_time=60, times=(0.0, 1.0, 2.5, 4.0, 6.0), dims=6, noise=0.4, seed=0):
    """Cells whose first coordinate follows time (plus noise), other coordinates pure noise."""
    rng = np.random.default_rng(seed)
    t = np.repeat(np.asarray(times, dtype=float), n_per_time)
    X = rng.normal(size=(len(t), dims))
    X[:, 0] = t + rng.normal(scale=noise, size=len(t))
    order = rng.permutation(len(t))
    return X[order], t[order]


def _obs(t, key="time"):
    return pd.DataFrame({key: t})


# --------------------------------------------------------------------------------------------
# sequential_alignment: exact against the reference
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("k, seed, n_per_time, noise", [
    (15, 42, 40, 0.8), (5, 0, 30, 2.0), (1, 7, 20, 1.0),
])
def test_sequential_alignment_equals_brute_force_reference(k, seed, n_per_time, noise):
    X, t = time_course(n_per_time=n_per_time, noise=noise, seed=seed)
    expected = reference_alignment(X, t, k, seed)
    assert 0.0 < expected < 1.0  # the comparison is not between two clipped values
    got = sequential_alignment(X, t, k=k, seed=seed)
    assert got == pytest.approx(expected, abs=1e-12, rel=0)
    # a shared graph with more neighbours (as the runner passes it) gives the same value
    shared = knn_graph(X, k + 11)
    assert sequential_alignment(X, t, k=k, seed=seed, knn=shared) == got
    task = get_task("sequential_organization", k=k)
    assert task.knn_k == k + 1
    results = {r.metric: r.value
               for r in task.run(X, _obs(t), knn=shared, context=RunContext(seed=seed))}
    assert results["sequential_alignment"] == got


def test_random_baseline_and_unclipped_value_against_reference():
    """Unnormalised pieces: the baseline equals the reference draws; continuous (non-integer)
    times; a value that would clip at 0 does."""
    rng = np.random.default_rng(3)
    t = rng.uniform(0, 10, size=200)
    X = rng.normal(size=(200, 4))  # unrelated to time
    ref_rng = np.random.default_rng(11)
    cells = ref_rng.integers(0, 200, size=2000)
    diffs = [np.abs(t[i] - np.delete(t, i)[ref_rng.choice(199, size=15, replace=False)])
             for i in cells]
    assert random_baseline(t, 15, seed=11) == pytest.approx(np.mean(diffs), abs=1e-12, rel=0)
    assert sequential_alignment(X, t, seed=11) == pytest.approx(
        reference_alignment(X, t, 15, 11), abs=1e-12, rel=0)
    assert sequential_alignment(X, t, seed=11) < 0.1  # random embedding: near 0
    # cells on a line alternating between times 0 and 1: both neighbours (k=2) are of the other
    # time, mean 1 > random ~0.5, so the value is clipped at 0
    line, alternating = np.arange(40.0)[:, None], np.arange(40) % 2
    assert reference_alignment(line, alternating, 2, 0) == 0.0
    assert sequential_alignment(line, alternating, k=2, seed=0) == 0.0
    # k is capped at n - 1 (every other cell)
    X15, t15 = X[:15], np.round(t[:15])
    assert sequential_alignment(X15, t15, k=15, seed=1) == sequential_alignment(X15, t15, k=14,
                                                                                seed=1)
    assert sequential_alignment(X15, t15, k=15, seed=1) == pytest.approx(
        reference_alignment(X15, t15, 15, 1), abs=1e-12, rel=0)


def test_seeded_bit_identical_and_seed_changes_random_baseline():
    X, t = time_course(noise=1.0, seed=1)
    first = sequential_alignment(X, t, seed=5)
    assert sequential_alignment(X, t, seed=5) == first  # bit-identical
    assert random_baseline(t, 15, seed=5) == random_baseline(t, 15, seed=5)
    assert random_baseline(t, 15, seed=5) != random_baseline(t, 15, seed=6)
    assert sequential_alignment(X, t, seed=6) != first
    context = RunContext(seed=5)
    run = [r.to_dict() for r in get_task("sequential_organization").run(X, _obs(t),
                                                                       context=context)]
    again = [r.to_dict() for r in get_task("sequential_organization").run(X, _obs(t),
                                                                         context=context)]
    assert run == again
    assert run[1]["value"] == first
    # the default context is seed 42
    default = get_task("sequential_organization").run(X, _obs(t))
    assert default[1].value == sequential_alignment(X, t, seed=42)


# --------------------------------------------------------------------------------------------
# silhouette and properties
# --------------------------------------------------------------------------------------------

def test_silhouette_equals_sklearn():
    X, t = time_course(noise=1.5, seed=2)
    results = {r.metric: r.value for r in get_task("sequential_organization").run(X, _obs(t))}
    expected = (sk_silhouette_score(X, t) + 1.0) / 2.0
    assert results["silhouette_score"] == pytest.approx(expected, abs=1e-6, rel=0)
    # string time labels that parse as numbers group identically
    strings = _obs(np.array([f"{v:g}" for v in t]))
    again = {r.metric: r.value for r in get_task("sequential_organization").run(X, strings)}
    assert again == results


def test_time_ordered_embedding_beats_shuffled():
    X, t = time_course(noise=0.3, seed=4)
    shuffled = X[np.random.default_rng(0).permutation(len(X))]
    task = get_task("sequential_organization")
    ordered = {r.metric: r.value for r in task.run(X, _obs(t))}
    random = {r.metric: r.value for r in task.run(shuffled, _obs(t))}
    assert ordered["sequential_alignment"] > 0.6
    assert random["sequential_alignment"] < 0.15
    assert ordered["silhouette_score"] > random["silhouette_score"] + 0.05
    for result in (ordered, random):
        assert all(0.0 <= v <= 1.0 for v in result.values())


def test_one_unique_time_is_an_error():
    """cz-benchmarks returns 1.0 for any embedding here; czbench refuses (undefined)."""
    X, _ = time_course(n_per_time=10, seed=5)
    t = np.full(len(X), 4.0)
    with pytest.raises(InputError, match="same time"):
        sequential_alignment(X, t)
    with pytest.raises(InputError, match="time_key: obs column 'time' has one time point"):
        get_task("sequential_organization").run(X, _obs(t))


# --------------------------------------------------------------------------------------------
# declared inputs and errors
# --------------------------------------------------------------------------------------------

def test_declared_inputs_and_options():
    assert "sequential_organization" in list_tasks()
    task = get_task("sequential_organization", time_key="hours", k=10)
    assert isinstance(task, SequentialOrganizationTask)
    assert task.required_columns == ["hours"]
    assert task.knn_k == 11
    assert task.options() == {"time_key": "hours", "k": 10}  # the seed is the run's
    assert get_task("sequential_organization").knn_k == SEQUENTIAL_K + 1 == 16
    _one_line_error(r"^seed: the seed belongs to the run",
                    lambda: get_task("sequential_organization", seed=3))
    X, t = time_course(n_per_time=20, seed=6)
    hours = {r.metric: r.value
             for r in task.run(X, _obs(t, "hours"), context=RunContext(seed=3))}
    assert hours["sequential_alignment"] == sequential_alignment(X, t, k=10, seed=3)


def _one_line_error(match, call):
    with pytest.raises(InputError, match=match) as info:
        call()
    assert "\n" not in str(info.value)
    return str(info.value)


def test_non_numeric_time_is_a_clear_error():
    X, _ = time_course(n_per_time=4, seed=7)
    labels = np.array(["1", "2h", "late", "0.25", "early"] * 4)
    task = get_task("sequential_organization", time_key="stage")
    message = _one_line_error(r"^time_key: obs column 'stage'",
                              lambda: task.run(X, _obs(labels, "stage")))
    assert "'2h'" in message and "'late'" in message and "'early'" in message
    assert "'0.25'" not in message and "12 of 20" in message
    _one_line_error(r"^time_key: obs column 'stage'.*booleans",
                    lambda: task.check_inputs(_obs(np.arange(20) % 2 == 0, "stage")))
    _one_line_error(r"^time_key: task 'sequential_organization' needs obs column 'stage'",
                    lambda: task.run(X, _obs(np.arange(20))))
    _one_line_error(r"^time: .*'x'", lambda: sequential_alignment(X, ["x"] + ["1"] * 19))
    _one_line_error(r"^time: has 19 entries", lambda: sequential_alignment(X, np.arange(19)))
    _one_line_error(r"^k: ", lambda: get_task("sequential_organization", k=0))
    np.testing.assert_array_equal(time_values(pd.Series(["4", " 0.25", "6"]).astype("category")),
                                  [4.0, 0.25, 6.0])


# --------------------------------------------------------------------------------------------
# the real time course: benchmark() and the CLI
# --------------------------------------------------------------------------------------------

def test_real_dataset_pca_beats_shuffled_pca(tmp_path):
    from czbench.cli import main
    from czbench.run import benchmark

    result = benchmark(DATASET, ["baseline:pca"], ["sequential_organization"])
    frame = result.to_frame().set_index("metric")["value"]
    assert set(frame.index) == {"silhouette_score", "sequential_alignment"}
    assert ((frame >= 0.0) & (frame <= 1.0)).all()

    from czbench.baselines import baseline
    from czbench.datasets import load
    adata = load(DATASET)
    assert sorted(adata.obs["time"].unique()) == [1, 2, 4, 6]
    # the source's own labels ("1h", ...) are not numbers: refused before any work
    _one_line_error(r"^time_key: obs column 'time_original'.*'1h'",
                    lambda: benchmark(adata, ["baseline:pca"], ["sequential_organization"],
                                      task_options={"sequential_organization":
                                                    {"time_key": "time_original"}}))
    pca = baseline("pca", adata, seed=42)
    shuffled = pca[np.random.default_rng(0).permutation(adata.n_obs)]
    both = benchmark(adata, [pca, shuffled], ["sequential_organization"]).to_frame()
    assert list(both["embedding"].unique()) == ["array:0", "array:1"]  # arrays named in order
    values = both.pivot(index="metric", columns="embedding", values="value")
    assert frame["sequential_alignment"] > 0.5
    for metric in ("silhouette_score", "sequential_alignment"):
        real, random = values.loc[metric, "array:0"], values.loc[metric, "array:1"]
        assert real == frame[metric]  # the same PCA, seed and task
        assert real > random + (0.3 if metric == "sequential_alignment" else 0.01)

    out = tmp_path / "seq.json"
    assert main(["run", "--dataset", DATASET, "--task", "sequential_organization",
                 "--output", str(out), "--quiet"]) == 0
    document = json.loads(out.read_text())
    cli = {r["metric"]: r["value"] for r in document["results"]}
    assert cli == frame.to_dict()
    assert document["tasks"]["sequential_organization"] == {"time_key": "time", "k": 15}


# --------------------------------------------------------------------------------------------
# the scikit-learn estimator
# --------------------------------------------------------------------------------------------

#: sklearn's checks pass numeric y (regression-style targets), which is what the estimator
#: takes; none is expected to fail. A check that starts failing (e.g. one passing string class
#: labels as y in a future scikit-learn) fails this test loudly: xfail_strict=True.
EXPECTED_FAILED_CHECKS: dict[str, str] = {}


@parametrize_with_checks([SequentialOrganizationBenchmark()],
                         expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS,
                         xfail_strict=True)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_estimator_equals_the_task():
    X, t = time_course(noise=1.0, seed=8)
    X2, t2 = time_course(n_per_time=30, noise=0.5, seed=9)
    est = SequentialOrganizationBenchmark(k=10, random_state=4)
    assert est.fit(X, t) is est
    context = RunContext(seed=4)
    expected = get_task("sequential_organization", k=10).run(X, _obs(t), context=context)
    assert est.results_.to_dict("records") == [r.to_dict() for r in expected]
    assert est.score_ == expected[1].value
    other = get_task("sequential_organization", k=10).run(X2, _obs(t2), context=context)
    assert est.score(X2, t2) == other[1].value
    assert est.score(X2, [str(v) for v in t2]) == other[1].value  # parseable strings
    assert est.get_params() == {"time_key": "time", "k": 10, "random_state": 4}
    _one_line_error(r"^y: .*'late'", lambda: est.fit(X, ["late"] + list(t[1:])))
    _one_line_error(r"^y: has 299 entries", lambda: est.fit(X, t[1:]))
