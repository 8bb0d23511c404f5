"""``czbench.benchmark`` and ``benchmark_grid``: the Python entry points of a run.

Plan every dataset (:mod:`.plan`: load, build tasks and inputs, check everything), execute the
grid (:mod:`.execute`: serially or on Dask, saving records to a run directory), then assemble
one results document per dataset (:mod:`.document`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import anndata as ad

from czbench import __version__
from czbench.context import DEFAULT_SEED
from czbench.errors import InputError
from czbench.run.config import RunConfig
from czbench.run.document import finish
from czbench.run.execute import assemble, execute
from czbench.run.plan import plan_dataset
from czbench.run.result import BenchmarkResult
from czbench.run.rundir import RunDirectory
from czbench.tasks import Task


def benchmark(dataset: str | Path | ad.AnnData,
              embeddings: Sequence[Any] | Mapping[str, Any] | None = None,
              tasks: Sequence[str | Task] | None = None, *,
              predictions: Sequence[Any] | Mapping[str, Any] | None = None,
              seed: int = DEFAULT_SEED, seeds: Sequence[int] | None = None,
              controls: bool = False, label_key: str | None = None,
              batch_key: str | None = None,
              task_options: dict[str, dict[str, Any]] | None = None,
              on_step: Callable[[str, int, int], None] | None = None,
              knn_backend: str = "auto", device: str | None = None, backed: bool = False,
              scheduler: Any = None, n_workers: int | None = None,
              run_dir: str | Path | None = None, resume: bool = False,
              modality: str | None = None, models: Sequence[Any] | None = None,
              use_cache: bool = True, spatial_key: str | None = None) -> BenchmarkResult:
    """Run ``tasks`` on each input of ``dataset`` for each seed; every input is checked
    before any work.

    Args:
        dataset: registered name, .h5ad path, or AnnData.
        embeddings: specs (``obsm:KEY``, ``baseline:pca``, ``baseline:raw``, ``file.npy``) or
            arrays, as a list (arrays are named ``array:0``, ``array:1``...) or a
            ``{name: spec or array}`` dict; default: the dataset's PCA baseline and shipped
            embeddings (and, for expression tasks, their baselines).
        tasks: task names or instances; default: the core tasks (and the dataset's registered
            ones) whose obs columns the dataset has.
        predictions: expression predictions (cells x genes: .h5ad files, AnnData, DataFrames or
            arrays of the dataset's shape), as a list or a dict, for tasks whose input is
            ``expression`` (perturbation).
        seed: seed of every random choice (baselines, clustering, folds, forests).
        seeds: several seeds: every task runs once per seed (overrides ``seed``); the summary
            reports mean, standard deviation and raw values.
        controls: also score the control embeddings (:mod:`czbench.baselines.controls`) and
            report control-normalised scores.
        task_options: {task name: {option: value}} passed to each task.
        on_step: called as ``on_step(label, step, total)`` as the run progresses.
        knn_backend: ``auto`` (exact up to 100k cells on CPU, faiss IVF above), ``exact`` or
            ``faiss-ivf``; see :mod:`czbench.neighbors`.
        device: torch device of the metrics (default: CUDA when available, else CPU).
        backed: open an .h5ad dataset with X left on disk (obs and obsm are read).
        scheduler: None (serial), ``"local"`` (Dask LocalCluster of ``n_workers``), a Dask
            scheduler address, or a ``dask.distributed.Client``; see docs/grid.md.
        run_dir: folder where each finished (task, seed, input) result is written at once;
            with ``resume=True`` a run there continues without recomputing them.
        modality: what the rows of a user's file or AnnData measure (``transcriptomics``,
            the default, or ``morphology``...; :mod:`czbench.datasets.modalities`): it picks
            the default tasks and baselines. Registered datasets declare their own.
        models: models czbench runs to get embeddings, scored next to ``embeddings``:
            registered names (``harmony``, ``scvi``...), ``mlflow:PATH_OR_URI`` packages or
            :class:`czbench.models.Model` instances (:mod:`czbench.models`).
        spatial_key: the obsm key of a file's 2-D cell coordinates (default ``spatial`` on
            spatial data; giving it makes the data spatial).
        use_cache: read and write model outputs in the cache (``$CZBENCH_CACHE``), keyed by
            everything the output depends on (:func:`czbench.models.cache.cache_key`).
    """
    return benchmark_grid([dataset], embeddings, tasks, predictions=predictions, seed=seed,
                          seeds=seeds, controls=controls, label_key=label_key,
                          batch_key=batch_key, task_options=task_options, on_step=on_step,
                          knn_backend=knn_backend, device=device, backed=backed,
                          scheduler=scheduler, n_workers=n_workers, run_dir=run_dir,
                          resume=resume, modality=modality, models=models,
                          use_cache=use_cache, spatial_key=spatial_key)[0]


def benchmark_grid(datasets: Sequence[str | Path | ad.AnnData],
                   embeddings: Sequence[Any] | Mapping[str, Any] | None = None,
                   tasks: Sequence[str | Task] | None = None, *,
                   predictions: Sequence[Any] | Mapping[str, Any] | None = None,
                   seed: int = DEFAULT_SEED, seeds: Sequence[int] | None = None,
                   controls: bool = False, label_key: str | None = None,
                   batch_key: str | None = None,
                   task_options: dict[str, dict[str, Any]] | None = None,
                   on_step: Callable[[str, int, int], None] | None = None,
                   knn_backend: str = "auto", device: str | None = None, backed: bool = False,
                   scheduler: Any = None, n_workers: int | None = None,
                   run_dir: str | Path | None = None, resume: bool = False,
                   modality: str | None = None, models: Sequence[Any] | None = None,
                   use_cache: bool = True, spatial_key: str | None = None
                   ) -> list[BenchmarkResult]:
    """The grid datasets x seeds x inputs x tasks: one :class:`BenchmarkResult` (one results
    document) per dataset, in order. Arguments as for :func:`benchmark`; they build the run's
    :class:`~czbench.run.config.RunConfig` (:func:`run_config` runs one directly)."""
    config = RunConfig.from_kwargs(
        datasets, embeddings, tasks, predictions=predictions, seed=seed, seeds=seeds,
        controls=controls, label_key=label_key, batch_key=batch_key,
        task_options=task_options or {}, knn_backend=knn_backend, device=device,
        backed=backed, scheduler=scheduler, n_workers=n_workers, run_dir=run_dir,
        resume=resume, modality=modality, models=models, use_cache=use_cache,
        spatial_key=spatial_key)
    return run_config(config, on_step=on_step)


def run_config(config: RunConfig, *, on_step: Callable[[str, int, int], None] | None = None
               ) -> list[BenchmarkResult]:
    """Run the grid ``config`` describes: plan every dataset, execute, assemble one document
    per dataset (each recording ``config`` whole)."""
    if not isinstance(config, RunConfig):
        raise InputError(f"config: expected a czbench.run.RunConfig, got "
                         f"{type(config).__name__}")
    seeds = list(config.seeds)
    context = config.context()
    recorded = config.describe()
    plans = [plan_dataset(i, d, config.embeddings, config.predictions, config.tasks,
                          seeds=seeds, context=context, controls=config.controls,
                          label_key=config.label_key, batch_key=config.batch_key,
                          task_options=config.task_options, backed=config.backed,
                          modality=config.modality, use_cache=config.use_cache,
                          spatial_key=config.spatial_key)
             for i, d in enumerate(config.datasets)]
    how = "serial" if config.scheduler is None else "dask"
    for plan in plans:
        plan.document["environment"]["scheduler"] = how
        plan.document["config"] = recorded
    directory = None
    if config.run_dir is not None:
        manifest = {"czbench_version": __version__, "seeds": seeds, "controls": config.controls,
                    "context": context.describe(), "datasets": [p.manifest for p in plans]}
        directory = RunDirectory(config.run_dir, manifest, resume=config.resume)
    found = execute(plans, run_dir=directory, scheduler=config.scheduler,
                    n_workers=config.n_workers, on_step=on_step)
    out = []
    for plan in plans:
        results = assemble(plan, found)
        out.append(BenchmarkResult(finish(plan.document), results))
    return out
