"""Benchmark tasks: framework-free code over arrays; every front door calls these classes.

>>> from czbench.tasks import get_task
>>> task = get_task("embedding", seed=0)
>>> results = task.run(embedding, adata.obs)      # doctest: +SKIP

Each task module registers its class with ``@register_task`` when imported; the imports below
make the built-in tasks available.
"""

from __future__ import annotations

from czbench.tasks.base import DEFAULT_SEED, MetricResult, MetricSpec, Task
from czbench.tasks.registry import get_task, list_tasks, register_task, task_class

# built-in tasks (each module registers its class on import)
from czbench.tasks.clustering import ClusteringTask  # noqa: E402  isort: skip
from czbench.tasks.embedding import EmbeddingTask  # noqa: E402  isort: skip
from czbench.tasks.label_prediction import LabelPredictionTask  # noqa: E402  isort: skip
from czbench.tasks.batch_integration import BatchIntegrationTask  # noqa: E402  isort: skip
import czbench.tasks.sequential_organization  # noqa: E402, F401  isort: skip
import czbench.tasks.cross_species  # noqa: E402, F401  isort: skip
import czbench.tasks.perturbation  # noqa: E402, F401  isort: skip

__all__ = [
    "DEFAULT_SEED", "MetricResult", "MetricSpec", "Task", "BatchIntegrationTask",
    "ClusteringTask", "EmbeddingTask", "LabelPredictionTask", "get_task", "list_tasks",
    "register_task", "task_class",
]
