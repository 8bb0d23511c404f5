"""Log a results document to MLflow tracking: one run per document.

    run_id = log_to_mlflow(document, "sqlite:///mlflow.db", experiment="czbench")

The run holds the run's settings as params (dataset name and sha256, seeds, czbench version,
run context, every task option as ``task.<task>.<option>``), each summary row's mean over
seeds as a metric named ``<input>/<task>/<metric>[/<param>_<value>...]`` (every part made safe
for MLflow, names unique), and two artifacts under ``czbench/``: the results document
(``results.json``) and the metric name -> summary row key map (``metric_names.json``).

Only an explicit tracking URI is used (a ``MlflowClient`` of that URI; MLflow's process-wide
tracking URI is never read or set). MLflow's usage telemetry is switched off
(``MLFLOW_DISABLE_TELEMETRY=true``) before MLflow is first imported, unless already set.
Stores (docs/results.md, "Logging to MLflow tracking"): an ``http(s)://`` server works with
mlflow-skinny; ``sqlite:///PATH`` needs the full ``mlflow`` package (mlflow-skinny has no SQL
store); a ``file:`` store needs ``MLFLOW_ALLOW_FILE_STORE=true`` from MLflow 3.x on.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import posixpath
import re
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from czbench.errors import InputError
from czbench.utils.io import atomic_write_text
from czbench.utils.params import safe_name_part

#: environment variable MLflow (>= 3.2) reads to switch its usage telemetry off
TELEMETRY_VARIABLE = "MLFLOW_DISABLE_TELEMETRY"
#: environment variable MLflow 3.x requires to open a ``file:`` (filesystem) tracking store
FILE_STORE_VARIABLE = "MLFLOW_ALLOW_FILE_STORE"
DEFAULT_EXPERIMENT = "czbench"
#: MLflow's limits: name length, param value length, entities per log_batch call
MAX_NAME = 250
MAX_PARAM_VALUE = 6000
MAX_PARAMS_PER_BATCH = 100
MAX_METRICS_PER_BATCH = 1000
#: what MLflow accepts in a metric or param name on every platform (colons: not on Windows)
VALID_NAME = re.compile(r"[A-Za-z0-9_./ -]+")
_SQL_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql")
#: seconds to wait for a tracking server's TCP connection, before any work
REACH_TIMEOUT = 5.0
#: MLflow's HTTP settings czbench makes for a tracking server (a user's own setting wins): a
#: server that goes down during the run fails the logging in seconds, not minutes of retries
HTTP_DEFAULTS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2", "MLFLOW_HTTP_REQUEST_TIMEOUT": "30"}


def import_mlflow() -> Any:
    """``mlflow`` with telemetry off (a user's own setting wins), or a one-line error naming
    ``czbench[mlflow]``."""
    os.environ.setdefault(TELEMETRY_VARIABLE, "true")
    if importlib.util.find_spec("mlflow") is None:
        raise InputError("mlflow: logging to MLflow needs the optional package 'mlflow'; "
                         "install it with: pip install 'czbench[mlflow]'")
    import mlflow

    return mlflow


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split())


def open_client(tracking_uri: str) -> Any:
    """A ``MlflowClient`` of ``tracking_uri``, or a one-line InputError saying what the store
    needs."""
    if not isinstance(tracking_uri, str) or not tracking_uri.strip():
        raise InputError(f"mlflow: expected a tracking URI (sqlite:///mlflow.db, "
                         f"http://host:5000, file:./mlruns), got {tracking_uri!r}")
    import_mlflow()
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    scheme = tracking_uri.split(":", 1)[0].split("+", 1)[0].lower() if ":" in tracking_uri \
        else ""
    sql = (f"mlflow: the tracking store {tracking_uri} is a database; MLflow's SQL store needs "
           f"the full MLflow package (pip install mlflow; mlflow-skinny has none). Or log to "
           f"an http(s):// tracking server")
    if scheme in _SQL_SCHEMES and importlib.util.find_spec("sqlalchemy") is None:
        raise InputError(sql)
    try:
        return MlflowClient(tracking_uri=tracking_uri)
    except ImportError as err:  # e.g. SQLAlchemy without alembic
        raise InputError(f"{sql} ({_one_line(err)})") from None
    except MlflowException as err:
        if FILE_STORE_VARIABLE in str(err):
            raise InputError(
                f"mlflow: {tracking_uri} is a filesystem store, which MLflow 3.x opens only "
                f"with {FILE_STORE_VARIABLE}=true in the environment; set it, or use "
                f"sqlite:///PATH/mlflow.db (with pip install mlflow)") from None
        raise InputError(f"mlflow: cannot open tracking store {tracking_uri}: "
                         f"{_one_line(err)}") from None


def _part(value: Any) -> str:
    text = safe_name_part(value)
    return "_" if set(text) == {"."} else text  # "." and ".." would be read as paths


def valid_name(name: str) -> bool:
    """Whether MLflow accepts ``name`` as a metric or param key on every platform: allowed
    characters, at most 250 of them, and a normalised path (no ``//``, ``.``, ``..`` parts)."""
    return bool(VALID_NAME.fullmatch(name)) and len(name) <= MAX_NAME \
        and posixpath.normpath(name) == name and not name.startswith("/")


def _bounded(name: str) -> str:
    """``name``, or its first characters and a hash of all of it, leaving room for a
    ``-N`` suffix within MLflow's 250 characters."""
    limit = MAX_NAME - 16
    if len(name) <= limit:
        return name
    import hashlib

    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[:limit - 9].rstrip('/.')}-{digest}"


def metric_names(summary: list[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """MLflow metric name -> summary row, in the summary's order: ``<input>/<task>/<metric>``
    plus one ``<param>_<value>`` part per param, each part made safe; a name two rows would
    share gets ``-2``, ``-3``... (the artifact ``metric_names.json`` maps names back)."""
    names: dict[str, Mapping[str, Any]] = {}
    for row in summary:
        params = row.get("params") or {}
        parts = [row["embedding"], row["task"], row["metric"],
                 *(f"{k}={v}" for k, v in params.items())]
        base = _bounded("/".join(_part(p) for p in parts))
        name, n = base, 1
        while name in names:
            n += 1
            name = f"{base}-{n}"
        names[name] = row
    return names


def _param_value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return text if len(text) <= MAX_PARAM_VALUE else text[:MAX_PARAM_VALUE - 3] + "..."


def run_params(document: Mapping[str, Any]) -> dict[str, str]:
    """The run's params: dataset, seeds, czbench version, run context (callback files: stage,
    epoch, step) and every task option, flattened to ``task.<task>.<option>``."""
    dataset = document.get("dataset") or {}
    context = document.get("context") or {}
    params: dict[str, Any] = {
        "dataset": dataset.get("name"), "dataset_sha256": dataset.get("sha256"),
        "dataset_n_cells": dataset.get("n_cells"),
        "seeds": ",".join(str(s) for s in document.get("seeds", [document.get("seed")])),
        "czbench_version": document.get("czbench_version"),
        "schema_version": document.get("schema_version"),
        "knn_backend": context.get("knn_backend"), "device": context.get("device"),
    }
    for key in ("controls", "stage", "epoch", "global_step"):
        if key in document:
            params[key] = document[key]
    params = {key: value for key, value in params.items() if value is not None}
    for task, options in (document.get("tasks") or {}).items():
        for option, value in (options or {}).items():
            if option != "resolved":  # schema_version 2 kept per-seed resolutions here
                params[f"task.{_part(task)}.{_part(option)}"] = value  # None: "null"
    return {key: _param_value(value) for key, value in params.items()}


def _artifact_location(tracking_uri: str) -> str | None:
    """For a local sqlite store: ``mlartifacts`` beside the database (MLflow's default is
    ``./mlruns`` under the current folder, wherever the database is)."""
    if not tracking_uri.startswith("sqlite:///"):
        return None
    path = tracking_uri[len("sqlite:///"):].split("?", 1)[0]
    if not path or path == ":memory:":
        return None
    return (Path(path).expanduser().resolve().parent / "mlartifacts").as_uri()


def _experiment_id(client: Any, name: str, tracking_uri: str) -> str:
    from mlflow.exceptions import MlflowException

    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        try:
            return client.create_experiment(name, artifact_location=_artifact_location(
                tracking_uri))
        except MlflowException:  # created meanwhile by another process
            experiment = client.get_experiment_by_name(name)
            if experiment is None:
                raise
    if experiment.lifecycle_stage == "deleted":
        raise InputError(f"mlflow: experiment {name!r} is deleted in {tracking_uri}; restore "
                         f"it or choose another experiment name")
    return experiment.experiment_id


def log_to_mlflow(document: Mapping[str, Any], tracking_uri: str, *,
                  experiment: str = DEFAULT_EXPERIMENT, run_name: str | None = None) -> str:
    """Log ``document`` as one MLflow run of ``experiment`` (created when missing) in the
    store at ``tracking_uri``; returns the run id. The run name defaults to the dataset's."""
    if not isinstance(document, Mapping) or not isinstance(document.get("summary"), list):
        raise InputError("mlflow: expected a finished czbench results document (with a "
                         "'summary' list)")
    if not isinstance(experiment, str) or not experiment.strip():
        raise InputError(f"mlflow: expected an experiment name, got {experiment!r}")
    client = open_client(tracking_uri)
    from mlflow.entities import Metric, Param
    from mlflow.exceptions import MlflowException

    names = metric_names(document["summary"])
    stamp = int(time.time() * 1000)
    metrics = [Metric(name, float(row["mean"]), stamp, 0) for name, row in names.items()]
    params = [Param(k, v) for k, v in run_params(document).items()]
    tags = {"czbench.created_utc": str(document.get("created_utc")),
            "czbench.version": str(document.get("czbench_version"))}
    dataset = (document.get("dataset") or {}).get("name")
    try:
        experiment_id = _experiment_id(client, experiment, tracking_uri)
        run = client.create_run(experiment_id, run_name=run_name or dataset, tags=tags)
    except MlflowException as err:
        raise InputError(f"mlflow: {tracking_uri}: {_one_line(err)}") from None
    run_id = run.info.run_id
    try:
        for i in range(0, len(params), MAX_PARAMS_PER_BATCH):
            client.log_batch(run_id, params=params[i:i + MAX_PARAMS_PER_BATCH])
        for i in range(0, len(metrics), MAX_METRICS_PER_BATCH):
            client.log_batch(run_id, metrics=metrics[i:i + MAX_METRICS_PER_BATCH])
        with tempfile.TemporaryDirectory(prefix="czbench-mlflow-") as folder:
            atomic_write_text(Path(folder) / "results.json", json.dumps(document, indent=2) + "\n")
            keys = {name: {k: row[k] for k in ("embedding", "task", "metric", "params")}
                    for name, row in names.items()}
            atomic_write_text(Path(folder) / "metric_names.json",
                              json.dumps(keys, indent=2) + "\n")
            client.log_artifacts(run_id, folder, artifact_path="czbench")
    except BaseException as err:
        with contextlib.suppress(Exception):  # the original error is the one to report
            client.set_terminated(run_id, "FAILED")
        if isinstance(err, MlflowException):
            raise InputError(f"mlflow: run {run_id} in {tracking_uri}: "
                             f"{_one_line(err)}") from None
        raise
    client.set_terminated(run_id, "FINISHED")
    return run_id


# -- the ``czbench run`` hooks -----------------------------------------------------------------

def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--mlflow-tracking-uri`` and ``--mlflow-experiment`` to ``czbench run``'s parser."""
    parser.add_argument("--mlflow-tracking-uri", metavar="URI",
                        help="also log each results file as one MLflow run to this tracking "
                        "store: http(s)://HOST, sqlite:///mlflow.db (needs pip install "
                        "mlflow) or file:./mlruns (needs MLFLOW_ALLOW_FILE_STORE=true)")
    parser.add_argument("--mlflow-experiment", metavar="NAME",
                        help=f"the MLflow experiment of those runs (default: "
                        f"{DEFAULT_EXPERIMENT}; created when missing)")


def check_reachable(uri: str, timeout: float = REACH_TIMEOUT) -> None:
    """For an ``http(s)://`` tracking URI, a one-line error unless its host accepts a TCP
    connection within ``timeout`` seconds (other stores are local)."""
    import socket
    from urllib.parse import urlparse

    parsed = urlparse(uri)
    if parsed.scheme.lower() not in ("http", "https"):
        return
    try:
        port = parsed.port or (443 if parsed.scheme.lower() == "https" else 80)
    except ValueError:
        raise InputError(f"--mlflow-tracking-uri: {uri} has an invalid port") from None
    if not parsed.hostname:
        raise InputError(f"--mlflow-tracking-uri: {uri} names no host")
    try:
        socket.create_connection((parsed.hostname, port), timeout=timeout).close()
    except OSError as err:
        reason = "timed out" if isinstance(err, TimeoutError) else _one_line(err)
        raise InputError(f"--mlflow-tracking-uri: the tracking server {parsed.hostname}:{port} "
                         f"is unreachable ({reason}, {timeout:g} s); start it or fix the URI "
                         f"(checked before any work)") from None
    for name, value in HTTP_DEFAULTS.items():
        os.environ.setdefault(name, value)


def before_run(args: argparse.Namespace) -> None:
    """Check the MLflow options before any work: mlflow importable, the store opens, a
    tracking server answers (:func:`check_reachable`)."""
    uri = getattr(args, "mlflow_tracking_uri", None)
    if getattr(args, "mlflow_experiment", None) is not None and not uri:
        raise InputError("--mlflow-experiment: needs --mlflow-tracking-uri")
    if uri:
        open_client(uri)
        check_reachable(uri)


def after_run(args: argparse.Namespace, document: Mapping[str, Any],
              console: Any = None) -> str | None:
    """Log ``document`` (just written) when ``--mlflow-tracking-uri`` was given; returns the
    run id (None without the option)."""
    uri = getattr(args, "mlflow_tracking_uri", None)
    if not uri:
        return None
    experiment = getattr(args, "mlflow_experiment", None) or DEFAULT_EXPERIMENT
    run_id = log_to_mlflow(document, uri, experiment=experiment)
    if console is not None:
        console.print(f"logged to MLflow: run {run_id} of experiment {experiment!r} at {uri}")
    return run_id
