"""czbench: reproducible, biologically meaningful benchmarks for single-cell embedding models.

>>> import czbench
>>> result = czbench.benchmark("pbmc_3chemistries_symphony", ["baseline:pca"])  # doctest: +SKIP
>>> result.write_json("results.json")                                          # doctest: +SKIP

Layers (docs/architecture.md), each importing only those below it: ``metrics`` (and
``neighbors``, ``graph``) -> ``tasks`` -> ``run`` -> front doors (``cli``, ``callbacks`` +
``datamodules``, ``estimators``, ``report``); ``datasets`` and ``baselines`` feed the run.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "benchmark": ("czbench.run", "benchmark"),
    "benchmark_grid": ("czbench.run", "benchmark_grid"),
    "BenchmarkResult": ("czbench.run", "BenchmarkResult"),
    "RunContext": ("czbench.context", "RunContext"),
    "get_task": ("czbench.tasks", "get_task"),
    "list_tasks": ("czbench.tasks", "list_tasks"),
    "MetricResult": ("czbench.tasks", "MetricResult"),
    "InputError": ("czbench.errors", "InputError"),
    "CZBenchError": ("czbench.errors", "CZBenchError"),
}
_SUBMODULES = ("baselines", "callbacks", "context", "datamodules", "datasets", "estimators",
               "graph", "metrics", "neighbors", "report", "run", "tasks")


def __getattr__(name: str) -> Any:
    """Import heavy pieces (torch, scanpy) only when first used: `czbench --version` stays fast."""
    import importlib

    if name in _LAZY:
        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    if name in _SUBMODULES:
        return importlib.import_module(f"czbench.{name}")
    raise AttributeError(f"module 'czbench' has no attribute {name!r}")


__all__ = ["__version__", *_LAZY, *_SUBMODULES]
