"""The scib-metrics set inside the tasks: values equal the pure metric functions on the shared
graph, the ``metrics`` choice restricts and is recorded, ``pcr_comparison`` reads the
unintegrated representation, and the Benchmarker aggregates and report table follow their
definitions (docs/spec.md#scib-metrics-metric-set, docs/spec.md#aggregates)."""

from __future__ import annotations

import numpy as np
import pytest

from czbench.context import RunContext
from czbench.datasets.synthetic import gaussian_mixture
from czbench.metrics.bras import bras
from czbench.metrics.graph_connectivity import graph_connectivity
from czbench.metrics.isolated_labels import isolated_labels
from czbench.metrics.kbet import kbet_per_label
from czbench.metrics.lisi import clisi_knn, ilisi_knn
from czbench.metrics.pcr import pcr_comparison
from czbench.neighbors import knn_graph
from czbench.run import benchmark
from czbench.run.summary import SCIB_BATCH, SCIB_BIO
from czbench.tasks import get_task


@pytest.fixture(scope="module")
def mixture():
    adata = gaussian_mixture(600, 12, n_types=5, n_batches=3, batch_scale=1.5, seed=7)
    rng = np.random.default_rng(1)
    adata.obsm["X_unintegrated"] = adata.obsm["X_emb"] + rng.normal(0, 0.1, (600, 12))
    return adata


def _by_metric(results):
    return {r.metric: r.value for r in results}


def test_task_values_equal_the_metric_functions_on_one_graph(mixture):
    x = np.asarray(mixture.obsm["X_emb"], dtype=np.float32)
    obs = mixture.obs
    labels, batch = obs["cell_type"].astype(str).to_numpy(), obs["batch"].astype(str).to_numpy()
    task = get_task("batch_integration", pre_integration="obsm:X_unintegrated")
    state = task.prepare(mixture, RunContext(seed=3))
    got = _by_metric(task.run(x, obs, context=RunContext(seed=3), prepared=state))
    knn = knn_graph(x, 200)
    assert got["ilisi_knn"] == pytest.approx(ilisi_knn(knn.head(90), batch), abs=1e-12)
    assert got["kbet_per_label"] == pytest.approx(
        kbet_per_label(knn.head(50), batch, labels, seed=3), abs=1e-12)
    assert got["graph_connectivity"] == graph_connectivity(knn.head(15), labels)
    assert got["bras"] == pytest.approx(bras(x, labels, batch), abs=1e-12)
    assert got["pcr_comparison"] == pytest.approx(
        pcr_comparison(mixture.obsm["X_unintegrated"], x, batch), abs=1e-12)
    emb = _by_metric(get_task("embedding").run(x, obs))
    assert emb["clisi_knn"] == pytest.approx(clisi_knn(knn.head(90), labels), abs=1e-12)
    assert emb["isolated_labels"] == pytest.approx(isolated_labels(x, labels, batch), abs=1e-12)


def test_metrics_option_restricts_and_is_recorded(mixture):
    result = benchmark(mixture, {"emb": "obsm:X_emb"}, ["batch_integration", "embedding"],
                       task_options={"batch_integration": {
                           "metrics": "entropy_per_cell,batch_silhouette"},
                           "embedding": {"metrics": ["silhouette_score"]}})
    doc = result.document
    assert [r["metric"] for r in doc["results"]] == ["entropy_per_cell", "batch_silhouette",
                                                     "silhouette_score"]
    assert doc["tasks"]["batch_integration"]["metrics"] == ["entropy_per_cell",
                                                            "batch_silhouette"]
    with pytest.raises(Exception, match="metrics: expected some of"):
        get_task("batch_integration", metrics="entropy_per_cell,nope")


def test_unintegrated_embedding_scores_pcr_zero_and_a_corrected_one_more(mixture):
    x_raw = np.asarray(mixture.obsm["X_emb"], dtype=np.float64)
    batch = mixture.obs["batch"].astype(str).to_numpy()
    corrected = x_raw.copy()
    for b in np.unique(batch):  # remove each batch's mean shift
        corrected[batch == b] -= corrected[batch == b].mean(axis=0)
    mixture = mixture.copy()
    mixture.obsm["X_pre"] = x_raw
    mixture.obsm["X_corrected"] = corrected
    result = benchmark(mixture, {"raw": "obsm:X_pre", "corrected": "obsm:X_corrected"},
                       ["batch_integration"],
                       task_options={"batch_integration": {"pre_integration": "obsm:X_pre"}})
    values = {(r["embedding"], r["metric"]): r["value"] for r in result.document["results"]}
    assert values[("raw", "pcr_comparison")] == 0.0
    assert values[("corrected", "pcr_comparison")] > 0.9
    for metric in ("ilisi_knn", "kbet_per_label", "bras", "entropy_per_cell"):
        assert values[("corrected", metric)] > values[("raw", metric)], metric


def test_benchmarker_aggregates_and_report_table(mixture, tmp_path):
    from czbench.report import write_report

    result = benchmark(mixture, {"emb": "obsm:X_emb", "unint": "obsm:X_unintegrated"},
                       ["clustering", "embedding", "batch_integration"],
                       task_options={"batch_integration": {"pre_integration": "obsm:X_emb"}})
    doc = result.document
    plain = {(r["embedding"], r["task"], r["metric"]): r["value"] for r in doc["results"]
             if not r["params"]}
    for agg in doc["aggregates"]:
        bio = np.mean([plain[(agg["embedding"], t, m)] for t, m in SCIB_BIO])
        batch = np.mean([plain[(agg["embedding"], t, m)] for t, m in SCIB_BATCH])
        assert agg["scib_bio"] == pytest.approx(bio, abs=1e-12)
        assert agg["scib_batch"] == pytest.approx(batch, abs=1e-12)
        assert agg["scib_total"] == pytest.approx(0.6 * bio + 0.4 * batch, abs=1e-12)
    path = result.write_json(tmp_path / "run.json")
    write_report([path], tmp_path / "raw")
    write_report([path], tmp_path / "scaled", min_max=True)
    raw = (tmp_path / "raw" / "report.md").read_text()
    scaled = (tmp_path / "scaled" / "report.md").read_text()
    assert "scib-metrics Benchmarker table" in raw and "not min-max scaled" in raw
    assert "min-max scaled across the embeddings shown" in scaled
