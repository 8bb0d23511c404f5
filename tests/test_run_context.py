"""One RunContext (seed, kNN backend, device) reaches every task on every path."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import czbench.tasks.base as task_base
from czbench.context import RunContext
from czbench.datasets.synthetic import gaussian_mixture
from czbench.errors import InputError
from czbench.metrics import entropy_per_cell, sequential_alignment
from czbench.neighbors import knn_graph
from czbench.run import benchmark
from czbench.tasks import get_task


@pytest.fixture(scope="module")
def mixture():
    adata = gaussian_mixture(600, 8, n_types=4, n_batches=3, seed=0)
    return np.asarray(adata.obsm["X_emb"]), adata.obs.reset_index(drop=True)


def test_standalone_task_run_builds_its_graph_with_the_context(mixture, monkeypatch):
    x, obs = mixture
    seen = []
    real = task_base.knn_graph

    def spy(values, k, **kwargs):
        seen.append(kwargs)
        return real(values, k, **kwargs)

    monkeypatch.setattr(task_base, "knn_graph", spy)
    context = RunContext(seed=7, knn_backend="faiss-ivf", device="cpu")
    get_task("batch_integration").run(x, obs, context=context)
    assert seen == [{"backend": "faiss-ivf", "seed": 7, "device": "cpu"}]


def test_metric_functions_take_seed_backend_and_device(mixture):
    x, obs = mixture
    batch = obs["batch"].to_numpy()
    exact = entropy_per_cell(x, batch, k=50, backend="exact", device="cpu")
    assert exact == entropy_per_cell(x, batch, knn=knn_graph(x, 50, backend="exact"), k=50)
    ivf = [entropy_per_cell(x, batch, k=50, backend="faiss-ivf", seed=s) for s in (0, 0)]
    assert ivf[0] == ivf[1]
    time = obs["cell_type"].cat.codes.to_numpy().astype(float)
    a = sequential_alignment(x, time, seed=1, backend="exact", device="cpu")
    assert a == sequential_alignment(x, time, seed=1)
    assert a != sequential_alignment(x, time, seed=2)  # the seeded random baseline moved


def test_the_seed_of_a_standalone_run_changes_seeded_tasks(mixture):
    x, obs = mixture
    task = get_task("label_prediction", classifiers=("rf",))
    first = task.run(x, obs, context=RunContext(seed=0))
    again = task.run(x, obs, context=RunContext(seed=0))
    other = task.run(x, obs, context=RunContext(seed=1))
    assert [r.value for r in first] == [r.value for r in again]
    assert [r.value for r in first] != [r.value for r in other]
    assert get_task("label_prediction").run(x[:200], obs.iloc[:200]) is not None  # default


def test_a_run_records_the_context_and_uses_its_backend():
    adata = gaussian_mixture(600, 8, n_types=4, n_batches=3, seed=0)
    result = benchmark(adata, ["obsm:X_emb"], ["batch_integration"], seed=3,
                       knn_backend="faiss-ivf", device="cpu")
    doc = result.document
    assert doc["context"] == {"knn_backend": "faiss-ivf", "device": "cpu"}
    assert doc["embeddings"][0]["neighbors"]["backend"] == "faiss-ivf"


def test_seeds_are_integers_and_devices_exist():
    with pytest.raises(InputError,
                       match=r"seed: expected an integer in \[0, 4294967295\], got 3.7"):
        RunContext(seed=3.7)
    with pytest.raises(InputError, match="seed: expected an integer"):
        RunContext(seed=True)
    assert RunContext(seed=3.0).seed == 3
    with pytest.raises(InputError, match="knn_backend: expected one of"):
        RunContext(knn_backend="hnsw")
    with pytest.raises(InputError, match="device: expected a torch device"):
        RunContext(device="gpu0")
    with pytest.raises(InputError, match="seed belongs to the run"):
        get_task("clustering", seed=3)


def test_options_come_from_the_signature_not_from_run_time_state(mixture):
    x, obs = mixture
    task = get_task("label_prediction", classifiers=("lr",), max_cells=300)
    before = task.options()
    run = task.evaluate(x, obs)
    assert run.resolved == {"n_cells": 300, "n_classes": 4}
    assert task.options() == before
    assert set(before) == {"label_key", "n_folds", "min_class_size", "classifiers",
                           "max_cells", "group_key", "missing_labels"}  # n_jobs never
    # changes a number: not recorded


def test_label_prediction_subsamples_before_dropping_small_classes():
    """A 10-cell class left with one cell by max_cells crashed the AUROC of a 2-class fold
    ("multi_class must be in ('ovo', 'ovr')"); it is now dropped after the subsample."""
    rng = np.random.default_rng(0)
    labels = np.array(["a"] * 300 + ["b"] * 300 + ["c"] * 10)
    x = rng.normal(size=(len(labels), 5)) + (labels == "a")[:, None] * 2.0
    obs = pd.DataFrame({"cell_type": labels})
    task = get_task("label_prediction", max_cells=50, classifiers=("lr", "rf"))
    run = task.evaluate(x, obs, context=RunContext(seed=0))
    assert run.resolved == {"n_cells": 49, "n_classes": 2}
    assert len(run.results) == 15 and all(0.0 <= r.value <= 1.0 for r in run.results)
