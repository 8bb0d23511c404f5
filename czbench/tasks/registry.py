"""The task registry: name -> Task class.

The built-in tasks are listed here explicitly (and imported on first use, so ``import
czbench.tasks`` stays light); contributors add theirs with :func:`register_task` or, from
their own package, a ``czbench.tasks`` entry point (:mod:`czbench.registry`).
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

from czbench.datasets.modalities import TRANSCRIPTOMICS
from czbench.errors import InputError
from czbench.registry import Registry, check_name

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
    "sequence_classification": "czbench.tasks.sequence_classification:SequenceClassificationTask",
    "niche_composition": "czbench.tasks.niche_composition:NicheCompositionTask",
    "spatial_domains": "czbench.tasks.spatial_domains:SpatialDomainsTask",
}
#: the tasks a run on a transcriptomics dataset scores by default (where its columns allow);
#: each modality lists its own (:mod:`czbench.datasets.modalities`)
CORE_TASKS = TRANSCRIPTOMICS.tasks

def _adopt(name: str, cls: Any) -> type[Task]:
    """``cls`` if it is a Task subclass meeting the contract (a one-line error otherwise)."""
    from czbench.tasks.base import INPUT_KINDS, Task
    if not (isinstance(cls, type) and issubclass(cls, Task)):
        raise InputError(f"task: expected a subclass of czbench.tasks.Task, got {cls!r}")
    declared = getattr(cls, "name", None)
    if not isinstance(declared, str) or not declared:
        raise InputError(f"task: {cls.__name__} must declare a class attribute 'name'")
    check_name("task", name, declared)
    if getattr(cls, "input_kind", None) not in INPUT_KINDS:
        raise InputError(f"task: {cls.__name__}.input_kind must be one of "
                         f"{', '.join(INPUT_KINDS)}")
    required = [p.name for p in inspect.signature(cls.__init__).parameters.values()
                if p.name != "self" and p.default is p.empty
                and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    if required:
        raise InputError(f"task: {cls.__name__}() needs {', '.join(required)}; every option "
                         f"of a task needs a default (get_task('{declared}') builds it)")
    return cls


REGISTRY: Registry[type[Task]] = Registry("task", BUILTIN_TASKS, group="czbench.tasks",
                                          adopt=_adopt)


def register_task(cls: type[Task], *, replace: bool = False) -> type[Task]:
    """Add a Task subclass to the registry; returns it (usable as a class decorator)."""
    _adopt(getattr(cls, "name", None) or "?", cls)
    current = REGISTRY.peek(cls.name)
    if current is not None and current is not cls and not replace and \
            not (isinstance(current, str) and current == _spec(cls)):
        raise InputError(f"task: a different task named '{cls.name}' is already registered; "
                         f"pass replace=True to replace it")
    if isinstance(current, str) and current == _spec(cls):  # a built-in, imported
        REGISTRY.get(cls.name)
        return cls
    return REGISTRY.register(cls.name, cls, replace=True)


def unregister_task(name: str) -> None:
    """Remove a task from the registry (a built-in comes back with :func:`restore_builtins`)."""
    REGISTRY.unregister(name)


def restore_builtins() -> None:
    """Reset the registry to the built-in tasks (drops every contributed task; installed
    plugins are found again on the next lookup)."""
    REGISTRY.restore_builtins()


def list_tasks() -> list[str]:
    """Names of the registered tasks (built-ins, then plugins and registered ones)."""
    return REGISTRY.names()


def task_class(name: str) -> type[Task]:
    """The Task class registered as ``name`` (a built-in is imported on first use)."""
    return REGISTRY.get(name)


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
