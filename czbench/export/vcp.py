"""A results document in the layout of CZI's Virtual Cells Platform (VCP) benchmark results.

    {"format": "vcp", "format_version": 1, "czbench_version": ..., "created_utc": ...,
     "dataset": {"key": ..., "sha256": ..., "n_cells": ...},
     "model_metrics": [GROUP, ...], "baseline_metrics": [GROUP, ...]}

One GROUP per (input, dataset, task, seed) -- one VCP benchmark run:

    {"model_key": "<input>", "dataset_keys": ["<dataset>"], "task_key": "<task>",
     "random_seed": 42,
     "result_metrics": [{"metric_type": "adjusted_rand_index", "value": 0.61, "params": {}}],
     "czbench": {"task": ..., "role": ..., "kind": ..., "input_sha256": ..., "model": ...}}

Inputs whose role is ``model`` go to ``model_metrics``, ``baseline`` to ``baseline_metrics``;
controls are left out. Each ``result_metrics`` row is cz-benchmarks' ``MetricResult`` (its
``metric_type`` is the ``MetricType`` enum value; czbench's metric names already are those
values, and czbench-only metrics keep their names). Where each field comes from (repository,
path, commit): docs/results.md, "Export for the Virtual Cells Platform".
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from czbench.errors import InputError
from czbench.utils.checks import check_output_path
from czbench.utils.io import atomic_write_text

FORMAT = "vcp"
FORMAT_VERSION = 1
#: where the layout was read: cz-benchmarks (MetricResult, MetricType, task keys)
REFERENCE_REPOSITORY = "chanzuckerberg/cz-benchmarks"
REFERENCE_COMMIT = "6e64d202f1c71384b48bd7a72be1a2c80872fab0"
#: ... and the VCP CLI (record fields model_key / dataset_keys / task_key, result_metrics,
#: random_seed), read from its wheel on PyPI
VCP_CLI_VERSION = "0.54.1"

#: the values of cz-benchmarks' ``MetricType`` enum (src/czbenchmarks/metrics/types.py at
#: REFERENCE_COMMIT); a czbench metric of the same name is the same measure
REFERENCE_METRIC_TYPES = frozenset({
    "adjusted_rand_index", "normalized_mutual_info", "silhouette_score", "entropy_per_cell",
    "batch_silhouette", "mean_squared_error", "PEARSON_CORRELATION", "accuracy",
    "accuracy_calculation", "mean_fold_accuracy", "auroc", "mean_fold_auroc", "f1",
    "f1_calculation", "mean_fold_f1", "jaccard", "precision", "precision_calculation",
    "mean_fold_precision", "recall", "recall_calculation", "mean_fold_recall",
    "spearman_correlation_calculation", "sequential_alignment",
})
#: czbench metric name -> reference MetricType value, where the two differ (none today)
METRIC_TYPES: dict[str, str] = {}
#: czbench task name -> the reference's task key (``display_name.lower().replace(" ", "_")``,
#: TaskRegistry.register_task in src/czbenchmarks/tasks/task.py), where the two differ
TASK_KEYS = {
    "cross_species_integration": "cross-species_integration",
    "cross_species_label_prediction": "cross-species_label_prediction",
}
#: role of an input -> the list its groups go to; other roles (controls) are left out
SECTIONS = {"model": "model_metrics", "baseline": "baseline_metrics"}


def metric_type(metric: str) -> str:
    """The reference's ``metric_type`` for a czbench metric (its own name where the reference
    has no such metric)."""
    return METRIC_TYPES.get(metric, metric)


def task_key(task: str) -> str:
    """The reference's task key for a czbench task (its own name where the reference has no
    such task)."""
    return TASK_KEYS.get(task, task)


def _check(document: Any) -> None:
    if not isinstance(document, Mapping) or not isinstance(document.get("results"), list) \
            or not isinstance(document.get("embeddings"), list):
        raise InputError("export: expected a czbench results document (with 'results' and "
                         "'embeddings' lists)")


def _group(entry: Mapping[str, Any], task: str, dataset_key: str) -> dict[str, Any]:
    extra = {"task": task, "role": entry.get("role"), "kind": entry.get("kind", "embedding"),
             "input_sha256": entry.get("sha256")}
    if entry.get("model"):
        extra["model"] = dict(entry["model"])
    return {"model_key": entry["source"], "dataset_keys": [dataset_key],
            "task_key": task_key(task), "random_seed": int(entry["seed"]),
            "result_metrics": [], "czbench": extra}


def to_vcp(document: Mapping[str, Any]) -> dict[str, Any]:
    """The VCP layout of a czbench results document (schema_version 2 or 3)."""
    _check(document)
    dataset = document.get("dataset") or {}
    dataset_key = dataset.get("name") or "unknown"
    entries: dict[tuple[Any, Any], Mapping[str, Any]] = {}
    for i, e in enumerate(document["embeddings"]):
        key = (e.get("source"), e.get("seed")) if isinstance(e, Mapping) else None
        if key is None or key in entries:
            what = "is not an object" if key is None else (
                f"repeats input {key[0]!r} at seed {key[1]} (two entries, one group)")
            raise InputError(f"export: embeddings[{i}] {what}; a results file has one entry "
                             f"per (input, seed)")
        entries[key] = e
    out: dict[str, Any] = {
        "format": FORMAT, "format_version": FORMAT_VERSION,
        "czbench_version": document.get("czbench_version"),
        "created_utc": document.get("created_utc"),
        "dataset": {"key": dataset_key, "sha256": dataset.get("sha256"),
                    "n_cells": dataset.get("n_cells")},
        "model_metrics": [], "baseline_metrics": [],
    }
    groups: dict[tuple[str, str, int], dict[str, Any]] = {}
    for i, row in enumerate(document["results"]):
        entry = entries.get((row.get("embedding"), row.get("seed")))
        if entry is None:
            raise InputError(f"export: results[{i}] names input {row.get('embedding')!r} "
                             f"(seed {row.get('seed')}), which is not in 'embeddings'")
        section = SECTIONS.get(entry.get("role"))
        if section is None:
            continue
        key = (row["embedding"], row["task"], row["seed"])
        if key not in groups:
            groups[key] = _group(entry, row["task"], dataset_key)
            out[section].append(groups[key])
        groups[key]["result_metrics"].append({
            "metric_type": metric_type(row["metric"]), "value": float(row["value"]),
            "params": dict(row.get("params") or {})})
    return out


def write_vcp(document: Mapping[str, Any], path: str | Path, *, overwrite: bool = False) -> Path:
    """Write :func:`to_vcp` of ``document`` to ``path`` (atomically; an existing file only
    with ``overwrite``)."""
    path = check_output_path(path, overwrite=overwrite)
    atomic_write_text(path, json.dumps(to_vcp(document), indent=2) + "\n")
    return path


def default_output(results: str | Path) -> Path:
    """``<stem>.vcp.json`` beside the results file."""
    results = Path(results)
    return results.with_name(f"{results.stem}.vcp.json")
