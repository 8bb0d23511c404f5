"""Run tasks on embeddings of one dataset: the engine behind ``czbench run`` and ``benchmark()``.

Everything here is plumbing around :mod:`czbench.tasks`: resolve the embeddings, check every
task's inputs before any work, build each embedding's kNN graph once (at the largest k any task
needs) and hand it to every task, time each step, and assemble the results document.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd
import torch

from czbench import __version__
from czbench._arrays import sha256_array
from czbench.baselines import baseline, counts_matrix
from czbench.controls import CONTROLS
from czbench.datasets import from_anndata, get_info, list_datasets, load
from czbench.errors import CZBenchError, InputError
from czbench.grid import Cell, CellJob, RunDirectory, assemble, execute, remember_embedding
from czbench.neighbors import choose_backend
from czbench.results import results_frame, write_json
from czbench.scoring import CORE_TASKS, jsonable, make_tasks, new_document
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
                    batch_key: str | None, backed: bool = False) -> ad.AnnData:
    if isinstance(dataset, ad.AnnData):
        if "czbench" in dataset.uns and label_key is None and batch_key is None:
            return dataset
        return from_anndata(dataset, label_key=label_key, batch_key=batch_key)
    return load(dataset, label_key=label_key, batch_key=batch_key, backed=backed)


def benchmark(dataset: str | Path | ad.AnnData, embeddings: Sequence[Any] | None = None,
              tasks: Sequence[str] | None = None, *, seed: int = DEFAULT_SEED,
              seeds: Sequence[int] | None = None, controls: bool = False,
              label_key: str | None = None, batch_key: str | None = None,
              task_options: dict[str, dict[str, Any]] | None = None,
              on_step: Callable[[str, int, int], None] | None = None,
              knn_backend: str = "auto", backed: bool = False, scheduler: Any = None,
              n_workers: int | None = None, run_dir: str | Path | None = None,
              resume: bool = False) -> BenchmarkResult:
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
        on_step: called as ``on_step(label, step, total)`` as the run progresses.
        knn_backend: ``auto`` (exact up to 100k cells on CPU, faiss IVF above), ``exact`` or
            ``faiss-ivf``; see :mod:`czbench.neighbors`.
        backed: open an .h5ad dataset with X left on disk (obs and obsm are read).
        scheduler: None (serial), ``"local"`` (Dask LocalCluster of ``n_workers``), a Dask
            scheduler address, or a ``dask.distributed.Client``; see :mod:`czbench.grid`.
        run_dir: folder where each finished (task, seed, embedding) result is written at once;
            with ``resume=True`` a run there continues without recomputing them.
    """
    return benchmark_grid([dataset], embeddings, tasks, seed=seed, seeds=seeds,
                          controls=controls, label_key=label_key, batch_key=batch_key,
                          task_options=task_options, on_step=on_step, knn_backend=knn_backend,
                          backed=backed, scheduler=scheduler, n_workers=n_workers,
                          run_dir=run_dir, resume=resume)[0]


@dataclass
class _Plan:
    """One dataset's share of a grid run."""

    job: CellJob
    handle: Any
    cells: list[Cell]
    task_names: list[str]
    document: dict[str, Any]
    manifest: dict[str, Any]


def benchmark_grid(datasets: Sequence[str | Path | ad.AnnData],
                   embeddings: Sequence[Any] | None = None, tasks: Sequence[str] | None = None,
                   *, seed: int = DEFAULT_SEED, seeds: Sequence[int] | None = None,
                   controls: bool = False, label_key: str | None = None,
                   batch_key: str | None = None,
                   task_options: dict[str, dict[str, Any]] | None = None,
                   on_step: Callable[[str, int, int], None] | None = None,
                   knn_backend: str = "auto", backed: bool = False, scheduler: Any = None,
                   n_workers: int | None = None, run_dir: str | Path | None = None,
                   resume: bool = False) -> list[BenchmarkResult]:
    """The grid datasets x seeds x embeddings x tasks: one :class:`BenchmarkResult` (one results
    document) per dataset, in order. Arguments as for :func:`benchmark`; every cell
    (dataset, seed, embedding) is one unit of work, run serially or on Dask."""
    seeds = [int(s) for s in (seeds if seeds is not None else [seed])]
    if not seeds or len(set(seeds)) != len(seeds):
        raise InputError(f"seeds: expected distinct integers, got {seeds}")
    if not datasets:
        raise InputError("dataset: no dataset to benchmark")
    choose_backend(1, torch.device("cpu"), knn_backend)  # validates the name
    plans = [_plan(i, d, embeddings, tasks, seeds, controls, label_key, batch_key,
                   task_options, knn_backend, backed, distributed=scheduler is not None)
             for i, d in enumerate(datasets)]
    directory = None
    if run_dir is not None:
        manifest = {"czbench_version": __version__, "seeds": seeds, "controls": controls,
                    "knn_backend": knn_backend, "datasets": [p.manifest for p in plans]}
        directory = RunDirectory(run_dir, manifest, resume=resume)
    cells = [c for p in plans for c in p.cells]
    found = execute([p.job for p in plans], [p.handle for p in plans], cells,
                    [p.task_names for p in plans], run_dir=directory, scheduler=scheduler,
                    n_workers=n_workers, on_step=on_step)
    out = []
    for plan in plans:
        results = assemble(plan.document, plan.cells, found, plan.task_names)
        summarize(plan.document)
        out.append(BenchmarkResult(plan.document, results))
    return out


def _plan(index: int, dataset: Any, embeddings: Sequence[Any] | None,
          tasks: Sequence[str] | None, seeds: list[int], controls: bool,
          label_key: str | None, batch_key: str | None,
          task_options: dict[str, dict[str, Any]] | None, knn_backend: str, backed: bool,
          distributed: bool) -> _Plan:
    """Load and check one dataset, its tasks and embeddings; lay out its cells."""
    adata = prepare_dataset(dataset, label_key, batch_key, backed=backed)
    columns = tuple(adata.obs.columns)
    name = adata.uns.get("czbench", {}).get("name")
    # the core tasks plus those the dataset is registered for, where its columns allow them
    extra = get_info(name).tasks if name in list_datasets() else ()
    defaults = tuple(dict.fromkeys((*CORE_TASKS, *extra)))
    instances = make_tasks(tasks, seed=seeds[0], task_options=task_options,
                           available_columns=columns, defaults=defaults)
    for task in instances:
        task.check_inputs(adata.obs, adata.n_obs)
        task.prepare(adata)
    specs = list(embeddings) if embeddings is not None else default_embeddings(adata)
    if not specs and not controls:
        raise InputError("embedding: no embedding to benchmark")
    key = str(dataset) if isinstance(dataset, str | Path) else f"anndata#{index}"
    token = uuid.uuid4().hex
    sources, hashes = [], []
    for position, spec in enumerate(specs):  # check every embedding before any work
        source, values = resolve_embedding(spec, adata, seed=seeds[0])
        sources.append(source)
        # baselines are recomputed per seed (the first seed's is kept for its cell); a fixed
        # embedding is the same for every seed, so in-process cells reuse what was read here
        hashes.append(None if _is_baseline(spec) else sha256_array(getattr(values, "X", values)))
        if not distributed:
            for run_seed in seeds[:1] if _is_baseline(spec) else seeds:
                remember_embedding(token, position, run_seed, values)
    if controls:
        names = [c for c in CONTROLS if c != "shuffled_within_batch" or "batch" in adata.obs]
        specs += [f"control:{c}" for c in names]
        sources += [f"control:{c}" for c in names]
    job = CellJob(dataset_key=key, label_key=label_key, batch_key=batch_key, tasks=tasks,
                  task_options=task_options, defaults=defaults, columns=columns,
                  knn_backend=knn_backend, backed=backed, specs=specs, token=token)
    cells = [Cell(index, s, position, source) for s in seeds
             for position, source in enumerate(sources)]
    meta = adata.uns.get("czbench", {})
    document = new_document(seeds=seeds, tasks=instances, controls=controls, dataset={
        "name": meta.get("name"), "path": meta.get("path"), "sha256": meta.get("sha256"),
        "n_cells": int(adata.n_obs), "n_genes": int(adata.n_vars),
        "columns": dict(meta.get("columns", {}))})
    manifest = {"dataset": key, "sha256": meta.get("sha256"), "n_cells": int(adata.n_obs),
                "label_key": label_key, "batch_key": batch_key,
                "embeddings": [[s, h] for s, h in zip(sources, hashes + [None] *
                                                      (len(sources) - len(hashes)), strict=True)],
                "tasks": {t.name: jsonable(t.options()) for t in instances}}
    # workers of a Dask run load named datasets themselves; in-process runs reuse this one
    handle = dataset if distributed and isinstance(dataset, str | Path) else adata
    return _Plan(job, handle, cells, [t.name for t in instances], document, manifest)


def _is_baseline(spec: Any) -> bool:
    return isinstance(spec, str) and spec.startswith("baseline:")


__all__ = ["CORE_TASKS", "BenchmarkResult", "Task", "benchmark", "benchmark_grid",
           "default_embeddings",
           "resolve_embedding"]
