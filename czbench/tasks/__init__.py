"""Benchmark tasks: framework-free code over arrays; every front door calls these classes.

>>> from czbench.tasks import get_task
>>> from czbench.context import RunContext
>>> task = get_task("embedding")
>>> results = task.run(embedding, adata.obs, context=RunContext(seed=0))  # doctest: +SKIP

A task declares its input (``embedding`` or ``expression``), the obs columns it reads and the
metrics it reports (:class:`Task`). The registry lists the built-ins explicitly and imports
each on first use (:mod:`czbench.tasks.registry`).
"""

from __future__ import annotations

from typing import Any

from czbench.context import DEFAULT_SEED, RunContext
from czbench.tasks.base import INPUT_KINDS, MetricResult, MetricSpec, Task, TaskRun
from czbench.tasks.registry import (
    BUILTIN_TASKS,
    CORE_TASKS,
    get_task,
    list_tasks,
    register_task,
    restore_builtins,
    task_class,
    unregister_task,
)

#: task classes re-exported here by name, imported when first asked for
_CLASSES = {spec.split(":")[1]: name for name, spec in BUILTIN_TASKS.items()}


def __getattr__(attr: str) -> Any:
    if attr in _CLASSES:
        return task_class(_CLASSES[attr])
    raise AttributeError(f"module 'czbench.tasks' has no attribute {attr!r}")


__all__ = [
    "BUILTIN_TASKS", "CORE_TASKS", "DEFAULT_SEED", "INPUT_KINDS", "MetricResult", "MetricSpec",
    "RunContext", "Task", "TaskRun", "get_task", "list_tasks", "register_task",
    "restore_builtins", "task_class", "unregister_task", *_CLASSES,
]
