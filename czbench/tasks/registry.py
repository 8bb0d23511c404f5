"""The task registry: name -> Task class.

The built-in tasks are listed here explicitly (and imported on first use, so ``import
czbench.tasks`` stays light); contributors add theirs with :func:`register_task`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from czbench.datasets.modalities import TRANSCRIPTOMICS
from czbench.errors import InputError
from czbench.utils.imports import load_entry

if TYPE_CHECKING:
    from czbench.tasks.base import Task

#: the built-in tasks: name -> "module:Class"
BUILTIN_TASKS = {
    "clustering": "czbench.tasks.clustering:ClusteringTask",
    "embedding": "czbench.tasks.embedding:EmbeddingTask",
    "label_prediction": "czbench.tasks.label_prediction:LabelPredictionTask",
    "batch_integration": "czbench.tasks.batch_integration:BatchIntegrationTask",
    "sequential_organization":
        "czbench.tasks.sequential_organization:SequentialOrganizationTask",
    "cross_species_integration":
        "czbench.tasks.cross_species.integration:CrossSpeciesIntegrationTask",
    "cross_species_label_prediction":
        "czbench.tasks.cross_species.label_prediction:CrossSpeciesLabelPredictionTask",
    "perturbation_expression_prediction":
        "czbench.tasks.perturbation.task:PerturbationExpressionPredictionTask",
    "replicate_retrieval": "czbench.tasks.replicate_retrieval:ReplicateRetrievalTask",
}
#: the tasks a run on a transcriptomics dataset scores by default (where its columns allow);
#: each modality lists its own (:mod:`czbench.datasets.modalities`)
CORE_TASKS = TRANSCRIPTOMICS.tasks

_REGISTRY: dict[str, type[Task] | str] = dict(BUILTIN_TASKS)


def register_task(cls: type[Task], *, replace: bool = False) -> type[Task]:
    """Add a Task subclass to the registry; returns it (usable as a class decorator)."""
    from czbench.tasks.base import INPUT_KINDS, Task
    if not (isinstance(cls, type) and issubclass(cls, Task)):
        raise InputError(f"task: expected a subclass of czbench.tasks.Task, got {cls!r}")
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name:
        raise InputError(f"task: {cls.__name__} must declare a class attribute 'name'")
    if getattr(cls, "input_kind", None) not in INPUT_KINDS:
        raise InputError(f"task: {cls.__name__}.input_kind must be one of "
                         f"{', '.join(INPUT_KINDS)}")
    current = _REGISTRY.get(name)
    if current is not None and not replace and current is not cls and \
            not (isinstance(current, str) and current == _spec(cls)):
        raise InputError(f"task: a different task named '{name}' is already registered; pass "
                         f"replace=True to replace it")
    _REGISTRY[name] = cls
    return cls


def unregister_task(name: str) -> None:
    """Remove a task from the registry (a built-in comes back with :func:`restore_builtins`)."""
    _REGISTRY.pop(name, None)


def restore_builtins() -> None:
    """Reset the registry to the built-in tasks (drops every contributed task)."""
    _REGISTRY.clear()
    _REGISTRY.update(BUILTIN_TASKS)


def list_tasks() -> list[str]:
    """Names of the registered tasks."""
    return list(_REGISTRY)


def task_class(name: str) -> type[Task]:
    """The Task class registered as ``name`` (a built-in is imported on first use)."""
    if name not in _REGISTRY:
        raise InputError(f"task: unknown task '{name}'; available: {', '.join(_REGISTRY)}")
    entry = _REGISTRY[name]
    if isinstance(entry, str):
        entry = _REGISTRY[name] = load_entry(entry)
    return entry


def get_task(name: str, **options: Any) -> Task:
    """An instance of the task ``name`` with ``options`` (see each task's ``__init__``)."""
    cls = task_class(name)
    if "seed" in options:
        raise InputError("seed: the seed belongs to the run, not to a task; pass "
                         "context=RunContext(seed=...) to Task.run (czbench.context)")
    unknown = sorted(set(options) - set(cls.option_names()))
    if unknown:
        raise InputError(f"task options: {name} has no option {', '.join(map(repr, unknown))}; "
                         f"its options are: {', '.join(cls.option_names())}")
    return cls(**options)


def _spec(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"
