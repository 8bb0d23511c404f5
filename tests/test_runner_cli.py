"""End to end: czbench.benchmark and the czbench CLI on shipped real data."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import czbench
import czbench.datasets as ds
from czbench.cli import main
from czbench.context import RunContext
from czbench.errors import InputError
from czbench.run import benchmark

CORE = ["clustering", "embedding", "label_prediction", "batch_integration"]
FAST = {"label_prediction": {"classifiers": ("lr", "knn")}}


@pytest.fixture(scope="module")
def symphony_run():
    return benchmark("pbmc_3chemistries_symphony", ["baseline:pca"], CORE, seed=42)


def test_all_four_tasks_on_symphony(symphony_run):
    doc = symphony_run.document
    tasks = {r["task"] for r in doc["results"]}
    assert tasks == set(CORE)
    assert len([r for r in doc["results"] if r["task"] == "label_prediction"]) == 20
    for row in doc["results"]:
        assert 0.0 <= row["value"] <= 1.0, row
        assert set(row) == {"embedding", "seed", "task", "metric", "value", "params",
                            "higher_is_better"}
    assert doc["dataset"]["sha256"] == ds.info("pbmc_3chemistries_symphony").sha256
    assert doc["embeddings"][0]["shape"] == [1200, 50]
    assert set(doc["embeddings"][0]["timings_s"]) == {"knn_graph", *CORE}
    # PCA of real PBMCs recovers cell types far above chance
    values = {(r["metric"]): r["value"] for r in doc["results"] if not r["params"]}
    assert values["adjusted_rand_index"] > 0.3
    assert values["normalized_mutual_info"] > 0.5


def test_same_seed_same_values_bit_for_bit(symphony_run):
    again = benchmark("pbmc_3chemistries_symphony", ["baseline:pca"], CORE, seed=42)
    first = [(r["task"], r["metric"], r["params"], r["value"])
             for r in symphony_run.document["results"]]
    second = [(r["task"], r["metric"], r["params"], r["value"])
              for r in again.document["results"]]
    assert first == second
    assert (symphony_run.document["embeddings"][0]["sha256"]
            == again.document["embeddings"][0]["sha256"])


def test_shared_knn_gives_the_same_numbers_as_each_task_alone(symphony_run):
    adata = ds.load("pbmc_3chemistries_symphony")
    emb = czbench.baselines.baseline("pca", adata, seed=42)
    shared = {(r["task"], r["metric"]): r["value"] for r in symphony_run.document["results"]
              if r["task"] in ("clustering", "batch_integration")}
    for name in ("clustering", "batch_integration"):
        for r in czbench.get_task(name).run(emb, adata.obs, context=RunContext(seed=42)):
            assert r.value == shared[(r.task, r.metric)]


def test_missing_inputs_fail_before_any_work():
    with pytest.raises(InputError, match="batch_key: task 'batch_integration' needs obs "
                                         "column 'batch'"):
        benchmark("pbmc68k_reduced", ["obsm:X_pca"], ["batch_integration"])
    with pytest.raises(InputError, match="obsm key 'X_nope' not found; obsm has: X_pca"):
        benchmark("pbmc68k_reduced", ["obsm:X_nope"], ["embedding"])
    with pytest.raises(InputError, match="array:0 has 3 rows but the dataset has 700 cells"):
        benchmark("pbmc68k_reduced", [np.zeros((3, 2))], ["embedding"])
    with pytest.raises(InputError, match="unknown task 'nope'"):
        benchmark("pbmc68k_reduced", ["obsm:X_pca"], ["nope"])


def test_pbmc68k_default_embedding_is_its_shipped_pca():
    result = benchmark("pbmc68k_reduced", tasks=["embedding"])
    assert [e["source"] for e in result.document["embeddings"]] == ["obsm:X_pca"]


def test_cli_run_writes_json_and_refuses_to_overwrite(tmp_path, capsys):
    out = tmp_path / "r.json"
    emb = tmp_path / "emb.npy"
    np.save(emb, ds.load("pbmc68k_reduced").obsm["X_pca"][:, :10])
    args = ["run", "--dataset", "pbmc68k_reduced", "--embedding", f"obsm:X_pca,{emb}",
            "--task", "clustering,embedding", "--batch-key", "phase", "--seed", "1",
            "--output", str(out), "--quiet"]
    assert main(args) == 0
    doc = json.loads(out.read_text())
    assert doc["seed"] == 1
    assert [e["source"] for e in doc["embeddings"]] == ["obsm:X_pca", str(emb)]
    assert {r["embedding"] for r in doc["results"]} == {"obsm:X_pca", str(emb)}
    printed = capsys.readouterr().out
    assert "adjusted_rand_index" in printed and "results written to" in printed
    before = out.read_text()
    assert main(args) == 2
    assert "already exists" in capsys.readouterr().err
    assert out.read_text() == before
    assert main([*args, "--overwrite"]) == 0


def test_cli_runs_four_tasks_on_pbmc68k_with_a_batch_key(tmp_path):
    out = tmp_path / "r.json"
    assert main(["run", "--dataset", "pbmc68k_reduced", "--batch-key", "phase",
                 "--output", str(out), "--quiet"]) == 0
    assert {r["task"] for r in json.loads(out.read_text())["results"]} == set(CORE)


def test_cli_errors_are_one_line(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "czbench", "run", "--dataset",
                           str(tmp_path / "nope.h5ad"), "--output", str(tmp_path / "o.json")],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [f"error: dataset: file not found: "
                                               f"{tmp_path / 'nope.h5ad'}"]
    assert not (tmp_path / "o.json").exists()


@pytest.mark.parametrize("what", ["datasets", "tasks", "metrics", "baselines"])
def test_cli_list(what, capsys):
    assert main(["list", what]) == 0
    out = capsys.readouterr().out
    expected = {"datasets": "pbmc_3chemistries_symphony", "tasks": "batch_integration",
                "metrics": "mean_fold_auroc", "baselines": "baseline:ortholog_pca"}[what]
    assert expected in out


def test_cli_runs_the_later_tasks_with_their_baselines(tmp_path):
    out = tmp_path / "xs.json"
    assert main(["run", "--dataset", "pancreas_baron_human_mouse", "--embedding",
                 "baseline:ortholog_pca", "--task", "cross_species_integration",
                 "--output", str(out), "--quiet"]) == 0
    rows = json.loads(out.read_text())["results"]
    assert {r["metric"] for r in rows} == {"entropy_per_cell", "batch_silhouette"}
    out = tmp_path / "pt.json"
    assert main(["run", "--dataset", "thp1_crispr_papalexi_lowmoi_sceptre", "--embedding",
                 "baseline:observed,baseline:no_change", "--output", str(out), "--quiet"]) == 0
    doc = json.loads(out.read_text())
    mean = {r["embedding"]: r["value"] for r in doc["results"]
            if r["metric"] == "mean_spearman_correlation"}
    assert mean["baseline:observed"] > mean["baseline:no_change"]
    entry = next(e for e in doc["embeddings"] if e["source"] == "baseline:observed")
    assert entry["kind"] == "expression"
    resolved = entry["resolved"]["perturbation_expression_prediction"]
    assert resolved["control"] == "non-targeting" and resolved["skipped"]


def test_cli_task_options_grid_over_two_datasets_and_backed_mode(tmp_path, capsys):
    from czbench.datasets.synthetic import gaussian_mixture

    paths = []
    for i, n in enumerate((300, 260)):
        path = tmp_path / f"mix{i}.h5ad"
        gaussian_mixture(n, 8, n_types=4, n_batches=2, seed=i).write_h5ad(path)
        paths.append(path)
    folder = tmp_path / "out"
    args = ["run", "--dataset", f"{paths[0]},{paths[1]}", "--embedding", "obsm:X_emb",
            "--task", "label_prediction,embedding", "--option",
            'label_prediction.classifiers=["lr"]', "--option", "label_prediction.max_cells=200",
            "--backed", "--output", str(folder), "--quiet"]
    assert main(args) == 0
    first = json.loads((folder / "mix0.json").read_text())
    second = json.loads((folder / "mix1.json").read_text())
    assert first["dataset"]["n_cells"] == 300 and second["dataset"]["n_cells"] == 260
    options = first["tasks"]["label_prediction"]
    assert options["max_cells"] == 200 and options["classifiers"] == ["lr"]
    assert "resolved" not in options and "n_jobs" not in options
    resolved = first["embeddings"][0]["resolved"]["label_prediction"]
    assert resolved == {"n_cells": 200, "n_classes": 4}
    assert {r["params"]["classifier"] for r in first["results"]
            if r["task"] == "label_prediction"} == {"lr", "MEAN(lr)"}
    # a folder is needed for several datasets; a baseline needs X in memory
    assert main([*args[:-3], "--output", str(tmp_path / "one.json"), "--quiet"]) == 2
    assert "must be a folder" in capsys.readouterr().err
    assert main(["run", "--dataset", str(paths[0]), "--embedding", "baseline:pca", "--backed",
                 "--output", str(tmp_path / "b.json"), "--quiet"]) == 2
    assert "backed" in capsys.readouterr().err
    assert main(["run", "--dataset", str(paths[0]), "--option", "max_cells=3", "--quiet",
                 "--output", str(tmp_path / "c.json")]) == 2
    assert "TASK.KEY=VALUE" in capsys.readouterr().err
