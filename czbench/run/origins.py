"""Where every asset a run used came from: the ``origins`` field of a results document.

For the dataset, each task, each metric reported, each baseline and each model scored, the
origin is ``{"source": "builtin" | "plugin" | "registered", "distribution", "version",
"entry_point"}`` (:class:`czbench.registry.Origin`): a number from a plugin names the
distribution and version that produced it, so a results file says what to install to
reproduce it and whom to credit. A user's own h5ad file is ``{"source": "file"}`` (its path
and sha256 are in ``dataset``; an AnnData in memory is ``memory``); an MLflow package is
``{"source": "mlflow"}`` (its identity is in the input's ``model`` entry).
"""

from __future__ import annotations

from typing import Any

from czbench.baselines import REGISTRY as BASELINES
from czbench.datasets.registry import REGISTRY as DATASETS
from czbench.metrics.registry import REGISTRY as METRICS
from czbench.models.registry import REGISTRY as MODELS
from czbench.tasks.registry import REGISTRY as TASKS

UNREGISTERED = {"source": "unregistered"}


def _origin(registry: Any, name: str) -> dict[str, Any]:
    return registry.origin(name).to_dict() if name in registry else dict(UNREGISTERED)


def _task_baseline_origin(name: str, tasks: list[str]) -> dict[str, Any]:
    """The origin of the task that brings baseline ``name`` (``ortholog_pca``...)."""
    for task in tasks:
        if task in TASKS and any(b.name == name for b in TASKS.get(task).baselines):
            return _origin(TASKS, task)
    return dict(UNREGISTERED)


def run_origins(document: dict[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
    """``{"datasets", "tasks", "metrics", "baselines", "models"}``: name -> origin, for what
    ``document`` used."""
    dataset = document["dataset"].get("name")
    out: dict[str, dict[str, dict[str, Any]]] = {
        "datasets": {}, "tasks": {}, "metrics": {}, "baselines": {}, "models": {}}
    if dataset:
        registered = dataset in DATASETS and \
            DATASETS.get(dataset).sha256 == document["dataset"].get("sha256")
        out["datasets"][dataset] = _origin(DATASETS, dataset) if registered else \
            {"source": "file" if document["dataset"].get("path") else "memory"}
    tasks = list(document["tasks"])
    for task in tasks:
        out["tasks"][task] = _origin(TASKS, task)
    for row in document["results"]:
        metric = row["metric"]
        if metric not in out["metrics"]:
            out["metrics"][metric] = _origin(METRICS, metric) if metric in METRICS \
                else out["tasks"].get(row["task"], dict(UNREGISTERED))
    for entry in document["embeddings"]:
        kind, _, name = entry["source"].partition(":")
        if kind == "baseline" and name not in out["baselines"]:
            out["baselines"][name] = _origin(BASELINES, name) if name in BASELINES \
                else _task_baseline_origin(name, tasks)
        elif kind == "model" and name not in out["models"]:
            out["models"][name] = _origin(MODELS, name)
        elif kind == "mlflow":
            out["models"][entry["source"]] = {"source": "mlflow"}
    return out
