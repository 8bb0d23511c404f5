"""Run tasks on embeddings of one dataset: the engine behind ``czbench run`` and ``benchmark()``.

Everything here is plumbing around :mod:`czbench.tasks`: resolve the embeddings, check every
task's inputs before any work, build each embedding's kNN graph once (at the largest k any task
needs) and hand it to every task, time each step, and assemble the results document.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd

from czbench.baselines import baseline, counts_matrix
from czbench.controls import CONTROLS, control_embeddings
from czbench.datasets import from_anndata, get_info, list_datasets, load
from czbench.errors import CZBenchError, InputError
from czbench.results import results_frame, write_json
from czbench.scoring import (
    CORE_TASKS,
    add_embedding,
    jsonable,
    make_tasks,
    new_document,
    role_of,
    score_embedding,
)
from czbench.summary import summarize
from czbench.tasks import DEFAULT_SEED, MetricResult, Task


def default_embeddings(adata: ad.AnnData) -> list[str]:
    """The PCA baseline when the dataset has counts, plus the registry's shipped embeddings."""
    specs = []
    try:
        counts_matrix(adata)
        specs.append("baseline:pca")
    except CZBenchError:
        pass
    name = adata.uns.get("czbench", {}).get("name")
    if name in list_datasets():
        specs += [f"obsm:{key}" for key in get_info(name).embeddings if key in adata.obsm]
    if not specs:
        raise InputError("embedding: the dataset has no counts for baseline:pca and no shipped "
                         "embedding; pass one (obsm:KEY, FILE.npy, baseline:raw)")
    return specs


def resolve_embedding(spec: Any, adata: ad.AnnData, *, seed: int = DEFAULT_SEED
                      ) -> tuple[str, Any]:
    """(source label, matrix) for ``obsm:KEY``, ``baseline:NAME``, a ``.npy`` path or an array."""
    if not isinstance(spec, str | Path):
        values, source = spec, "array"
    elif str(spec).startswith("obsm:"):
        key = str(spec)[5:]
        if key not in adata.obsm:
            raise InputError(f"embedding: obsm key '{key}' not found; obsm has: "
                             f"{', '.join(adata.obsm) or '(nothing)'}")
        values, source = adata.obsm[key], str(spec)
    elif str(spec).startswith("baseline:"):
        values, source = baseline(str(spec)[9:], adata, seed=seed), str(spec)
    else:
        path = Path(spec)
        if path.suffix not in (".npy", ".h5ad"):
            raise InputError(f"embedding: '{spec}' is not obsm:KEY, baseline:NAME, a .npy file "
                             f"or an .h5ad file of predictions")
        if not path.exists():
            raise InputError(f"embedding: file not found: {path}")
        try:
            values = np.load(path, allow_pickle=False) if path.suffix == ".npy" \
                else ad.read_h5ad(path)
        except (ValueError, OSError) as err:
            raise InputError(f"embedding: {path} is not a readable {path.suffix} file") from err
        source = str(path)
    if isinstance(values, ad.AnnData | pd.DataFrame):
        return source, values  # aligned to the dataset by cell and gene names by the task
    if getattr(values, "ndim", 0) != 2:
        raise InputError(f"embedding: {source} must be 2-D (cells x dims), got shape "
                         f"{getattr(values, 'shape', None)}")
    if values.shape[0] != adata.n_obs:
        raise InputError(f"embedding: {source} has {values.shape[0]} rows but the dataset has "
                         f"{adata.n_obs} cells")
    return source, values


@dataclass
class BenchmarkResult:
    """Results of one run: the document written to JSON, plus convenient views."""

    document: dict[str, Any]
    results: list[MetricResult] = field(default_factory=list)

    def to_frame(self) -> pd.DataFrame:
        """Tidy table: one row per (embedding, task, metric, params)."""
        return results_frame(self.document)

    def wide(self) -> pd.DataFrame:
        """Mean over seeds: metrics as rows, embeddings as columns."""
        frame = self.summary_frame()
        return frame.pivot_table(index=["task", "metric", "params"], columns="embedding",
                                 values="mean", sort=False)

    def summary_frame(self) -> pd.DataFrame:
        """One row per (embedding, task, metric, params): mean, std, values, normalized."""
        return results_frame({"results": self.document["summary"]})

    def aggregates_frame(self) -> pd.DataFrame:
        """One row per embedding: avg_bio, scib_overall, mean_normalized."""
        return pd.DataFrame(self.document["aggregates"]).set_index("embedding")

    def write_json(self, path: str | Path, *, overwrite: bool = False) -> Path:
        return write_json(self.document, path, overwrite=overwrite)


def prepare_dataset(dataset: str | Path | ad.AnnData, label_key: str | None,
                    batch_key: str | None) -> ad.AnnData:
    if isinstance(dataset, ad.AnnData):
        if "czbench" in dataset.uns and label_key is None and batch_key is None:
            return dataset
        return from_anndata(dataset, label_key=label_key, batch_key=batch_key)
    return load(dataset, label_key=label_key, batch_key=batch_key)


def benchmark(dataset: str | Path | ad.AnnData, embeddings: Sequence[Any] | None = None,
              tasks: Sequence[str] | None = None, *, seed: int = DEFAULT_SEED,
              seeds: Sequence[int] | None = None, controls: bool = False,
              label_key: str | None = None, batch_key: str | None = None,
              task_options: dict[str, dict[str, Any]] | None = None,
              on_step: Callable[[str, int, int], None] | None = None) -> BenchmarkResult:
    """Run ``tasks`` on each embedding of ``dataset`` for each seed; every input is checked
    before any work.

    Args:
        dataset: registered name, .h5ad path, or AnnData.
        embeddings: specs (``obsm:KEY``, ``baseline:pca``, ``baseline:raw``, ``file.npy``) or
            arrays; default: the dataset's PCA baseline and shipped embeddings.
        tasks: task names; default: the four core tasks whose obs columns the dataset has.
        seed: seed of every random choice (baselines, clustering, folds, forests).
        seeds: several seeds: every task runs once per seed (overrides ``seed``); the summary
            reports mean, standard deviation and raw values.
        controls: also score the control embeddings (:mod:`czbench.controls`) and report
            control-normalised scores.
        task_options: {task name: {option: value}} passed to each task.
        on_step: called as ``on_step(label, step, total)`` before each scoring step.
    """
    seeds = [int(s) for s in (seeds if seeds is not None else [seed])]
    if not seeds or len(set(seeds)) != len(seeds):
        raise InputError(f"seeds: expected distinct integers, got {seeds}")
    adata = prepare_dataset(dataset, label_key, batch_key)
    columns = list(adata.obs.columns)
    name = adata.uns.get("czbench", {}).get("name")
    # the core tasks plus those the dataset is registered for, where its columns allow them
    extra = get_info(name).tasks if name in list_datasets() else ()
    defaults = tuple(dict.fromkeys((*CORE_TASKS, *extra)))

    def tasks_for(run_seed: int) -> list[Task]:
        return make_tasks(tasks, seed=run_seed, task_options=task_options,
                          available_columns=columns, defaults=defaults)

    instances = tasks_for(seeds[0])
    for task in instances:
        task.check_inputs(adata.obs, adata.n_obs)
        task.prepare(adata)
    specs = list(embeddings) if embeddings is not None else default_embeddings(adata)
    if not specs and not controls:
        raise InputError("embedding: no embedding to benchmark")
    fixed = [resolve_embedding(s, adata, seed=seeds[0]) for s in specs if not _is_baseline(s)]
    baseline_specs = [s for s in specs if _is_baseline(s)]

    meta = adata.uns.get("czbench", {})
    document = new_document(seeds=seeds, tasks=instances, controls=controls, dataset={
        "name": meta.get("name"), "path": meta.get("path"), "sha256": meta.get("sha256"),
        "n_cells": int(adata.n_obs), "n_genes": int(adata.n_vars),
        "columns": dict(meta.get("columns", {}))})
    all_results: list[MetricResult] = []
    n_controls = len(CONTROLS) - ("batch" not in adata.obs) if controls else 0
    total = len(seeds) * (len(specs) + n_controls) * len(instances)
    done = 0
    for run_seed in seeds:
        instances = tasks_for(run_seed)
        for task in instances:
            task.prepare(adata)
        resolved = fixed + [resolve_embedding(s, adata, seed=run_seed) for s in baseline_specs]
        if controls:
            resolved += list(control_embeddings(adata, seed=run_seed).items())
        for source, values in resolved:
            def step(name: str, source: str = source, run_seed: int = run_seed) -> None:
                nonlocal done
                done += 1
                if on_step:
                    on_step(f"seed {run_seed} · {source} · {name}", done, total)

            results, timings = score_embedding(values, adata.obs, instances, on_step=step)
            add_embedding(document, source, values, results, timings, seed=run_seed,
                          role=role_of(source))
            all_results += results
        for task in instances:  # what tasks resolved from the data (e.g. skipped conditions)
            resolved = getattr(task, "resolved_", None)
            if resolved is not None:
                document["tasks"][task.name].setdefault("resolved", {})[str(run_seed)] = \
                    jsonable(resolved)
    summarize(document)
    return BenchmarkResult(document, all_results)


def _is_baseline(spec: Any) -> bool:
    return isinstance(spec, str) and spec.startswith("baseline:")


__all__ = ["CORE_TASKS", "BenchmarkResult", "Task", "benchmark", "default_embeddings",
           "resolve_embedding"]
