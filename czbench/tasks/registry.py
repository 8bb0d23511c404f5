"""The task registry: name -> Task class. Task modules register themselves on import."""

from __future__ import annotations

from typing import Any

from czbench.errors import InputError
from czbench.tasks.base import DEFAULT_SEED, Task

_REGISTRY: dict[str, type[Task]] = {}


def register_task(cls: type[Task]) -> type[Task]:
    """Add a Task subclass to the registry (usable as a class decorator by contributors)."""
    if not (isinstance(cls, type) and issubclass(cls, Task)):
        raise InputError(f"task: expected a subclass of czbench.tasks.Task, got {cls!r}")
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise InputError(f"task: a different task named '{cls.name}' is already registered")
    _REGISTRY[cls.name] = cls
    return cls


def list_tasks() -> list[str]:
    """Names of the registered tasks."""
    return list(_REGISTRY)


def task_class(name: str) -> type[Task]:
    if name not in _REGISTRY:
        raise InputError(f"task: unknown task '{name}'; available: {', '.join(_REGISTRY)}")
    return _REGISTRY[name]


def get_task(name: str, *, seed: int = DEFAULT_SEED, **options: Any) -> Task:
    """An instance of the task ``name`` with ``options`` (see each task's ``__init__``)."""
    cls = task_class(name)
    try:
        return cls(seed=seed, **options)
    except TypeError as err:
        raise InputError(f"task options: {name}: {err}") from err
