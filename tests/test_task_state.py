"""Task state per (dataset, seed): what ``Task.prepare`` returns is kept by the run layer per
seed and passed back to ``evaluate``, so a two-seed run equals two one-seed runs metric for
metric; the PCA that ``baseline:pca``, the controls and ``pcr_comparison`` share is computed
once per (dataset, seed)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import scanpy as sc
from test_perturbation import synthetic

from czbench import benchmark
from czbench.context import RunCache, RunContext
from czbench.tasks import get_task
from czbench.testing import example_data

SEEDS = [3, 11]

#: every task but the cross-species ones (batch_integration's subclass and label_prediction's
#: sibling, which prepare nothing), on data with the columns each reads
EMBEDDING_TASKS = {
    "clustering": {}, "embedding": {}, "label_prediction": {"classifiers": ("knn",)},
    "batch_integration": {}, "sequential_organization": {},
    "replicate_retrieval": {"perturbation_key": "condition", "control": "DMSO"},
}


@pytest.fixture(scope="module")
def example():
    return example_data(0)


def _by_key(results) -> dict:
    return {(r["seed"], r["embedding"], r["task"], r["metric"], str(r["params"])): r["value"]
            for r in results}


@pytest.mark.parametrize("kind", ["embedding", "expression"])
def test_a_two_seed_run_equals_two_one_seed_runs(example, kind):
    """Regression: one task instance was prepared for every seed in turn, so every seed ran
    on the state of the last (batch_integration's pcr_comparison on the last seed's PCA; the
    perturbation task kept its truths by seed itself)."""
    if kind == "embedding":
        data, inputs, options = example, ["baseline:pca"], EMBEDDING_TASKS
    else:
        data, inputs = synthetic(), ["baseline:observed"]
        options = {"perturbation_expression_prediction": {"control": "ctrl"}}
    tasks = list(options)
    both = benchmark(data, inputs, tasks, seeds=SEEDS, task_options=options)
    alone = [r for seed in SEEDS for r in benchmark(data, inputs, tasks, seed=seed,
                                                    task_options=options).document["results"]]
    assert _by_key(both.document["results"]) == _by_key(alone)
    assert {(r["seed"], r["task"]) for r in both.document["results"]} == \
        {(seed, task) for seed in SEEDS for task in tasks}
    if kind == "embedding":  # the seed-dependent state is scored
        assert "pcr_comparison" in {r["metric"] for r in both.document["results"]}


def test_the_pca_is_computed_once_per_dataset_and_seed(example, monkeypatch):
    """``baseline:pca``, the five controls and pcr_comparison read one PCA per seed: scanpy's
    PCA runs twice in a two-seed run (six times before: the baseline, the controls and
    the task each computed their own)."""
    calls = []
    original = sc.pp.pca

    def counting(*args, **kwargs):
        calls.append(kwargs.get("random_state"))
        return original(*args, **kwargs)

    monkeypatch.setattr(sc.pp, "pca", counting)
    result = benchmark(example, ["baseline:pca"], ["embedding", "batch_integration"],
                       seeds=SEEDS, controls=True,
                       task_options={"batch_integration": {"metrics": ["pcr_comparison"]}})
    assert sorted(calls) == SEEDS
    sources = {e["source"] for e in result.document["embeddings"]}
    assert {"baseline:pca", "control:pca", "control:shuffled"} <= sources
    pca = {e["seed"]: e["sha256"] for e in result.document["embeddings"]
           if e["source"] in ("baseline:pca", "control:pca")}
    assert len(pca) == 2  # the same matrix for the baseline and the control, per seed
    for seed in SEEDS:
        assert len({e["sha256"] for e in result.document["embeddings"]
                    if e["seed"] == seed and e["source"] in ("baseline:pca", "control:pca")}) == 1


def test_prepare_returns_state_and_keeps_none_on_the_task(example):
    """``prepare`` returns a value per (dataset, seed) and leaves the task as it was: the same
    instance prepared for two seeds gives two states, each scoring as if prepared alone."""
    task = get_task("batch_integration", metrics=["pcr_comparison"])
    before = dict(vars(task))
    states = {seed: task.prepare(example, RunContext(seed=seed)) for seed in SEEDS}
    assert vars(task) == before
    assert not np.array_equal(states[SEEDS[0]].values, states[SEEDS[1]].values)
    x = np.asarray(example.obsm["X_pca"]) if "X_pca" in example.obsm else \
        np.random.default_rng(0).normal(size=(example.n_obs, 8)).astype(np.float32)
    for seed in SEEDS:
        alone = get_task("batch_integration", metrics=["pcr_comparison"]).prepare(
            example, RunContext(seed=seed))
        context = RunContext(seed=seed)
        assert [r.value for r in task.run(x, example.obs, context=context,
                                          prepared=states[seed])] == \
            [r.value for r in task.run(x, example.obs, context=context, prepared=alone)]
    copy = pickle.loads(pickle.dumps(states[SEEDS[0]]))
    assert np.array_equal(copy.values, states[SEEDS[0]].values)
    assert get_task("clustering").prepare(example, RunContext(seed=0)) is None


def test_run_cache_computes_once_and_never_travels(example):
    cache = RunCache()
    calls = []
    for _ in range(3):
        assert cache.get(example, "k", lambda: calls.append(1) or 7) == 7
    assert calls == [1] and cache.computed == {"k": 1}
    other = example.copy()
    assert cache.get(other, "k", lambda: 8) == 8  # another dataset, another value
    assert pickle.loads(pickle.dumps(cache)).computed == {}
    context = RunContext(seed=0, cache=cache)
    assert context.with_seed(1).cache is cache and context == RunContext(seed=0)
    assert context.with_new_cache().cache is not cache


def _defaults(fn) -> dict:
    import inspect

    return {p.name: p.default for p in inspect.signature(fn).parameters.values()
            if p.default is not inspect.Parameter.empty}


def test_estimator_defaults_are_their_tasks_defaults():
    """Each estimator restates its task's options as ``__init__`` parameters (scikit-learn's
    get_params reads the signature): a default that drifts from the task's fails here."""
    import czbench.estimators as est
    from czbench.estimators.perturbation import TASK
    from czbench.tasks import task_class

    pairs = {cls: cls._task_name for cls in vars(est).values()
             if isinstance(cls, type) and isinstance(getattr(cls, "_task_name", None), str)}
    pairs[est.LabelPredictionBenchmark] = "label_prediction"
    pairs[est.PerturbationExpressionPredictionBenchmark] = TASK
    assert len(pairs) >= 9
    drift = []
    for cls, name in pairs.items():
        task = task_class(name)
        ours, theirs = _defaults(cls.__init__), _defaults(task.__init__)
        shared = (set(ours) & set(theirs)) - set(task.unrecorded_options)  # e.g. n_jobs
        assert shared or cls is est.EmbeddingBenchmark, cls.__name__
        for option in sorted(shared):
            expected, got = theirs[option], ours[option]
            if isinstance(expected, tuple) and isinstance(got, list | tuple):
                got = tuple(got)
            if got != expected:
                drift.append(f"{cls.__name__}.{option}: {got!r} != task {expected!r}")
    assert not drift


def test_run_config_is_frozen_validated_once_and_recorded_whole(example):
    """Every front door builds one RunConfig; its checks are one-line errors before any work,
    and the results file records it whole."""
    from dataclasses import FrozenInstanceError

    from czbench.errors import InputError
    from czbench.run import RunConfig, run_config

    config = RunConfig.from_kwargs([example], ["baseline:pca"], ["embedding"], seeds=[1, 2],
                                   task_options={"embedding": {}})
    assert config.seeds == (1, 2) and config.tasks == ("embedding",)
    with pytest.raises(FrozenInstanceError):
        config.seeds = (3,)
    for kwargs, field in [({"seeds": [1, 1]}, "seeds"), ({"tasks": ["nope"]}, "task"),
                          ({"knn_backend": "x"}, "knn_backend"), ({"controls": 1}, "controls"),
                          ({"task_options": {"nope": {}}}, "task options"),
                          ({"n_workers": 0}, "n_workers")]:
        with pytest.raises(InputError, match=field) as info:
            RunConfig.from_kwargs([example], **kwargs)
        assert "\n" not in str(info.value)
    result = run_config(config)[0]
    recorded = result.document["config"]
    assert recorded["seeds"] == [1, 2] and recorded["tasks"] == ["embedding"]
    assert recorded["embeddings"] == ["baseline:pca"] and recorded["knn_backend"] == "auto"
    assert recorded["datasets"][0].startswith("anndata (300 x")
    keyword = benchmark(example, ["baseline:pca"], ["embedding"], seeds=[1, 2])
    assert _by_key(keyword.document["results"]) == _by_key(result.document["results"])
