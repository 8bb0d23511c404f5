"""The benchmark grid: datasets x seeds x embeddings, each cell scored on every task.

One *cell* is (dataset, seed, embedding): its tasks share one kNN graph, so a cell is the unit
of work. Cells run serially or as Dask tasks (:func:`execute`), and every finished
(task, seed, embedding) result can be written at once to a run directory (:class:`RunDirectory`)
so an interrupted run resumes without recomputing it. The results document is assembled from
the cells in a fixed order, so serial, Dask and resumed runs give the same file (timings and
creation time aside).
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anndata as ad

from czbench.errors import InputError
from czbench.results import atomic_write_text
from czbench.scoring import embedding_entry, jsonable, make_tasks, role_of, score_embedding
from czbench.tasks import MetricResult, Task


@dataclass(frozen=True)
class Cell:
    """One cell of the grid: the ``position``-th embedding of dataset ``dataset`` at ``seed``."""

    dataset: int
    seed: int
    position: int
    source: str


@dataclass
class CellJob:
    """What a worker needs to score the cells of one dataset (picklable)."""

    dataset_key: str
    label_key: str | None
    batch_key: str | None
    tasks: Sequence[str] | None
    task_options: dict[str, dict[str, Any]] | None
    defaults: tuple[str, ...]
    columns: tuple[str, ...]
    knn_backend: str = "auto"
    backed: bool = False
    #: embedding spec per position (str specs, or arrays given through the Python API)
    specs: list[Any] = field(default_factory=list)
    #: unique per run: keys the per-process caches, so two runs never share task instances
    token: str = field(default_factory=lambda: uuid.uuid4().hex)


# -- worker side -------------------------------------------------------------------------------
_LOADED: dict[tuple, ad.AnnData] = {}
_CONTROLS: dict[tuple, dict[str, Any]] = {}
_TASKS: dict[tuple, list[Task]] = {}
_RESOLVED: dict[tuple, Any] = {}


def remember_embedding(token: str, position: int, seed: int, values: Any) -> None:
    """Keep an embedding the driver already computed (a baseline checked before the run) for
    the in-process cell of run ``token`` that needs it, so it is not computed twice."""
    _RESOLVED[(token, position, seed)] = values


def _dataset(job: CellJob, dataset: Any) -> ad.AnnData:
    from czbench.runner import prepare_dataset

    if isinstance(dataset, ad.AnnData):
        return dataset
    key = (job.token, str(dataset))
    if key not in _LOADED:
        _LOADED.clear()  # one dataset per worker at a time keeps memory flat
        _LOADED[key] = prepare_dataset(dataset, job.label_key, job.batch_key, job.backed)
    return _LOADED[key]


def _tasks(job: CellJob, adata: ad.AnnData, seed: int) -> list[Task]:
    key = (job.token, seed)
    if key not in _TASKS:
        if len(_TASKS) > 16:
            _TASKS.clear()
        instances = make_tasks(job.tasks, seed=seed, task_options=job.task_options,
                               available_columns=job.columns, defaults=job.defaults)
        for task in instances:
            task.prepare(adata)
        _TASKS[key] = instances
    return _TASKS[key]


def resolve_cell_embedding(job: CellJob, adata: ad.AnnData, cell: Cell) -> Any:
    """The embedding matrix of ``cell`` (baselines and controls computed with its seed)."""
    from czbench.controls import control_embeddings
    from czbench.runner import resolve_embedding

    kept = _RESOLVED.pop((job.token, cell.position, cell.seed), None)
    if kept is not None:
        return kept
    spec = job.specs[cell.position]
    if isinstance(spec, str) and spec.startswith("control:"):
        key = (job.token, cell.seed)
        if key not in _CONTROLS:
            _CONTROLS.clear()
            _CONTROLS[key] = control_embeddings(adata, seed=cell.seed)
        return _CONTROLS[key][spec]
    return resolve_embedding(spec, adata, seed=cell.seed)[1]


def score_cell(job: CellJob, dataset: Any, cell: Cell, done: Sequence[str] = (),
               record_dir: str | None = None) -> list[dict[str, Any]]:
    """Score one cell on every task not in ``done``; returns one record per task run, each also
    written atomically to ``record_dir/<task>.json`` when given."""
    adata = _dataset(job, dataset)
    tasks = [t for t in _tasks(job, adata, cell.seed) if t.name not in done]
    if not tasks:
        return []
    values = resolve_cell_embedding(job, adata, cell)
    entry = embedding_entry(cell.source, values, seed=cell.seed, role=role_of(cell.source))
    if done and record_dir is not None:
        _check_same_embedding(Path(record_dir), done[0], entry)
    records: list[dict[str, Any]] = []
    by_name = {t.name: t for t in tasks}

    def keep(name: str, results: list[MetricResult], timings: dict[str, float],
             neighbors: dict[str, Any] | None) -> None:
        resolved = getattr(by_name[name], "resolved_", None)
        record = {"task": name, "dataset": job.dataset_key, "seed": cell.seed,
                  "source": cell.source, "position": cell.position,
                  "entry": {k: entry[k] for k in ("role", "shape", "sha256")},
                  "timings_s": timings, "neighbors": neighbors,
                  "resolved": None if resolved is None else jsonable(resolved),
                  "results": [r.to_dict() for r in results]}
        records.append(record)
        if record_dir is not None:
            write_record(Path(record_dir), record)

    score_embedding(values, adata.obs, tasks, on_task_done=keep, knn_backend=job.knn_backend,
                    seed=cell.seed)
    return records


def _check_same_embedding(record_dir: Path, task: str, entry: dict[str, Any]) -> None:
    old = json.loads((record_dir / f"{task}.json").read_text())["entry"]
    if old["sha256"] != entry["sha256"]:
        raise InputError(f"resume: embedding {entry['source']} (seed {entry['seed']}) differs "
                         f"from the one scored before in {record_dir}; start a new run "
                         f"directory")


def write_record(record_dir: Path, record: dict[str, Any]) -> None:
    atomic_write_text(record_dir / f"{record['task']}.json", json.dumps(record) + "\n")


# -- run directory -----------------------------------------------------------------------------
class RunDirectory:
    """A folder holding a grid run: ``manifest.json`` (what the run is) and one JSON record per
    finished (dataset, seed, embedding, task) under ``cells/``, each written atomically."""

    def __init__(self, path: str | Path, manifest: dict[str, Any], *, resume: bool) -> None:
        self.path = Path(path)
        self.manifest = jsonable(manifest)
        file = self.path / "manifest.json"
        if file.exists():
            if not resume:
                raise InputError(f"run directory: {self.path} already holds a run; pass "
                                 f"--resume (resume=True) to continue it, or choose a new one")
            changed = _differences(json.loads(file.read_text()), self.manifest)
            if changed:
                raise InputError(f"resume: {self.path} holds a different run (differs in "
                                 f"{', '.join(changed)}); choose a new run directory")
        else:
            if self.path.exists() and any(self.path.iterdir()):
                raise InputError(f"run directory: {self.path} exists and is not a czbench run "
                                 f"directory; choose an empty or new folder")
            atomic_write_text(file, json.dumps(self.manifest, indent=2) + "\n")

    def cell_dir(self, cell: Cell) -> Path:
        slug = re.sub(r"[^A-Za-z0-9._-]+", "_", cell.source)[-60:]
        digest = hashlib.sha1(cell.source.encode()).hexdigest()[:8]
        return (self.path / "cells" / f"d{cell.dataset}" / f"seed{cell.seed}" /
                f"{cell.position:03d}-{slug}-{digest}")

    def finished(self, cell: Cell) -> dict[str, dict[str, Any]]:
        """{task: record} already written for ``cell``."""
        folder = self.cell_dir(cell)
        out = {}
        for file in sorted(folder.glob("*.json")) if folder.exists() else ():
            record = json.loads(file.read_text())
            out[record["task"]] = record
        return out


def _differences(old: Any, new: Any, where: str = "") -> list[str]:
    """Dotted paths where two manifests differ (at most 5)."""
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for key in sorted(set(old) | set(new), key=str):
            path = f"{where}.{key}" if where else str(key)
            out += _differences(old.get(key), new.get(key), path)
        return out[:5]
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [d for i, (a, b) in enumerate(zip(old, new, strict=True))
                for d in _differences(a, b, f"{where}[{i}]")][:5]
    return [] if old == new else [where]


# -- execution ---------------------------------------------------------------------------------
OnCell = Callable[[Cell, int], None]


def execute(jobs: Sequence[CellJob], datasets: Sequence[Any], cells: Sequence[Cell],
            task_names: Sequence[Sequence[str]], *, run_dir: RunDirectory | None = None,
            scheduler: Any = None, n_workers: int | None = None,
            on_step: Callable[[str, int, int], None] | None = None
            ) -> dict[Cell, dict[str, dict[str, Any]]]:
    """Score every cell (skipping tasks finished in ``run_dir``); returns {cell: {task: record}}.

    ``scheduler``: None (serial, in this process), ``"local"`` (a ``dask.distributed``
    LocalCluster of ``n_workers`` single-threaded worker processes), a scheduler address, or a
    ``dask.distributed.Client``. ``task_names[d]`` lists dataset d's tasks in order.
    """
    found: dict[Cell, dict[str, dict[str, Any]]] = {}
    todo: list[Cell] = []
    for cell in cells:
        found[cell] = run_dir.finished(cell) if run_dir is not None else {}
        if set(task_names[cell.dataset]) - set(found[cell]):
            todo.append(cell)
    total = sum(len(task_names[c.dataset]) for c in cells)
    state = {"done": total - sum(len(set(task_names[c.dataset]) - set(found[c])) for c in todo)}

    def record_dir(cell: Cell) -> str | None:
        return None if run_dir is None else str(run_dir.cell_dir(cell))

    def progress(label: str, advance: int) -> None:
        state["done"] += advance
        if on_step:
            on_step(label, state["done"], total)

    if scheduler is None:
        try:
            _run_serial(jobs, datasets, todo, found, record_dir, on_step, progress, state,
                        total)
        finally:  # free this run's cached tasks, controls and baselines
            tokens = {job.token for job in jobs}
            for cache in (_TASKS, _CONTROLS, _RESOLVED):
                for key in [k for k in cache if k[0] in tokens]:
                    del cache[key]
        return found

    client, owned = _client(scheduler, n_workers)
    try:
        from dask.distributed import as_completed

        shared = [client.scatter(d, broadcast=True) if isinstance(d, ad.AnnData) else d
                  for d in datasets]
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


def _run_serial(jobs: Sequence[CellJob], datasets: Sequence[Any], todo: Sequence[Cell],
                found: dict[Cell, dict[str, dict[str, Any]]],
                record_dir: Callable[[Cell], str | None],
                on_step: Callable[[str, int, int], None] | None,
                progress: Callable[[str, int], None], state: dict[str, int],
                total: int) -> None:
    for cell in todo:
        label = f"seed {cell.seed} · {cell.source}"
        if on_step:
            on_step(f"{label} · loading", state["done"] + 1, total)
        records = score_cell(jobs[cell.dataset], datasets[cell.dataset], cell,
                             tuple(found[cell]), record_dir(cell))
        found[cell].update({r["task"]: r for r in records})
        progress(f"{label} · done", len(records))


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


def assemble(document: dict[str, Any], cells: Sequence[Cell], found: dict[Cell, dict],
             task_names: Sequence[str]) -> list[MetricResult]:
    """Fill ``document``'s embeddings, results and per-seed ``resolved`` from the records of
    ``cells`` (one dataset's, in grid order); returns the results as MetricResult objects."""
    out: list[MetricResult] = []
    for cell in cells:
        records = [found[cell][name] for name in task_names]
        timings: dict[str, float] = {}
        neighbors = None
        for record in records:
            timings.update(record["timings_s"])
            neighbors = neighbors or record["neighbors"]
        entry = {"source": cell.source, "role": records[0]["entry"]["role"],
                 "seed": cell.seed, "shape": records[0]["entry"]["shape"],
                 "sha256": records[0]["entry"]["sha256"], "timings_s": timings}
        if neighbors is not None:
            entry["neighbors"] = neighbors
        document["embeddings"].append(entry)
        for record in records:
            document["results"] += [{"embedding": cell.source, "seed": cell.seed, **row}
                                    for row in record["results"]]
            out += [MetricResult(**row) for row in record["results"]]
            if record["resolved"] is not None:
                document["tasks"][record["task"]].setdefault("resolved", {})[
                    str(cell.seed)] = record["resolved"]
    return out
