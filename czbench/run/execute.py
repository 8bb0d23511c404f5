"""Executing a planned grid: every cell (dataset, seed, input) scored serially or on Dask.

A cell's tasks share one kNN graph, so a cell is the unit of work. With a run directory every
finished (task) record is saved at once and skipped on resume. The documents are assembled from
the records in grid order, so serial, Dask and resumed runs give the same file (timings and
creation time aside).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import anndata as ad

from czbench.context import RunContext
from czbench.errors import InputError
from czbench.run.document import add_records, input_entry
from czbench.run.inputs import Input, load_values
from czbench.run.plan import DatasetLoader, DatasetPlan
from czbench.run.rundir import Cell, RunDirectory, check_same_input, write_record
from czbench.run.score import score_input
from czbench.tasks import MetricResult, Task

OnStep = Callable[[str, int, int], None]


@dataclass
class CellJob:
    """What a worker needs to score the cells of one dataset (picklable)."""

    dataset_key: str
    loader: DatasetLoader | None
    tasks: list[Task]
    inputs: list[Input]
    input_tasks: list[list[str]]
    context: RunContext
    token: str
    #: each task's prepared state, per seed: {seed: {task name: state}}
    prepared: dict[int, dict[str, Any]]


# -- worker side -------------------------------------------------------------------------------
#: a worker process's open dataset (one at a time keeps memory flat)
_LOADED: dict[tuple, ad.AnnData] = {}


def _dataset(job: CellJob, dataset: Any) -> ad.AnnData:
    if isinstance(dataset, ad.AnnData):
        return dataset
    key = (job.token, job.dataset_key)
    if key not in _LOADED:
        _LOADED.clear()  # one dataset per worker at a time keeps memory flat
        if job.loader is None:
            raise InputError(f"dataset: {job.dataset_key} cannot be opened by a worker")
        _LOADED[key] = job.loader.load()
    return _LOADED[key]


def cell_values(job: CellJob, adata: ad.AnnData, cell: Cell) -> Any:
    """The matrix of ``cell``'s input (baselines and controls computed with its seed; the
    values computed while planning, and the PCA they share, read from the context's cache)."""
    kept = job.context.cache.take(adata, ("input", cell.position, cell.seed))
    if kept is not None:
        return kept
    return load_values(job.inputs[cell.position], adata, cell.seed, job.context.cache)


def score_cell(job: CellJob, dataset: Any, cell: Cell, done: Sequence[str] = (),
               record_dir: str | None = None) -> list[dict[str, Any]]:
    """Score one cell on its tasks not in ``done``; returns one record per task run, each also
    written atomically to ``record_dir/<task>.json`` when given."""
    adata = _dataset(job, dataset)
    names = [n for n in job.input_tasks[cell.position] if n not in done]
    if not names:
        return []
    item = job.inputs[cell.position]
    values = cell_values(job, adata, cell)
    known = item.sha256 if item.values is not None else None  # Dask re-reads files: rehash
    entry = input_entry(item.id, values, kind=item.kind, role=item.role, seed=cell.seed,
                        sha256=known)
    if item.model is not None:  # identity, embedding time, cache hit
        seconds, hit = item.model_runs.get(cell.seed, (0.0, True))
        entry["model"] = {**item.model_entry(), "cached": bool(hit),
                          **item.model_notes.get(cell.seed, {})}
        entry["timings_s"]["model"] = round(float(seconds), 4)
    if done and record_dir is not None:
        check_same_input(Path(record_dir), done[0], entry)
    saved = {k: entry[k] for k in ("kind", "role", "shape", "sha256", "model") if k in entry}
    if "model" in entry:
        saved["model_seconds"] = entry["timings_s"]["model"]

    def on_record(record: dict[str, Any]) -> None:
        record.update(dataset=job.dataset_key, seed=cell.seed, source=cell.source,
                      position=cell.position, entry=saved)
        if record_dir is not None:
            write_record(Path(record_dir), record)

    tasks = [t for t in job.tasks if t.name in names]
    return score_input(values, adata.obs, tasks, job.context.with_seed(cell.seed),
                       prepared=job.prepared[cell.seed], on_record=on_record)


# -- driver side -------------------------------------------------------------------------------
def job_of(plan: DatasetPlan, *, distributed: bool) -> CellJob:
    """The plan's picklable job; for Dask, inputs read from specs are re-read by workers."""
    inputs = [replace(i, values=None, sha256=None) if distributed and i.spec is not None else i
              for i in plan.inputs]
    return CellJob(plan.key, plan.loader, plan.tasks, inputs, plan.input_tasks, plan.context,
                   plan.token, plan.prepared)


def execute(plans: Sequence[DatasetPlan], *, run_dir: RunDirectory | None = None,
            scheduler: Any = None, n_workers: int | None = None,
            on_step: OnStep | None = None) -> dict[Cell, dict[str, dict[str, Any]]]:
    """Score every cell of every plan (skipping records finished in ``run_dir``); returns
    {cell: {task: record}}.

    ``scheduler``: None (serial, in this process), ``"local"`` (a ``dask.distributed``
    LocalCluster of ``n_workers`` single-threaded worker processes), a scheduler address, or a
    ``dask.distributed.Client``.
    """
    distributed = scheduler is not None
    jobs = [job_of(p, distributed=distributed) for p in plans]
    found: dict[Cell, dict[str, dict[str, Any]]] = {}
    todo: list[Cell] = []
    wanted = {}
    for plan in plans:
        for cell in plan.cells:
            wanted[cell] = set(plan.input_tasks[cell.position])
            found[cell] = run_dir.finished(cell) if run_dir is not None else {}
            if wanted[cell] - set(found[cell]):
                todo.append(cell)
    total = sum(len(w) for w in wanted.values())
    state = {"done": total - sum(len(wanted[c] - set(found[c])) for c in todo)}

    def record_dir(cell: Cell) -> str | None:
        return None if run_dir is None else str(run_dir.cell_dir(cell))

    def progress(label: str, advance: int) -> None:
        state["done"] += advance
        if on_step:
            on_step(label, state["done"], total)

    if not distributed:
        try:
            for cell in todo:
                label = f"seed {cell.seed} · {cell.source}"
                if on_step:
                    on_step(f"{label} · loading", state["done"] + 1, total)
                records = score_cell(jobs[cell.dataset], plans[cell.dataset].adata, cell,
                                     tuple(found[cell]), record_dir(cell))
                found[cell].update({r["task"]: r for r in records})
                progress(f"{label} · done", len(records))
        finally:  # free this run's baselines and shared PCA
            for plan in plans:
                plan.context.cache.clear()
        return found

    client, owned = _client(scheduler, n_workers)
    try:
        from dask.distributed import as_completed

        shared = [client.scatter(p.adata, broadcast=True) if p.loader is None else None
                  for p in plans]
        futures = {client.submit(score_cell, jobs[c.dataset], shared[c.dataset], c,
                                 tuple(found[c]), record_dir(c), pure=False): c for c in todo}
        for future in as_completed(futures):
            cell = futures[future]
            records = future.result()
            found[cell].update({r["task"]: r for r in records})
            progress(f"seed {cell.seed} · {cell.source} · done", len(records))
    finally:
        if owned:
            cluster = getattr(client, "cluster", None)
            client.close()
            if cluster is not None:
                cluster.close()
    return found


def _client(scheduler: Any, n_workers: int | None) -> tuple[Any, bool]:
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError as err:
        raise InputError("scheduler: Dask execution needs dask.distributed "
                         "(pip install 'czbench[dask]')") from err
    if isinstance(scheduler, Client):
        return scheduler, False
    if scheduler == "local":
        cluster = LocalCluster(n_workers=n_workers or 2, threads_per_worker=1,
                               processes=True, dashboard_address=None)
        return Client(cluster), True
    if isinstance(scheduler, str) and scheduler:
        try:
            return Client(scheduler, timeout="20s"), True
        except OSError as err:
            raise InputError(f"scheduler: cannot reach a Dask scheduler at {scheduler!r} "
                             f"({err})") from err
    raise InputError(f"scheduler: expected 'local', a scheduler address or a dask Client, "
                     f"got {scheduler!r}")


def assemble(plan: DatasetPlan, found: dict[Cell, dict[str, dict[str, Any]]]
             ) -> list[MetricResult]:
    """Fill the plan's document with its cells' records, in grid order."""
    out: list[MetricResult] = []
    for cell in plan.cells:
        records = [found[cell][name] for name in plan.input_tasks[cell.position]]
        saved = records[0]["entry"]
        entry = {"source": cell.source, "kind": saved["kind"], "role": saved["role"],
                 "seed": cell.seed, "shape": saved["shape"], "sha256": saved["sha256"],
                 "timings_s": {}, "resolved": {}, "warnings": []}
        if "model" in saved:
            entry["model"] = saved["model"]
            entry["timings_s"]["model"] = saved["model_seconds"]
        out += add_records(plan.document, entry, records)
    return out
