"""Where every asset a run used came from: the ``origins`` field of a results document.

For the dataset, each task, each metric reported, each baseline and each model scored, the
origin is ``{"source": "builtin" | "plugin" | "registered", "distribution", "version",
"entry_point"}`` (:class:`czbench.registry.Origin`): a number from a plugin names the
distribution and version that produced it, so a results file says what to install to
reproduce it and whom to credit. Tasks and models are looked up by the objects the run used: a
task or model whose class is not the one registered under its name is ``unregistered`` (with
its ``module:Class``). A metric is keyed ``task/metric`` and credited to the task that computed
it. A user's own h5ad file is ``{"source": "file"}`` (its path and sha256 are in ``dataset``;
an AnnData in memory is ``memory``); an MLflow package is ``{"source": "mlflow"}`` (its
identity is in the input's ``model`` entry).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from czbench.baselines import REGISTRY as BASELINES
from czbench.datasets.registry import REGISTRY as DATASETS
from czbench.models.registry import REGISTRY as MODELS
from czbench.tasks.registry import REGISTRY as TASKS

KINDS = ("datasets", "tasks", "metrics", "baselines", "models")


def _registered(registry: Any, name: str, cls: type) -> dict[str, Any]:
    """The registry's origin of ``name`` when ``cls`` is what it registers; else
    ``unregistered`` with the class's location."""
    if isinstance(name, str) and name in registry and registry.get(name) is cls:
        return registry.origin(name).to_dict()
    return {"source": "unregistered", "entry_point": f"{cls.__module__}:{cls.__qualname__}"}


def task_origins(tasks: Iterable[Any]) -> dict[str, dict[str, Any]]:
    """name -> origin of each task object a run scores."""
    return {t.name: _registered(TASKS, t.name, type(t)) for t in tasks}


def model_origins(models: Iterable[Any]) -> dict[str, dict[str, Any]]:
    """name -> origin of each model object a run embeds with (MLflow packages: ``mlflow``)."""
    from czbench.models.mlflow_model import MLflowModel

    out = {}
    for model in models:
        if isinstance(model, MLflowModel):
            out[f"mlflow:{model.uri}"] = {"source": "mlflow"}
        else:
            out[model.name] = _registered(MODELS, model.name, type(model))
    return out


def _task_baseline_origin(name: str, tasks: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The origin of the run's task that brings baseline ``name`` (``ortholog_pca``...)."""
    for task, origin in tasks.items():
        if task in TASKS and any(b.name == name for b in TASKS.get(task).baselines):
            return dict(origin)
    return {"source": "unregistered"}


def run_origins(document: dict[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
    """The complete ``origins`` of ``document``: what it recorded while planning (tasks,
    models) plus the dataset, the metrics reported and the baselines scored."""
    out = {kind: dict(document["origins"].get(kind, {})) for kind in KINDS}
    dataset = document["dataset"].get("name")
    if dataset:
        registered = dataset in DATASETS and \
            DATASETS.get(dataset).sha256 == document["dataset"].get("sha256")
        out["datasets"][dataset] = DATASETS.origin(dataset).to_dict() if registered else \
            {"source": "file" if document["dataset"].get("path") else "memory"}
    for row in document["results"]:
        out["metrics"].setdefault(f"{row['task']}/{row['metric']}",
                                  out["tasks"].get(row["task"], {"source": "unregistered"}))
    for entry in document["embeddings"]:
        kind, _, name = entry["source"].partition(":")
        if kind == "baseline" and name not in out["baselines"]:
            out["baselines"][name] = BASELINES.origin(name).to_dict() if name in BASELINES \
                else _task_baseline_origin(name, out["tasks"])
    return out
