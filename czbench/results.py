"""The results file: one JSON document per run, written atomically, never overwritten silently.

Layout (``schema_version`` 1)::

    {
      "schema_version": 1,
      "czbench_version": "0.1.0",
      "created_utc": "2026-11-28T12:00:00Z",
      "seed": 42,
      "dataset": {"name", "path", "sha256", "n_cells", "n_genes", "columns"},
      "tasks": {"<task>": {<options>}},
      "embeddings": [{"source", "shape", "sha256", "timings_s": {"knn_graph", "<task>"...}}],
      "results": [{"embedding", "task", "metric", "value", "params", "higher_is_better"}],
      "environment": {"python", "platform", "torch", "numpy", ...}
    }
"""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

from czbench.errors import InputError

SCHEMA_VERSION = 2
SCHEMA_PATH = Path(__file__).parent / "schema" / "results.schema.json"
_PACKAGES = ("czbench", "torch", "numpy", "scipy", "scikit-learn", "scanpy", "anndata",
             "igraph", "pandas", "torchmetrics", "lightning")


def environment() -> dict[str, str]:
    """Versions of Python, the platform and the packages that shape the numbers."""
    env = {"python": sys.version.split()[0], "platform": platform.platform()}
    for package in _PACKAGES:
        try:
            env[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            env[package] = "not installed"
    return env


def utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def schema() -> dict[str, Any]:
    """The JSON Schema of the results format (shipped as czbench/schema/results.schema.json)."""
    return json.loads(SCHEMA_PATH.read_text())


def validate(document: dict[str, Any]) -> None:
    """Raise a one-line InputError if ``document`` does not follow the results schema."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema())
    error = jsonschema.exceptions.best_match(validator.iter_errors(document))
    if error is not None:
        where = "/".join(map(str, error.absolute_path)) or "(top level)"
        raise InputError(f"results: {where}: {error.message}")


def write_json(document: dict[str, Any], path: str | Path, *, overwrite: bool = False) -> Path:
    """Validate ``document`` against the schema, then write it to ``path`` atomically (temp
    file + rename in the same folder). Refuses to replace an existing file unless
    ``overwrite`` is true.
    """
    validate(document)
    path = Path(path)
    if path.exists() and not overwrite:
        raise InputError(f"output: {path} already exists; pass --overwrite (overwrite=True) "
                         f"to replace it")
    if path.exists() and path.is_dir():
        raise InputError(f"output: {path} is a folder; expected a .json file path")
    atomic_write_text(path, json.dumps(document, indent=2, sort_keys=False) + "\n")
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically: a temp file in the same folder, fsync, rename.
    A reader (or a killed run) sees the old file or the new one, never half of one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


#: Fields that differ between two runs of the same grid (wall times, when it ran).
VOLATILE = ("created_utc", "timings_s")


def strip_volatile(document: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``document`` without its wall times and creation time: two runs of the same
    grid -- serial, on Dask, or interrupted and resumed -- give equal stripped documents."""
    if isinstance(document, dict):
        return {k: strip_volatile(v) for k, v in document.items() if k not in VOLATILE}
    if isinstance(document, list):
        return [strip_volatile(v) for v in document]
    return document


def read_json(path: str | Path) -> dict[str, Any]:
    """Read a results file, checking it is one."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"results: file not found: {path}")
    try:
        document = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise InputError(f"results: {path} is not valid JSON (line {err.lineno})") from err
    if not isinstance(document, dict) or "results" not in document:
        raise InputError(f"results: {path} has no 'results' list; not a czbench results file")
    return document


def results_frame(document: dict[str, Any]) -> pd.DataFrame:
    """The ``results`` rows as a tidy DataFrame; ``params`` rendered as a stable string."""
    frame = pd.DataFrame(document["results"])
    if frame.empty:
        return frame
    frame["params"] = frame["params"].map(
        lambda p: ", ".join(f"{k}={v}" for k, v in sorted(p.items())))
    return frame
