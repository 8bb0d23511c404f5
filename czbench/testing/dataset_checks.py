"""``check_dataset``: the contract of a registered dataset (:class:`~czbench.datasets.DatasetInfo`).

Checks, each reported by name: ``fields``, ``file``, ``loads``, ``shape``, ``columns``,
``default_tasks``, ``picklable`` and ``provenance_page``.
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path
from typing import Any

from czbench.datasets.info import STANDARD_COLUMNS, DatasetInfo
from czbench.datasets.modalities import get_modality, list_modalities
from czbench.datasets.registry import get_info, third_party_file
from czbench.tasks import list_tasks
from czbench.testing.report import Checks, ConformanceReport, Failed, Skipped
from czbench.utils.hashing import sha256_file

SHA256 = re.compile(r"[0-9a-f]{64}")


def _check_fields(info: DatasetInfo) -> None:
    problems = []
    for name in ("name", "description", "licence", "source", "citation", "file"):
        value = getattr(info, name)
        if not isinstance(value, str) or not value.strip():
            problems.append(f"{name} is empty")
    if not isinstance(info.sha256, str) or not SHA256.fullmatch(info.sha256):
        problems.append(f"sha256 {info.sha256!r} is not 64 lower-case hex digits")
    for name in ("n_cells", "n_genes"):
        value = getattr(info, name)
        # a sequence dataset keeps its data in obs (the sequences): X may have no columns
        least = 0 if name == "n_genes" and info.modality == "sequence" else 1
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            problems.append(f"{name} is {value!r}, not a positive int")
    unknown = [c for c in info.columns if c not in STANDARD_COLUMNS]
    if unknown:
        problems.append(f"columns keys {unknown} are not among {', '.join(STANDARD_COLUMNS)}")
    if info.modality not in list_modalities():
        problems.append(f"modality {info.modality!r} is not registered "
                        f"({', '.join(list_modalities())})")
    tasks = list_tasks()
    named = [*info.tasks, *info.task_options]
    unknown_tasks = [t for t in dict.fromkeys(named) if t not in tasks]
    if unknown_tasks:
        problems.append(f"tasks {unknown_tasks} are not registered tasks")
    if problems:
        raise Failed("; ".join(problems))


def _check_file(info: DatasetInfo) -> None:
    path = info.path()
    if not path.is_file():
        raise Failed(f"{path} does not exist")
    digest = sha256_file(str(path))
    if digest != info.sha256:
        if third_party_file(info):
            raise Skipped(f"the file belongs to another package and its sha256 {digest[:12]}... "
                          f"differs from the registry's (another version of that package)")
        raise Failed(f"sha256 of {path.name} is {digest}, the registry says {info.sha256}")


def _load(info: DatasetInfo) -> Any:
    """The dataset as ``load`` reads it: by name when this is the registered entry, else from
    its file with its column mapping and modality."""
    from czbench.datasets import list_datasets, load

    if info.name in list_datasets() and get_info(info.name) == info:
        adata = load(info.name)
    else:
        keys = {"label_key" if c == "cell_type" else f"{c}_key": s
                for c, s in info.columns.items()}
        adata = load(info.path(), modality=info.modality, **keys)
    return adata


def _check_shape(info: DatasetInfo, adata: Any) -> None:
    if adata.shape != (info.n_cells, info.n_genes):
        raise Failed(f"loaded shape {adata.shape}, the registry says "
                     f"({info.n_cells}, {info.n_genes})")


def _check_columns(info: DatasetInfo, adata: Any) -> None:
    missing = [f"{c} (from '{s}')" for c, s in info.columns.items() if c not in adata.obs]
    if missing:
        raise Failed(f"obs lacks the declared columns {', '.join(missing)}")


def _check_default_tasks(info: DatasetInfo, adata: Any) -> None:
    """As a run picks them (:func:`czbench.run.plan.default_task_names`): the modality's tasks
    and the dataset's own, with its task options; a modality's task whose columns the data
    lacks is not run, a task the dataset declares must find its columns."""
    from czbench.tasks import get_task

    problems = []
    checked = 0
    for name in dict.fromkeys((*get_modality(info.modality).tasks, *info.tasks)):
        try:
            task = get_task(name, **info.task_options.get(name, {}))
        except Exception as err:  # noqa: BLE001 - a bad option is this check's finding
            problems.append(f"{name}: {type(err).__name__}: {err}")
            continue
        absent = [c for c in task.required_columns if c not in adata.obs.columns]
        if absent:
            if name in info.tasks:  # declared by the dataset itself: its columns must be there
                problems.append(f"{name}: declared, but obs lacks {', '.join(absent)}")
            continue  # a modality's default task the data has no columns for: not run
        try:
            task.check_inputs(adata.obs, adata.n_obs)
            checked += 1
        except Exception as err:  # noqa: BLE001
            problems.append(f"{name}: {type(err).__name__}: {err}")
    if problems:
        raise Failed("; ".join(problems))
    if not checked:
        raise Failed("no default task can run on this dataset's columns")


def _check_pickle(info: DatasetInfo) -> None:
    if pickle.loads(pickle.dumps(info)) != info:
        raise Failed("the unpickled DatasetInfo differs from the original")


def _check_provenance(info: DatasetInfo) -> None:
    if third_party_file(info):
        raise Skipped("the file is shipped by another package; its provenance is in "
                      "docs/datasets.md")
    page = Path(info.path()).with_suffix(".md")
    if not page.is_file():
        raise Failed(f"{page.name} is missing beside {Path(info.path()).name}")


def check_dataset(dataset: str | DatasetInfo, *,
                  raise_on_failure: bool = True) -> ConformanceReport:
    """Check a registered dataset against czbench's contract (it is loaded, offline); raises
    :class:`ConformanceError` listing every failed check (or, with
    ``raise_on_failure=False``, returns the report)."""
    info = get_info(dataset) if isinstance(dataset, str) else dataset
    checks = Checks("dataset", str(getattr(info, "name", info)))
    checks.run("fields", lambda: _check_fields(info),
               "fill name, description, licence, source and citation; give the file's sha256, "
               "its shape, standard column names, a registered modality and registered tasks")
    checks.run("file", lambda: _check_file(info),
               "ship the file where DatasetInfo.file points and record its sha256")
    adata = checks.run("loads", lambda: _load(info),
                       "register the dataset (czbench.datasets.register): "
                       "czbench.datasets.load(name) must read it offline")
    checks.run("shape", lambda: _check_shape(info, adata),
               "set n_cells and n_genes to the file's shape", needs=("loads",))
    checks.run("columns", lambda: _check_columns(info, adata),
               "map each standard column to an obs column the file has", needs=("loads",))
    checks.run("default_tasks", lambda: _check_default_tasks(info, adata),
               "give the columns (and task_options) every default task reads, e.g. "
               "task_options={'replicate_retrieval': {'perturbation_key': ...}}",
               needs=("loads",))
    checks.run("picklable", lambda: _check_pickle(info),
               "keep DatasetInfo fields plain (str, int, tuples, dicts)")
    checks.run("provenance_page", lambda: _check_provenance(info),
               "write <file stem>.md beside the data file: source, licence, columns")
    return checks.finish(raise_on_failure)
