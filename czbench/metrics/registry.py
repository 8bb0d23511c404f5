"""The metric registry: metrics over an embedding and the cells' obs columns, by name.

A :class:`MetricInfo` says which inputs a metric reads, in its positional order -- ``embedding``
(cells x dims), ``labels`` / ``batch`` (one category per cell), ``time`` (one number per cell),
``knn`` (the embedding's kNN graph with ``k`` neighbours) -- and how to read its value.
:func:`compute` checks the inputs against that declaration, builds the kNN graph when one is
read and calls the function, so a task (built-in or a plugin's) can reuse any registered metric
by name. The building blocks that score something other than an embedding (``pcr_comparison``,
``adjusted_rand_index`` of clusters, the classifier scores, replicate-retrieval tables) are
reached through their tasks. Plugins add metrics with the ``czbench.metrics`` entry point.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from czbench.context import DEFAULT_SEED
from czbench.errors import InputError, MetricError
from czbench.registry import Registry

#: what a metric may read, in the order it declares
METRIC_INPUTS = ("embedding", "labels", "batch", "time", "knn")


@dataclass(frozen=True)
class MetricInfo:
    """A registered metric.

    Attributes:
        name: registry name, as it appears in results files.
        function: ``function(*inputs, **params) -> float``, a module-level callable (so it
            pickles for Dask), or ``"module:attr"``.
        inputs: what it reads, in positional order (see :data:`METRIC_INPUTS`).
        description: one line for ``czbench list metrics``.
        higher_is_better: direction of the value.
        rewards_structure: an embedding that reflects ``labels`` (or ``time``) scores better
            than the same rows shuffled (bio-conservation metrics); False for batch-mixing
            metrics, where a mixed embedding scores better than one separated by batch.
        seeded: the function takes ``seed=`` (every random choice must use it).
        k: neighbours in the ``knn`` graph (when ``knn`` is an input).
    """

    name: str
    function: Callable[..., float] | str
    inputs: tuple[str, ...]
    description: str
    higher_is_better: bool = True
    rewards_structure: bool = True
    seeded: bool = False
    k: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name or ":" in self.name:
            raise InputError(f"metric: name must be a non-empty string without ':', got "
                             f"{self.name!r}")
        unknown = [i for i in self.inputs if i not in METRIC_INPUTS]
        if not self.inputs or unknown or len(set(self.inputs)) != len(self.inputs):
            raise InputError(f"metric {self.name}: inputs must be distinct names among "
                             f"{', '.join(METRIC_INPUTS)}, got {self.inputs!r}")
        if "knn" in self.inputs and not (isinstance(self.k, int) and self.k >= 2):
            raise InputError(f"metric {self.name}: reads 'knn', so k must be an int >= 2, "
                             f"got {self.k!r}")

    @property
    def reads_embedding(self) -> bool:
        return "embedding" in self.inputs or "knn" in self.inputs


def _builtin(name: str, module: str, inputs: tuple[str, ...], description: str,
             **kw: Any) -> MetricInfo:
    return MetricInfo(name, f"czbench.metrics.{module}:{name}", inputs, description, **kw)


BUILTIN_METRICS = {m.name: m for m in (
    _builtin("silhouette_score", "silhouette", ("embedding", "labels"),
             "Silhouette of the label groups, (asw + 1) / 2"),
    _builtin("batch_silhouette", "silhouette", ("embedding", "labels", "batch"),
             "Mean over labels of 1 - |batch silhouette|", rewards_structure=False),
    _builtin("bras", "bras", ("embedding", "labels", "batch"),
             "Batch-removal-adapted silhouette", rewards_structure=False),
    _builtin("isolated_labels", "isolated_labels", ("embedding", "labels", "batch"),
             "Silhouette of the labels present in the fewest batches"),
    _builtin("entropy_per_cell", "entropy", ("embedding", "batch"),
             "Mean normalised batch entropy in the 200-NN", rewards_structure=False,
             seeded=True),
    _builtin("graph_connectivity", "graph_connectivity", ("knn", "labels"),
             "Mean over labels of the largest connected share in the 15-NN graph", k=15),
    _builtin("kbet_per_label", "kbet", ("knn", "batch", "labels"),
             "Mean over labels of the kBET acceptance rate (50-NN)", rewards_structure=False,
             seeded=True, k=50),
    _builtin("ilisi_knn", "lisi", ("knn", "batch"),
             "Median batch LISI in the 90-NN, scaled to [0, 1]", rewards_structure=False, k=90),
    _builtin("clisi_knn", "lisi", ("knn", "labels"),
             "Median label LISI in the 90-NN, scaled to [0, 1]", k=90),
    _builtin("sequential_alignment", "sequential", ("embedding", "time"),
             "kNN time-alignment score, rescaled against random neighbours", seeded=True),
)}


REGISTRY: Registry[MetricInfo] = Registry("metric", BUILTIN_METRICS, group="czbench.metrics",
                                          asset_type=MetricInfo)


def register_metric(metric: MetricInfo, *, replace: bool = False) -> MetricInfo:
    """Add a metric to the registry (plugins: the ``czbench.metrics`` entry point)."""
    return REGISTRY.add(metric, replace=replace)


def unregister_metric(name: str) -> None:
    REGISTRY.unregister(name)


def list_metrics() -> list[str]:
    """Names of the registered metrics."""
    return REGISTRY.names()


def get_metric(name: str) -> MetricInfo:
    return REGISTRY.get(name)


def metric_function(metric: MetricInfo) -> Callable[..., float]:
    """The metric's callable (a ``"module:attr"`` string is imported now)."""
    from czbench.utils.imports import load_entry

    fn = metric.function
    return load_entry(fn) if isinstance(fn, str) else fn


def compute(metric: str | MetricInfo, embedding: Any = None, *, labels: Any = None,
            batch: Any = None, time: Any = None, knn: Any = None, knn_k: int | None = None,
            seed: int = DEFAULT_SEED, context: Any = None, **params: Any) -> float:
    """The value of ``metric`` on these inputs; each declared input must be given, with one
    entry per cell (a one-line InputError names the one that is not). ``params`` go to the
    function. A metric reading ``knn`` sees ``knn_k`` neighbours (default: its ``k``): a
    given graph with more is cut to its first ``knn_k``, a smaller one (or none) is built from
    the embedding with the run's kNN backend and device. ``context``: a
    :class:`~czbench.context.RunContext` whose seed, kNN backend and device are used (over
    ``seed``)."""
    from czbench.context import as_context
    from czbench.neighbors import knn_graph
    from czbench.utils.arrays import check_embedding

    context = as_context(context) if context is not None else None
    if context is not None:
        seed = context.seed
    backend = context.knn_backend if context is not None else "auto"
    device = context.device if context is not None else None
    info = metric if isinstance(metric, MetricInfo) else get_metric(metric)
    given = {"embedding": embedding, "labels": labels, "batch": batch, "time": time}
    if info.reads_embedding:
        if embedding is None:
            raise InputError(f"metric {info.name}: needs the embedding")
        check_embedding(embedding, f"embedding (metric {info.name})")
        n = int(embedding.shape[0])
    else:
        n = None
    for role in info.inputs:
        if role in ("embedding", "knn"):
            continue
        value = given[role]
        if value is None:
            raise InputError(f"metric {info.name}: needs {role} (one value per cell)")
        length = len(value)
        if n is not None and length != n:
            raise InputError(f"{role}: has {length} entries but the embedding has {n} cells "
                             f"(metric {info.name})")
    if "knn" in info.inputs:
        assert info.k is not None
        wanted = info.k if knn_k is None else knn_k
        if isinstance(wanted, bool) or not isinstance(wanted, int) or wanted < 2:
            raise InputError(f"knn_k: expected an int >= 2, got {knn_k!r} (metric {info.name})")
        k = min(wanted, n)
        if knn is None or knn.k < k or knn.n_cells != n:
            knn = knn_graph(embedding, k, seed=seed, backend=backend, device=device)
        given["knn"] = knn.head(k) if knn.k > k else knn  # the metric's own neighbourhood
    args = [given[role] for role in info.inputs]
    kwargs = {**params, **({"seed": seed} if info.seeded else {})}
    value = metric_function(info)(*args, **kwargs)
    if isinstance(value, bool) or not isinstance(value, int | float | np.floating | np.integer):
        raise MetricError(f"metric {info.name}: returned {type(value).__name__}, expected a "
                          f"number")
    return float(value)
