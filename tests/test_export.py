"""Exports of a results document: the Virtual Cells Platform layout (``czbench export``) and
MLflow tracking (``czbench run --mlflow-tracking-uri``), plus Lightning's MLFlowLogger with the
store setup docs/results.md documents."""

from __future__ import annotations

import argparse
import copy
import importlib.util
import inspect
import io
import json
import sys

import lightning as L
import numpy as np
import pytest
from helpers import FrozenProjection
from rich.console import Console

import czbench
from czbench.errors import InputError
from czbench.export import add_parser, tracking
from czbench.export import run as export_run
from czbench.export.vcp import REFERENCE_METRIC_TYPES, to_vcp
from czbench.run.document import validate, write_json

# the dev extra installs mlflow-skinny: a missing mlflow fails here, it is never skipped
mlflow = tracking.import_mlflow()  # telemetry off before MLflow is first imported
from mlflow.tracking import MlflowClient  # noqa: E402

#: MLflow versions that open a file store only with MLFLOW_ALLOW_FILE_STORE=true
FILE_STORE_GUARDED = hasattr(mlflow.environment_variables, tracking.FILE_STORE_VARIABLE)

DATASET = "lung_celllines_mixology"
MODEL = "my model (v1)"  # a name with characters MLflow refuses
#: czbench metrics the reference (cz-benchmarks' MetricType) does not have
CZBENCH_ONLY = {"clisi_knn", "isolated_labels"}


@pytest.fixture(scope="module")
def document():
    emb = np.random.default_rng(0).normal(size=(1021, 8)).astype("float32")
    return czbench.benchmark(DATASET, {MODEL: emb, "baseline:pca": "baseline:pca"},
                             ["embedding", "clustering"], seed=0).document


@pytest.fixture(scope="module")
def augmented(document):
    """The real document plus a control input and a second seed of the model, made from its
    own entries and rows (a real run with controls and two seeds takes a minute)."""
    doc = copy.deepcopy(document)
    model_entry = next(e for e in doc["embeddings"] if e["source"] == MODEL)
    model_rows = [r for r in doc["results"] if r["embedding"] == MODEL]
    doc["embeddings"].append({**copy.deepcopy(model_entry), "source": "control:random",
                              "role": "control"})
    doc["results"] += [{**r, "embedding": "control:random", "value": 0.5} for r in model_rows]
    doc["embeddings"].append({**copy.deepcopy(model_entry), "seed": 1})
    doc["results"] += [{**r, "seed": 1, "value": r["value"] / 2} for r in model_rows]
    doc["seeds"] = [0, 1]
    validate(doc)
    return doc


@pytest.fixture
def clean_mlflow_state(monkeypatch):
    """Lightning's MLFlowLogger sets MLflow's process-wide tracking URI (and the
    MLFLOW_TRACKING_URI variable): put both back afterwards."""
    from mlflow.tracking._tracking_service import utils

    old = utils._tracking_uri
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    mlflow.set_tracking_uri(None)
    yield
    mlflow.set_tracking_uri(old)


# -- Virtual Cells Platform -----------------------------------------------------------------

def test_vcp_holds_every_model_and_baseline_row_and_no_control(augmented):
    vcp = to_vcp(augmented)
    assert vcp["format"] == "vcp" and vcp["dataset"]["key"] == DATASET
    assert vcp["dataset"]["sha256"] == augmented["dataset"]["sha256"]
    exported = []
    for section, role in (("model_metrics", "model"), ("baseline_metrics", "baseline")):
        for group in vcp[section]:
            assert group["czbench"]["role"] == role and group["dataset_keys"] == [DATASET]
            assert group["task_key"] == group["czbench"]["task"]  # same names for these tasks
            for row in group["result_metrics"]:
                assert set(row) == {"metric_type", "value", "params"}
                exported.append((group["model_key"], group["random_seed"], group["task_key"],
                                 row["metric_type"], json.dumps(row["params"]), row["value"]))
    expected = [(r["embedding"], r["seed"], r["task"], r["metric"], json.dumps(r["params"]),
                 r["value"]) for r in augmented["results"]
                if not r["embedding"].startswith("control:")]
    assert sorted(exported) == sorted(expected)
    assert not any(g["model_key"].startswith("control:") for s in ("model_metrics",
                   "baseline_metrics") for g in vcp[s])
    keys = [(g["model_key"], g["task_key"], g["random_seed"]) for g in vcp["model_metrics"]]
    assert len(keys) == len(set(keys)) == 4  # 2 tasks x 2 seeds: one group per run
    assert {g["model_key"] for g in vcp["baseline_metrics"]} == {"baseline:pca"}
    names = {row[3] for row in exported}
    assert names - REFERENCE_METRIC_TYPES == CZBENCH_ONLY  # the rest are the reference's
    assert {"adjusted_rand_index", "normalized_mutual_info", "silhouette_score"} <= names
    json.dumps(vcp, allow_nan=False)


def test_vcp_task_keys_are_the_references(document):
    doc = copy.deepcopy(document)
    for row in doc["results"]:
        row["task"] = row["task"].replace("clustering", "cross_species_integration")
    groups = to_vcp(doc)["model_metrics"]
    assert {g["task_key"] for g in groups} == {"embedding", "cross-species_integration"}
    assert {g["czbench"]["task"] for g in groups} == {"embedding", "cross_species_integration"}


def test_vcp_refuses_rows_of_unknown_inputs(document):
    doc = copy.deepcopy(document)
    doc["results"][0]["embedding"] = "nowhere"
    with pytest.raises(InputError, match="not in 'embeddings'"):
        to_vcp(doc)
    with pytest.raises(InputError, match="results document"):
        to_vcp({"results": "no"})


def test_vcp_refuses_two_entries_for_one_input_and_seed(document):
    # hostile: a hand-merged file; the second entry (another role) must not regroup the rows
    doc = copy.deepcopy(document)
    twin = copy.deepcopy(doc["embeddings"][0])
    twin["role"] = "baseline" if twin.get("role") != "baseline" else "model"
    doc["embeddings"].append(twin)
    with pytest.raises(InputError, match=r"export: embeddings\[\d+\] repeats input .* at seed"):
        to_vcp(doc)


def _export_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="czbench")
    add_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["export", *argv])


def test_cli_export_round_trip_and_one_line_errors(document, tmp_path):
    results = write_json(document, tmp_path / "r.json")
    console = Console(file=io.StringIO())
    written = export_run(_export_args(str(results), "--format", "vcp"), console)
    assert written == tmp_path / "r.vcp.json"
    assert json.loads(written.read_text()) == to_vcp(document)
    with pytest.raises(InputError, match="already exists.*--overwrite"):
        export_run(_export_args(str(results), "--format", "vcp"), console)
    export_run(_export_args(str(results), "--format", "vcp", "--overwrite"), console)
    other = tmp_path / "sub" / "x.json"
    assert export_run(_export_args(str(results), "--format", "vcp", "--output", str(other)),
                      console) == other
    (tmp_path / "broken.json").write_text("{not json")
    for argv, message in [((str(results), "--format", "csv"), "unknown format 'csv'"),
                          ((str(tmp_path / "none.json"), "--format", "vcp"), "file not found"),
                          ((str(tmp_path / "broken.json"), "--format", "vcp"), "not valid JSON"),
                          ((str(results), "--format", "vcp", "--output", str(results)),
                           "the results file itself")]:
        with pytest.raises(InputError, match=message) as err:
            export_run(_export_args(*argv), console)
        assert "\n" not in str(err.value)
    assert not (tmp_path / "broken.vcp.json").exists()


# -- MLflow tracking ------------------------------------------------------------------------

def test_metric_names_are_valid_and_unique_for_awkward_inputs():
    rows = [{"embedding": e, "task": "t", "metric": "m", "params": p} for e, p in [
        ("a:b", {}), ("a b", {}), (".", {}), ("..", {}), ("x" * 400, {}), ("x" * 400, {"k": 1}),
        ("a", {"classifier": "MEAN(knn,lr,rf)"}), ("a", {"condition": "IFN-γ/β"}),
        ("/abs/emb.npy", {}), ("a", {"k": "a//b"})]]
    names = tracking.metric_names(rows)
    assert len(names) == len(rows)
    assert all(tracking.valid_name(n) for n in names), list(names)
    assert "a/t/m/classifier_MEAN_knn_lr_rf" in names
    from mlflow.utils.validation import _validate_metric_name

    for name in names:
        _validate_metric_name(name)  # MLflow's own check


def test_log_to_mlflow_reads_back(document, tmp_path, monkeypatch, clean_mlflow_state):
    monkeypatch.setenv(tracking.FILE_STORE_VARIABLE, "true")
    uri = (tmp_path / "mlruns").as_uri()
    run_id = tracking.log_to_mlflow(document, uri, experiment="czbench-test")
    client = MlflowClient(uri)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and run.info.run_name == DATASET
    assert client.get_experiment(run.info.experiment_id).name == "czbench-test"
    names = tracking.metric_names(document["summary"])
    assert len(names) == len(document["summary"])
    assert run.data.metrics == {name: row["mean"] for name, row in names.items()}
    assert "my_model_v1/clustering/adjusted_rand_index" in run.data.metrics
    params = run.data.params
    assert params["dataset"] == DATASET and params["seeds"] == "0"
    assert params["dataset_sha256"] == document["dataset"]["sha256"]
    assert params["czbench_version"] == czbench.__version__
    assert params["task.clustering.resolution"] == "1.0"
    folder = client.download_artifacts(run_id, "czbench", str(tmp_path / "back"))
    assert json.loads((tmp_path / "back" / "czbench" / "results.json").read_text()) == document
    mapped = json.loads((tmp_path / "back" / "czbench" / "metric_names.json").read_text())
    assert set(mapped) == set(names) and folder
    second = tracking.log_to_mlflow(document, uri, experiment="czbench-test", run_name="again")
    assert second != run_id and client.get_run(second).info.experiment_id == \
        run.info.experiment_id


def test_mlflow_errors_are_one_line(document, tmp_path, monkeypatch):
    monkeypatch.delenv(tracking.FILE_STORE_VARIABLE, raising=False)
    if FILE_STORE_GUARDED:
        with pytest.raises(InputError, match="MLFLOW_ALLOW_FILE_STORE=true"):
            tracking.log_to_mlflow(document, (tmp_path / "mlruns").as_uri())
    if importlib.util.find_spec("sqlalchemy") is None:  # mlflow-skinny alone
        with pytest.raises(InputError, match="pip install mlflow"):
            tracking.log_to_mlflow(document, f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setitem(sys.modules, "mlflow", None)
    with pytest.raises(InputError, match=r"czbench\[mlflow\]"):
        tracking.log_to_mlflow(document, "http://localhost:1")


def test_run_hooks(document, tmp_path, monkeypatch, clean_mlflow_state):
    monkeypatch.setenv(tracking.FILE_STORE_VARIABLE, "true")
    parser = argparse.ArgumentParser()
    tracking.add_run_arguments(parser)
    uri = (tmp_path / "mlruns").as_uri()
    args = parser.parse_args(["--mlflow-tracking-uri", uri, "--mlflow-experiment", "hooks"])
    tracking.before_run(args)
    run_id = tracking.after_run(args, document)
    assert MlflowClient(uri).get_run(run_id).info.status == "FINISHED"
    assert tracking.after_run(parser.parse_args([]), document) is None
    with pytest.raises(InputError, match="needs --mlflow-tracking-uri"):
        tracking.before_run(parser.parse_args(["--mlflow-experiment", "x"]))


# -- Lightning's MLFlowLogger ----------------------------------------------------------------

def test_lightning_mlflow_logger_default_store_and_the_working_setup(tmp_path, monkeypatch,
                                                                    clean_mlflow_state):
    from lightning.pytorch.loggers import MLFlowLogger

    from czbench.callbacks import BenchmarkCallback
    from czbench.datamodules import AnnDataModule

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(tracking.FILE_STORE_VARIABLE, raising=False)
    # the pitfall: with no tracking_uri Lightning uses file:./mlruns (its default was read
    # from MLFLOW_TRACKING_URI when lightning was imported), not MLflow's own default
    default = inspect.signature(MLFlowLogger.__init__).parameters["tracking_uri"].default
    if default is None:
        if FILE_STORE_GUARDED:  # MLflow refuses the file store
            with pytest.raises(mlflow.exceptions.MlflowException, match="MLFLOW_ALLOW_FILE"):
                MLFlowLogger()
        monkeypatch.setenv(tracking.FILE_STORE_VARIABLE, "true")
        assert MLFlowLogger().save_dir == "./mlruns"
    # the working setup: an explicit store (here a file store under the test's folder)
    monkeypatch.setenv(tracking.FILE_STORE_VARIABLE, "true")
    uri = (tmp_path / "store").as_uri()
    logger = MLFlowLogger(experiment_name="czbench-lightning", tracking_uri=uri)
    dm = AnnDataModule(DATASET, normalize=True, split_fractions=(0.7, 0.3, 0), batch_size=64,
                       seed=1)
    callback = BenchmarkCallback(["clustering"], warn_fraction=1e6)
    trainer = L.Trainer(max_epochs=1, limit_train_batches=2, log_every_n_steps=1,
                        accelerator="cpu", devices=1, logger=logger, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False,
                        num_sanity_val_steps=0, callbacks=[callback])
    trainer.fit(FrozenProjection(dm.n_genes, dims=8), datamodule=dm)
    metrics = MlflowClient(uri).get_run(logger.run_id).data.metrics
    logged = {callback.log_name(r): r.value for r in callback.results_}
    assert set(logged) <= set(metrics)
    assert all(metrics[k] == pytest.approx(v, rel=1e-6) for k, v in logged.items())
    assert "czbench/clustering/adjusted_rand_index" in logged
