"""The results document: one JSON file per run, built here and only here.

Every front door (``czbench run``, ``czbench.benchmark``, the Lightning callback) builds its
document with these functions: :func:`new_document` (the run's settings; validated before any
work with ``partial=True``), :func:`input_entry` + :func:`add_records` (one scored input and
its task records), :func:`finish` (summary, aggregates, validation), :func:`write_json`
(atomic, never overwriting without ``overwrite``). The layout is the JSON Schema shipped as
``czbench/schema/results.schema.json``; field by field: docs/results.md.
"""

from __future__ import annotations

import json
import platform
import sys
from collections.abc import Sequence
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

from czbench import __version__
from czbench.datasets.modalities import modality_of, row_unit_of
from czbench.errors import InputError
from czbench.run.origins import run_origins, task_origins
from czbench.tasks import MetricResult, Task
from czbench.utils.checks import check_output_path
from czbench.utils.hashing import sha256_values
from czbench.utils.io import atomic_write_text
from czbench.utils.params import format_params, jsonable

SCHEMA_VERSION = 3
SCHEMA_PATH = Path(__file__).parent.parent / "schema" / "results.schema.json"
#: schema versions :func:`read_json` accepts (2: before inputs had kinds and a run context)
READABLE_VERSIONS = (2, 3)
_PACKAGES = ("czbench", "torch", "numpy", "scipy", "scikit-learn", "scanpy", "anndata",
             "igraph", "faiss-cpu", "pandas", "torchmetrics", "lightning")
#: Fields that differ between two runs of the same grid (wall times, when it ran, and the
#: configuration as given: serial or Dask, a run directory, resumed or not)
VOLATILE = ("created_utc", "timings_s", "config")


#: environment variables that set BLAS/OpenMP thread counts (recorded: they change rounding)
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def environment(*, world_size: int = 1, scheduler: str = "serial") -> dict[str, str]:
    """Versions of Python, the platform and the packages that shape the numbers, and what
    decides whether two runs can be bit-identical (docs/reproducibility.md): the CPU, torch's
    intra-op threads, the thread variables, the BLAS libraries loaded and their threads, the
    processes (``world_size``) and the ``scheduler`` (serial or Dask)."""
    import os

    import torch

    env = {"python": sys.version.split()[0], "platform": platform.platform()}
    for package in _PACKAGES:
        try:
            env[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            env[package] = "not installed"
    env["cpu"] = _cpu_model()
    env["torch_threads"] = str(torch.get_num_threads())
    for name in THREAD_VARIABLES:
        env[name] = os.environ.get(name, "unset")
    env["blas"] = _blas()
    env["world_size"] = str(int(world_size))
    env["scheduler"] = scheduler
    return env


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _blas() -> str:
    """The BLAS/OpenMP libraries loaded, with version, CPU kernel and threads (threadpoolctl,
    a scikit-learn dependency), e.g. ``openblas 0.3.30 Haswell x2; ...``; read again when a
    document is finished (libraries load lazily during a run)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:  # pragma: no cover - scikit-learn requires it
        import numpy as np

        return str(np.show_config(mode="dicts").get("Build Dependencies", {}).get("blas", {}))
    parts = sorted({" ".join(str(p) for p in (lib.get("internal_api"), lib.get("version"),
                                              lib.get("architecture"))
                             if p is not None) + f" x{lib.get('num_threads')}"
                    for lib in threadpool_info()})
    return "; ".join(parts) or "none loaded"


def utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def dataset_entry(adata: Any, **extra: Any) -> dict[str, Any]:
    """The ``dataset`` field: name, path, sha256 (recorded at load), rows, features, columns,
    modality and what a row is (``n_cells``/``n_genes`` count rows and features whatever
    the modality)."""
    meta = adata.uns.get("czbench", {}) if hasattr(adata, "uns") else {}
    return {"name": meta.get("name"), "path": meta.get("path"), "sha256": meta.get("sha256"),
            "n_cells": int(adata.n_obs), "n_genes": int(adata.n_vars),
            "columns": dict(meta.get("columns", {})),
            "modality": modality_of(adata).name, "row_unit": row_unit_of(adata),
            **{k: meta[k] for k in ("spatial_key", "baseline_transform") if k in meta},
            **extra}


def new_document(*, seeds: Sequence[int], dataset: dict[str, Any], tasks: Sequence[Task],
                 context: dict[str, Any], world_size: int = 1, scheduler: str = "serial",
                 **extra: Any) -> dict[str, Any]:
    """A document with the run's settings and no results yet (``world_size``, ``scheduler``:
    how many processes produced the scored inputs and how the grid runs; recorded in
    ``environment``)."""
    return {
        "schema_version": SCHEMA_VERSION,
        "czbench_version": __version__,
        "created_utc": utc_now(),
        "seed": int(seeds[0]),
        "seeds": [int(s) for s in seeds],
        **extra,
        "context": dict(context),
        "dataset": dataset,
        "tasks": {t.name: jsonable(t.options()) for t in tasks},
        "origins": {"tasks": task_origins(tasks)},
        "embeddings": [],
        "results": [],
        "summary": [],
        "aggregates": [],
        "environment": environment(world_size=world_size, scheduler=scheduler),
    }


def input_entry(source: str, values: Any, *, kind: str, role: str, seed: int,
                sha256: str | None = None) -> dict[str, Any]:
    """The ``embeddings`` entry of one scored input (before its task records are added);
    ``sha256`` when the caller already hashed ``values``."""
    return {"source": source, "kind": kind, "role": role, "seed": int(seed),
            "shape": [int(v) for v in values.shape],
            "sha256": sha256 or sha256_values(values),
            "timings_s": {}, "resolved": {}, "warnings": []}


def add_records(document: dict[str, Any], entry: dict[str, Any],
                records: Sequence[dict[str, Any]]) -> list[MetricResult]:
    """Append one scored input: its entry (timings, kNN graph, what each task resolved, the
    warnings) and its result rows, from the task records of :func:`czbench.run.score
    .score_input`. Returns the rows as MetricResult objects."""
    entry = {**entry, "timings_s": dict(entry["timings_s"]),
             "resolved": dict(entry.get("resolved", {})),
             "warnings": list(entry.get("warnings", []))}
    out: list[MetricResult] = []
    for record in records:
        entry["timings_s"].update(record["timings_s"])
        if record.get("neighbors"):
            entry["neighbors"] = record["neighbors"]
        if record.get("resolved"):
            entry["resolved"][record["task"]] = record["resolved"]
        entry["warnings"] += [f"{record['task']}: {w}" for w in record.get("warnings", [])]
        document["results"] += [{"embedding": entry["source"], "seed": entry["seed"], **row}
                                for row in record["results"]]
        out += [MetricResult(**row) for row in record["results"]]
    document["embeddings"].append(entry)
    return out


def finish(document: dict[str, Any]) -> dict[str, Any]:
    """Add ``summary`` and ``aggregates`` (:mod:`czbench.run.summary`) and the ``origins`` of
    the assets used (:mod:`czbench.run.origins`), and validate."""
    from czbench.run.summary import summarize

    summarize(document)
    document["origins"] = run_origins(document)
    if "environment" in document:  # the libraries the run loaded, now that it has run
        document["environment"]["blas"] = _blas()
    validate(document)
    return document


def schema() -> dict[str, Any]:
    """The JSON Schema of the results format (czbench/schema/results.schema.json)."""
    return json.loads(SCHEMA_PATH.read_text())


def validate(document: dict[str, Any], *, partial: bool = False) -> None:
    """Raise a one-line InputError if ``document`` does not follow the results schema.
    ``partial``: a document before its work (results may still be empty)."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema())
    error = jsonschema.exceptions.best_match(validator.iter_errors(document))
    if error is not None:
        where = "/".join(map(str, error.absolute_path)) or "(top level)"
        when = " (checked before the run, nothing was computed)" if partial else ""
        raise InputError(f"results: {where}: {error.message}{when}")


def write_json(document: dict[str, Any], path: str | Path, *, overwrite: bool = False) -> Path:
    """Validate ``document``, then write it to ``path`` atomically. Refuses to replace an
    existing file unless ``overwrite`` is true."""
    validate(document)
    path = check_output_path(path, overwrite=overwrite)
    atomic_write_text(path, json.dumps(document, indent=2, sort_keys=False) + "\n")
    return path


def strip_volatile(document: Any) -> Any:
    """A copy of ``document`` without its wall times, creation time and ``config`` (how the
    run was asked for): two runs of the same grid -- serial, on Dask, or interrupted and
    resumed -- give equal stripped documents."""
    if isinstance(document, dict):
        return {k: strip_volatile(v) for k, v in document.items() if k not in VOLATILE}
    if isinstance(document, list):
        return [strip_volatile(v) for v in document]
    return document


def read_json(path: str | Path) -> dict[str, Any]:
    """Read a results file, checking it is one this czbench can read."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"results: file not found: {path}")
    try:
        document = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise InputError(f"results: {path} is not valid JSON") from err
    if not isinstance(document, dict) or "results" not in document:
        raise InputError(f"results: {path} has no 'results' list; not a czbench results file")
    version = document.get("schema_version")
    if version not in READABLE_VERSIONS:
        raise InputError(f"results: {path} has schema_version {version!r}; this czbench reads "
                         f"{', '.join(map(str, READABLE_VERSIONS))}")
    bad = [i for i, row in enumerate(document["results"]) if not isinstance(row, dict)
           or isinstance(row.get("value"), bool)
           or not isinstance(row.get("value"), int | float)]
    if bad:
        raise InputError(f"results: {path}: results[{bad[0]}] has no numeric 'value'; not a "
                         f"valid czbench results file")
    if version == SCHEMA_VERSION:
        try:
            validate(document)
        except InputError as err:
            raise InputError(f"{err} (in {path})") from None
    return document


def results_frame(document: dict[str, Any]) -> pd.DataFrame:
    """The ``results`` rows as a tidy DataFrame; ``params`` rendered as a stable string."""
    frame = pd.DataFrame(document["results"])
    if frame.empty:
        return frame
    frame["params"] = frame["params"].map(format_params)
    return frame
