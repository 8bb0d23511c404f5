"""The metric registry: built-ins by name, ``compute`` against the functions and the tasks."""

from __future__ import annotations

import numpy as np
import pytest

from czbench.context import RunContext
from czbench.datasets.synthetic import gaussian_mixture
from czbench.errors import InputError
from czbench.metrics import (
    METRIC_INPUTS,
    MetricInfo,
    clisi_knn,
    compute,
    get_metric,
    graph_connectivity,
    list_metrics,
    register_metric,
    silhouette_score,
    unregister_metric,
)
from czbench.metrics.registry import BUILTIN_METRICS, REGISTRY
from czbench.neighbors import knn_graph
from czbench.tasks import get_task


@pytest.fixture(scope="module")
def data():
    adata = gaussian_mixture(400, 16, n_types=5, n_batches=3, seed=1)
    return (adata.obsm["X_emb"], adata.obs["cell_type"].to_numpy(),
            adata.obs["batch"].to_numpy(), adata.obs)


def test_builtins_are_registered_with_their_origin():
    names = list_metrics()
    assert names[:len(BUILTIN_METRICS)] == list(BUILTIN_METRICS)
    for name in BUILTIN_METRICS:
        assert REGISTRY.origin(name).source == "builtin"
        assert set(get_metric(name).inputs) <= set(METRIC_INPUTS)


def test_compute_equals_the_function(data):
    x, labels, _, _ = data
    assert compute("silhouette_score", x, labels=labels) == silhouette_score(x, labels)
    graph = knn_graph(x, 15, seed=0)
    assert compute("graph_connectivity", x, labels=labels) == \
        graph_connectivity(graph, labels)


def test_a_larger_graph_is_cut_to_the_metrics_k(data):
    """A task's shared graph (200-NN) handed to compute gives the 90-NN clisi, as the
    embedding task reports it."""
    x, labels, _, obs = data
    big = knn_graph(x, 200, seed=0)
    value = compute("clisi_knn", x, labels=labels, knn=big)
    assert value == compute("clisi_knn", x, labels=labels)
    assert value == clisi_knn(big.head(90), labels)
    task = get_task("embedding", batch_key="batch")
    reported = {r.metric: r.value for r in task.run(x, obs, context=RunContext(seed=0))}
    assert value == pytest.approx(reported["clisi_knn"], abs=1e-12)
    assert value != clisi_knn(big, labels)  # the uncut graph would be another number


def test_knn_k_sets_the_neighbourhood(data):
    x, labels, _, _ = data
    big = knn_graph(x, 200, seed=0)
    values = [compute("clisi_knn", x, labels=labels, knn=big, knn_k=k) for k in (30, 90, 150)]
    assert values == [clisi_knn(big.head(k), labels) for k in (30, 90, 150)]
    assert len(set(values)) == 3
    assert compute("clisi_knn", x, labels=labels, knn_k=30) == values[0]  # graph built at 30


def test_inputs_are_checked_before_the_metric_runs(data):
    x, labels, batch, _ = data
    with pytest.raises(InputError, match="metric bras: needs batch"):
        compute("bras", x, labels=labels)
    with pytest.raises(InputError, match=r"^labels: has 399 entries but the embedding has 400"):
        compute("silhouette_score", x, labels=labels[:-1])
    with pytest.raises(InputError, match="unknown metric 'nope'"):
        compute("nope", x, labels=labels)


def test_metric_info_declarations_are_checked():
    with pytest.raises(InputError, match="inputs must be distinct names"):
        MetricInfo("m", np.mean, ("embedding", "colour"), "x")
    with pytest.raises(InputError, match="k must be an int >= 2"):
        MetricInfo("m", np.mean, ("knn", "labels"), "x")
    with pytest.raises(InputError, match="without ':'"):
        MetricInfo("a:b", np.mean, ("embedding",), "x")


def test_register_and_unregister(data):
    x, labels, _, _ = data

    def centroid_count(embedding, labels):
        return float(len(set(labels)))

    info = MetricInfo("centroid_count", centroid_count, ("embedding", "labels"), "n labels")
    register_metric(info)
    try:
        assert REGISTRY.origin("centroid_count").source == "registered"
        assert compute("centroid_count", x, labels=labels) == 5.0
        with pytest.raises(InputError, match="already registered"):
            register_metric(MetricInfo("centroid_count", np.mean, ("embedding",), "x"))
        with pytest.raises(InputError, match="already registered .built-in"):
            register_metric(MetricInfo("bras", np.mean, ("embedding",), "x"))
    finally:
        unregister_metric("centroid_count")
    assert "centroid_count" not in list_metrics()
