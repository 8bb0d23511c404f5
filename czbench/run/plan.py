"""Planning a run: load each dataset, build its tasks and inputs, and check everything -- the
columns each task reads, every input's shape, the settings that go in the results document --
before any work. A plan lays the dataset's grid out as cells (seed x input).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anndata as ad

from czbench.baselines.controls import CONTROLS
from czbench.context import RunContext
from czbench.datasets import from_anndata, get_info, list_datasets, load
from czbench.datasets.counts import counts_matrix
from czbench.datasets.modalities import DEFAULT_MODALITY, modality_of
from czbench.errors import CZBenchError, InputError
from czbench.run.document import dataset_entry, new_document, validate
from czbench.run.inputs import Input, collect_inputs, load_values
from czbench.run.origins import model_origins
from czbench.run.rundir import Cell
from czbench.tasks import CORE_TASKS, Task, get_task, list_tasks
from czbench.utils.hashing import sha256_values
from czbench.utils.params import jsonable


@dataclass(frozen=True)
class DatasetLoader:
    """How a worker process opens a dataset by itself (picklable)."""

    source: str
    label_key: str | None = None
    batch_key: str | None = None
    backed: bool = False
    modality: str | None = None
    spatial_key: str | None = None

    def load(self) -> ad.AnnData:
        return prepare_dataset(self.source, self.label_key, self.batch_key, self.backed,
                               self.modality, self.spatial_key)


def prepare_dataset(dataset: str | Path | ad.AnnData, label_key: str | None,
                    batch_key: str | None, backed: bool = False,
                    modality: str | None = None, spatial_key: str | None = None
                    ) -> ad.AnnData:
    """A registered name, an .h5ad path or an AnnData, with czbench's standard obs columns
    and its modality (on spatial data, the coordinates' obs columns)."""
    if isinstance(dataset, ad.AnnData):
        meta = dataset.uns.get("czbench", {})
        if meta and label_key is None and batch_key is None and spatial_key is None and \
                modality in (None, meta.get("modality", DEFAULT_MODALITY)):
            return dataset
        return from_anndata(dataset, label_key=label_key, batch_key=batch_key,
                            modality=modality, spatial_key=spatial_key)
    if not isinstance(dataset, str | Path):
        raise InputError(f"dataset: expected a registered name, an .h5ad path or an AnnData, "
                         f"got {type(dataset).__name__}")
    return load(dataset, label_key=label_key, batch_key=batch_key, backed=backed,
                modality=modality, spatial_key=spatial_key)


def default_task_names(adata: ad.AnnData) -> tuple[str, ...]:
    """The default tasks of the dataset's modality plus those the dataset is registered for."""
    name = adata.uns.get("czbench", {}).get("name")
    extra = get_info(name).tasks if name in list_datasets() else ()
    return tuple(dict.fromkeys((*modality_of(adata).tasks, *extra)))


def registered_options(adata: ad.AnnData, tasks: Sequence[str | Task] | None,
                       user: Mapping[str, Mapping[str, Any]] | None
                       ) -> dict[str, dict[str, Any]]:
    """The task options a run uses: a registered dataset's own (how its columns are read,
    e.g. the control of a screen) for the tasks run by name, under the user's ``user``."""
    out = {task: dict(options) for task, options in (user or {}).items()}
    name = adata.uns.get("czbench", {}).get("name")
    named = default_task_names(adata) if tasks is None else \
        [t for t in ([tasks] if isinstance(tasks, str) else tasks) if isinstance(t, str)]
    own = dict(modality_of(adata).task_options)  # e.g. spatially blocked label prediction
    if adata.uns.get("czbench", {}).get("registered") and name in list_datasets():
        own = {t: {**own.get(t, {}), **o} for t, o in {**own,
                                                       **get_info(name).task_options}.items()}
    for task, options in own.items():
        if task in named:
            out[task] = {**options, **out.get(task, {})}
    return out


def make_tasks(tasks: Sequence[str | Task] | None, *,
               task_options: Mapping[str, Mapping[str, Any]] | None = None,
               available_columns: Sequence[str] | None = None,
               defaults: Sequence[str] = CORE_TASKS) -> list[Task]:
    """Task instances for ``tasks`` (names or instances); ``None`` means the ``defaults`` whose
    obs columns are all in ``available_columns``. A task named twice is an error."""
    task_options = dict(task_options or {})
    unknown = set(task_options) - set(list_tasks())
    if unknown:
        raise InputError(f"task options: unknown task(s) {', '.join(sorted(unknown))}; tasks "
                         f"are: {', '.join(list_tasks())}")
    if tasks is None:
        columns = set(available_columns or ())
        candidates = [get_task(n, **task_options.get(n, {})) for n in defaults]
        instances = [t for t in candidates if set(t.required_columns) <= columns]
    else:
        if isinstance(tasks, str):
            tasks = [tasks]
        instances = [t.clone() if isinstance(t, Task) else
                     get_task(t, **task_options.get(t, {})) for t in tasks]
        names = [t.name for t in instances]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise InputError(f"task: {', '.join(twice)} given twice; each task runs once per "
                             f"input and seed (use --seeds for repeats)")
    if not instances:
        raise InputError("task: no task to run (the dataset has none of the obs columns the "
                         "default tasks need; name tasks and their columns explicitly)")
    unused = sorted(set(task_options) - {t.name for t in instances})
    if unused and tasks is not None:  # default tasks vary by dataset in a grid: no error there
        raise InputError(f"task options: options for {', '.join(unused)}, which is not among "
                         f"the tasks run ({', '.join(t.name for t in instances)})")
    return instances


def default_inputs(adata: ad.AnnData, tasks: Sequence[Task]) -> list[Input]:
    """What a run scores when the user names nothing: for embedding tasks the modality's
    baselines (PCA when the dataset has counts; on morphology the features as given and their
    PCA) and the dataset's shipped embeddings; for expression tasks the baselines those tasks
    bring."""
    kinds = {t.input_kind for t in tasks}
    specs: list[str] = []
    if "embedding" in kinds:
        modality = modality_of(adata)
        for baseline in modality.baselines:
            if modality.counts and baseline == "pca":
                try:
                    counts_matrix(adata)
                except CZBenchError:
                    continue
            specs.append(f"baseline:{baseline}")
        name = adata.uns.get("czbench", {}).get("name")
        if name in list_datasets():
            specs += [f"obsm:{key}" for key in get_info(name).embeddings if key in adata.obsm]
    if "expression" in kinds:
        specs += [f"baseline:{b.name}" for t in tasks if t.input_kind == "expression"
                  for b in t.baselines if b.kind == "expression"]
    specs = list(dict.fromkeys(specs))
    if not specs:
        raise InputError("embedding: the dataset has no counts for baseline:pca and no shipped "
                         "embedding; pass one (obsm:KEY, FILE.npy, baseline:raw)")
    return collect_inputs(specs)


@dataclass
class DatasetPlan:
    """One dataset's share of a run: its tasks, inputs, cells and results document."""

    index: int
    key: str
    adata: ad.AnnData
    loader: DatasetLoader | None
    tasks: list[Task]
    inputs: list[Input]
    #: per input (same order), the names of the tasks that score it
    input_tasks: list[list[str]]
    seeds: list[int]
    context: RunContext
    document: dict[str, Any]
    manifest: dict[str, Any]
    token: str = field(default_factory=lambda: uuid.uuid4().hex)
    #: each task's prepared state for this dataset, per seed: {seed: {task name: state}}
    prepared: dict[int, dict[str, Any]] = field(default_factory=dict, repr=False)

    @property
    def cells(self) -> list[Cell]:
        return [Cell(self.index, seed, position, item.id) for seed in self.seeds
                for position, item in enumerate(self.inputs)]


def plan_dataset(index: int, dataset: Any, embeddings: Any, predictions: Any,
                 tasks: Sequence[str | Task] | None, *, seeds: list[int], context: RunContext,
                 controls: bool, label_key: str | None, batch_key: str | None,
                 task_options: Mapping[str, Mapping[str, Any]] | None,
                 backed: bool = False, modality: str | None = None,
                 use_cache: bool = True, spatial_key: str | None = None) -> DatasetPlan:
    """Load and check one dataset, its tasks and its inputs; prepare each task once per seed;
    lay out its cells. The plan's context has the dataset's own cache (the PCA its seeds'
    baselines, controls and tasks share)."""
    context = context.with_new_cache()
    adata = prepare_dataset(dataset, label_key, batch_key, backed=backed, modality=modality,
                            spatial_key=spatial_key)
    task_options = registered_options(adata, tasks, task_options)
    instances = make_tasks(tasks, task_options=task_options,
                           available_columns=tuple(adata.obs.columns),
                           defaults=default_task_names(adata))
    for task in instances:
        task.check_inputs(adata.obs, adata.n_obs)
    given = embeddings is not None or predictions is not None
    inputs = collect_inputs(embeddings, predictions) if given else \
        default_inputs(adata, instances)
    for item in inputs:
        item.use_cache = use_cache
    if tasks is None and given:  # default tasks: those the inputs given feed
        fed = [t for t in instances if any(i.kind == t.input_kind for i in inputs)]
        instances = fed or instances
    if controls:
        if not any(t.input_kind == "embedding" for t in instances):
            raise InputError("controls: control embeddings need a task that scores embeddings")
        names = [c for c in CONTROLS if c != "shuffled_within_batch" or "batch" in adata.obs]
        names += list(modality_of(adata).controls)
        inputs += [Input(f"control:{c}", "embedding", "control", f"control:{c}")
                   for c in names]
    if not inputs:
        raise InputError("embedding: no embedding or prediction to benchmark")
    input_tasks = assign_tasks(inputs, instances)
    for item in inputs:  # a task's own baseline reads the data as that task does
        if item.role == "baseline":
            name = item.spec[9:]
            owner = next((t for t in instances if any(b.name == name for b in t.baselines)),
                         None)
            if owner is not None:
                item.options = {k: getattr(owner, k) for k in owner.option_names()}
    document = new_document(seeds=seeds, tasks=instances, controls=controls,
                            context=context.describe(), dataset=dataset_entry(adata))
    document["origins"]["models"] = model_origins(i.model for i in inputs if i.model is not None)
    validate(document, partial=True)
    on_disk = isinstance(dataset, str | Path)
    plan = DatasetPlan(
        index=index, key=str(dataset) if on_disk else f"anndata#{index}", adata=adata,
        loader=DatasetLoader(str(dataset), label_key, batch_key, backed, modality, spatial_key)
        if on_disk else None,
        tasks=instances, inputs=inputs, input_tasks=input_tasks, seeds=seeds, context=context,
        document=document, manifest={})
    hashes = _check_inputs(plan)  # read files and compute baselines before the tasks' own work
    plan.prepared = {seed: {task.name: task.prepare(adata, context.with_seed(seed))
                            for task in instances} for seed in seeds}
    plan.manifest = {
        "dataset": plan.key, "sha256": document["dataset"]["sha256"],
        "n_cells": int(adata.n_obs), "label_key": label_key, "batch_key": batch_key,
        "inputs": [[item.id, item.kind, h] for item, h in zip(inputs, hashes, strict=True)],
        "tasks": {t.name: jsonable(t.options()) for t in instances}}
    return plan


def assign_tasks(inputs: Sequence[Input], tasks: Sequence[Task]) -> list[list[str]]:
    """Per input, the tasks of its kind; an input no task takes, or a task no input feeds, is a
    one-line error."""
    out = []
    for item in inputs:
        names = [t.name for t in tasks if t.input_kind == item.kind]
        if not names:
            takes = ", ".join(f"{t.name} takes {t.input_kind}s" for t in tasks)
            raise InputError(f"embedding: {item.id} is an {item.kind}, and no task selected "
                             f"scores one ({takes})")
        out.append(names)
    for task in tasks:
        if not any(item.kind == task.input_kind for item in inputs):
            hint = " (e.g. baseline:observed, or --prediction FILE.h5ad)" \
                if task.input_kind == "expression" else " (e.g. baseline:pca or obsm:KEY)"
            raise InputError(f"task: {task.name} scores {task.input_kind}s, and none was "
                             f"given{hint}")
    return out


def _check_inputs(plan: DatasetPlan) -> list[str | None]:
    """Read or compute every input once (baselines at the first seed, kept in the plan's
    context cache where shared) and check its shape; returns each fixed input's sha256 (None
    for seeded ones)."""
    hashes: list[str | None] = []
    for position, item in enumerate(plan.inputs):
        if item.role == "control":
            hashes.append(None)
            continue
        values = load_values(item, plan.adata, plan.seeds[0], plan.context.cache)  # checked
        if item.seeded:  # handed to the cell that scores it
            plan.context.cache.put(plan.adata, ("input", position, plan.seeds[0]), values)
            hashes.append(None)
        else:
            item.values, item.sha256 = values, sha256_values(values)
            hashes.append(item.sha256)
    return hashes
