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

import importlib
from typing import Any

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


#: the task base (it needs torch), imported on first use, so that the registry -- task names --
#: is light enough for ``czbench run`` to check names before any heavy import
_BASE = {"INPUT_KINDS": "czbench.tasks.base", "MetricResult": "czbench.tasks.base",
         "MetricSpec": "czbench.tasks.base", "Task": "czbench.tasks.base",
         "TaskRun": "czbench.tasks.base", "DEFAULT_SEED": "czbench.context",
         "RunContext": "czbench.context"}


def __getattr__(attr: str) -> Any:
    if attr in _BASE:
        return getattr(importlib.import_module(_BASE[attr]), attr)
    if attr in _CLASSES:
        return task_class(_CLASSES[attr])
    raise AttributeError(f"module 'czbench.tasks' has no attribute {attr!r}")


__all__ = [
    "BUILTIN_TASKS", "CORE_TASKS", "DEFAULT_SEED", "INPUT_KINDS", "MetricResult", "MetricSpec",
    "RunContext", "Task", "TaskRun", "get_task", "list_tasks", "register_task",
    "restore_builtins", "task_class", "unregister_task", *_CLASSES,
]
