"""What a run scores: identities, kinds, defaults on every shipped dataset, checks before work."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import tomllib

import czbench.datasets as ds
import czbench.run.execute as execute
from czbench.cli import main
from czbench.errors import CZBenchError, InputError, MetricError
from czbench.run import benchmark
from czbench.tasks import MetricSpec, Task, register_task, unregister_task

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def pbmc():
    return ds.load("pbmc68k_reduced")


def _never_scored(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("scoring started although the inputs were invalid")

    monkeypatch.setattr(execute, "score_input", fail)


def test_two_arrays_are_two_embeddings_not_one(pbmc):
    good = np.asarray(pbmc.obsm["X_pca"][:, :10])
    noise = np.random.default_rng(0).normal(size=good.shape)
    result = benchmark(pbmc, [good, noise], ["embedding"])
    sources = [e["source"] for e in result.document["embeddings"]]
    assert sources == ["array:0", "array:1"]
    summary = {r["embedding"]: r for r in result.document["summary"]}
    assert summary["array:0"]["n"] == 1 and summary["array:0"]["std"] is None
    assert summary["array:0"]["mean"] > summary["array:1"]["mean"]


def test_a_name_to_array_mapping_names_the_embeddings(pbmc):
    good = np.asarray(pbmc.obsm["X_pca"][:, :10])
    result = benchmark(pbmc, {"pca10": good, "shipped": "obsm:X_pca"}, ["embedding"])
    assert [e["source"] for e in result.document["embeddings"]] == ["pca10", "shipped"]
    assert {r["embedding"] for r in result.document["results"]} == {"pca10", "shipped"}


def test_duplicate_inputs_are_an_error_before_any_work(pbmc, monkeypatch):
    _never_scored(monkeypatch)
    with pytest.raises(InputError, match="'obsm:X_pca' is given twice"):
        benchmark(pbmc, ["obsm:X_pca", "obsm:X_pca"], ["embedding"])
    with pytest.raises(InputError, match="'control:random' is reserved"):
        benchmark(pbmc, {"control:random": np.zeros((700, 2))}, ["embedding"])
    with pytest.raises(InputError, match="clustering given twice"):
        benchmark(pbmc, ["obsm:X_pca"], ["clustering", "clustering"])


def test_cli_repeated_task_flags_add_up(tmp_path):
    out = tmp_path / "r.json"
    assert main(["run", "--dataset", "pbmc68k_reduced", "--embedding", "obsm:X_pca",
                 "--task", "embedding", "--task", "clustering", "--output", str(out),
                 "--quiet"]) == 0
    assert {r["task"] for r in json.loads(out.read_text())["results"]} == {"embedding",
                                                                           "clustering"}


def test_an_obs_and_obsm_only_file_runs(tmp_path, pbmc):
    """What users export from their models: cells, labels and an embedding, no genes."""
    exported = ad.AnnData(obs=pbmc.obs[["bulk_labels", "phase"]].copy(),
                          obsm={"X_model": np.asarray(pbmc.obsm["X_pca"][:, :20])})
    path = tmp_path / "exported.h5ad"
    exported.write_h5ad(path)
    out = tmp_path / "r.json"
    assert main(["run", "--dataset", str(path), "--label-key", "bulk_labels", "--batch-key",
                 "phase", "--embedding", "obsm:X_model", "--output", str(out),
                 "--quiet"]) == 0
    doc = json.loads(out.read_text())
    assert doc["dataset"]["n_genes"] == 0 and doc["dataset"]["n_cells"] == 700
    assert {r["task"] for r in doc["results"]} == {"clustering", "embedding",
                                                   "label_prediction", "batch_integration"}


def test_the_document_is_validated_before_any_work(pbmc, monkeypatch):
    import czbench.run.document as document

    schema = document.schema()
    schema["properties"]["dataset"]["properties"]["n_cells"]["minimum"] = 10_000
    monkeypatch.setattr(document, "schema", lambda: schema)
    _never_scored(monkeypatch)
    with pytest.raises(InputError, match="dataset/n_cells.*checked before the run"):
        benchmark(pbmc, ["obsm:X_pca"], ["embedding"])


@pytest.mark.parametrize("name", ds.list_datasets())
def test_a_default_run_succeeds_on_every_shipped_dataset(name):
    """No --embedding, no --task: the defaults the dataset's columns and kinds allow."""
    fast = {"label_prediction": {"classifiers": ("lr",)},
            "cross_species_label_prediction": {"classifiers": ("lr",)}}
    result = benchmark(name, task_options=fast)
    doc = result.document
    assert doc["results"], name
    expected = set(ds.info(name).tasks)
    assert {r["task"] for r in doc["results"]} >= expected & {
        t for t in expected if t != "label_prediction"}
    for entry in doc["embeddings"]:
        tasks = set(entry["timings_s"]) - {"knn_graph"}
        kinds = {"perturbation_expression_prediction": "expression"}
        assert {kinds.get(t, "embedding") for t in tasks} == {entry["kind"]}


def test_an_embedding_given_to_an_expression_task_is_refused(monkeypatch):
    _never_scored(monkeypatch)
    with pytest.raises(InputError, match="baseline:pca is an embedding, and no task selected "
                                         "scores one"):
        benchmark("thp1_crispr_papalexi_lowmoi_sceptre", ["baseline:pca"],
                  ["perturbation_expression_prediction"])


class _Undefined(Task):
    """A task whose metric is undefined (NaN) on any input."""

    name = "undefined_for_test"
    description = "always NaN"
    metrics = (MetricSpec("nothing", "NaN"),)

    def _run(self, values, obs, knn, context):
        return self._output([self._result("nothing", float("nan"))])


def test_a_nan_metric_is_a_one_line_error(pbmc, tmp_path, capsys):
    register_task(_Undefined)
    try:
        with pytest.raises(MetricError, match="undefined_for_test/nothing: evaluated to NaN"):
            benchmark(pbmc, ["obsm:X_pca"], ["undefined_for_test"])
        code = main(["run", "--dataset", "pbmc68k_reduced", "--task", "undefined_for_test",
                     "--output", str(tmp_path / "r.json"), "--quiet"])
    finally:
        unregister_task("undefined_for_test")
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "evaluated to NaN" in err[0]
    assert issubclass(MetricError, CZBenchError)


def test_aggregates_survive_the_resolution_sweep():
    result = benchmark("pbmc_3chemistries_symphony", ["baseline:pca"],
                       ["clustering", "embedding", "batch_integration"], seeds=[0, 1],
                       task_options={"clustering": {"resolution_sweep": True}})
    aggregates = result.document["aggregates"][0]
    assert aggregates["avg_bio"] is not None and aggregates["scib_overall"] is not None
    rows = [r for r in result.document["summary"] if r["task"] == "clustering"]
    assert all(r["params"] == {} and r["n"] == 2 for r in rows)
    chosen = [e["resolved"]["clustering"]["resolution"] for e in result.document["embeddings"]]
    assert len(chosen) == 2 and all(0.2 <= r <= 2.0 for r in chosen)


def test_python_dash_m_czbench_runs():
    proc = subprocess.run([sys.executable, "-m", "czbench", "--version"], capture_output=True,
                          text=True, check=False)
    assert proc.returncode == 0 and proc.stdout.startswith("czbench ")


def test_the_declared_scikit_learn_floor_is_the_one_the_estimators_need():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    sklearn = next(d for d in deps if d.startswith("scikit-learn"))
    assert sklearn == "scikit-learn>=1.6"  # sklearn.utils.validation.validate_data: 1.6


def test_expression_predictions_by_name_and_as_a_dataframe():
    adata = ds.load("thp1_crispr_papalexi_lowmoi_sceptre")
    from czbench.run.inputs import find_baseline

    observed = find_baseline("observed")(adata, 0)
    frame = pd.DataFrame(observed, index=adata.obs_names, columns=adata.var_names)
    shuffled = frame.sample(frac=1.0, random_state=0)  # rows by name, any order
    result = benchmark(adata, predictions={"mine": shuffled, "again": frame},
                       tasks=["perturbation_expression_prediction"])
    means = {r["embedding"]: r["value"] for r in result.document["results"]
             if r["metric"] == "mean_spearman_correlation"}
    assert means["mine"] == means["again"]
    assert [e["kind"] for e in result.document["embeddings"]] == ["expression", "expression"]
