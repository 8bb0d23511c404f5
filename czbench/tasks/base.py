"""What every task shares: its result record, its declared inputs and its run contract."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

from czbench._arrays import as_numpy_2d, as_torch_2d
from czbench.errors import InputError
from czbench.neighbors import KNNGraph, knn_graph

DEFAULT_SEED = 42


@dataclass(frozen=True)
class MetricResult:
    """One number a task produced."""

    task: str
    metric: str
    value: float
    params: dict[str, Any] = field(default_factory=dict)
    higher_is_better: bool = True

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class MetricSpec:
    """A metric a task reports: its name, direction and one-line meaning."""

    name: str
    description: str
    higher_is_better: bool = True


class Task(ABC):
    """A benchmark task over an embedding (cells x dims) and the cells' obs columns.

    Subclasses declare ``name``, ``metrics``, the obs columns they read (as option names whose
    values are column names, e.g. ``label_key``), and ``knn_k`` when they use the shared
    kNN graph. Options are keyword arguments of ``__init__``; every random choice takes ``seed``.
    """

    name: ClassVar[str]
    description: ClassVar[str]
    metrics: ClassVar[tuple[MetricSpec, ...]]
    #: option names whose values are obs columns the task needs
    column_options: ClassVar[tuple[str, ...]] = ("label_key",)
    #: accepts a sparse embedding (e.g. the raw-expression baseline) without densifying
    accepts_sparse: ClassVar[bool] = False

    def __init__(self, *, seed: int = DEFAULT_SEED, label_key: str = "cell_type") -> None:
        self.seed = int(seed)
        self.label_key = label_key

    # -- declared inputs ---------------------------------------------------------------------
    @property
    def required_columns(self) -> list[str]:
        """The obs columns this task reads, as configured."""
        return [getattr(self, option) for option in self.column_options]

    @property
    def knn_k(self) -> int:
        """Neighbours this task needs from the shared kNN graph (0: none)."""
        return 0

    def prepare(self, adata: Any) -> None:  # noqa: B027 - an optional hook
        """Hook called by the runner with the dataset (AnnData) before ``run``; tasks that need
        more than obs columns (e.g. expression for a ground truth) override it."""

    def options(self) -> dict[str, Any]:
        """The task's settings, as recorded in results files."""
        return {key: value for key, value in vars(self).items() if not key.startswith("_")}

    def check_inputs(self, obs: pd.DataFrame, n_cells: int | None = None) -> None:
        """Raise a one-line InputError if ``obs`` lacks what the task needs."""
        if n_cells is not None and len(obs) != n_cells:
            raise InputError(f"obs: has {len(obs)} rows but the embedding has {n_cells} cells")
        for option in self.column_options:
            column = getattr(self, option)
            if column not in obs.columns:
                raise InputError(
                    f"{option}: task '{self.name}' needs obs column '{column}', which is missing;"
                    f" columns are: {', '.join(map(str, obs.columns)) or '(none)'}")
            missing = int(obs[column].isna().sum())
            if missing:
                raise InputError(f"{option}: obs column '{column}' has {missing} missing values")

    # -- running -----------------------------------------------------------------------------
    def run(self, embedding: Any, obs: pd.DataFrame, *,
            knn: KNNGraph | None = None) -> list[MetricResult]:
        """Score ``embedding`` against ``obs``. ``knn`` may carry a precomputed graph with at
        least ``knn_k`` neighbours (it is computed here otherwise)."""
        embedding = self._prepare(embedding)
        n = embedding.shape[0]
        self.check_inputs(obs, n)
        if self.knn_k and (knn is None or knn.k < min(self.knn_k, n)):
            knn = knn_graph(embedding, self.knn_k)
        return self._run(embedding, obs, knn)

    def _prepare(self, embedding: Any) -> Any:
        """Validate the embedding (2-D, finite) and bring it to the form the task reads."""
        if sp.issparse(embedding):
            if not np.isfinite(embedding.data).all():
                raise InputError("embedding: contains NaN or infinite values")
            if self.accepts_sparse:
                return sp.csr_matrix(embedding)
            embedding = embedding.toarray()
        if isinstance(embedding, torch.Tensor):
            return as_torch_2d(embedding, dtype=embedding.dtype)
        return as_numpy_2d(embedding, dtype=np.result_type(np.asarray(embedding).dtype,
                                                           np.float32))

    @abstractmethod
    def _run(self, embedding: Any, obs: pd.DataFrame,
             knn: KNNGraph | None) -> list[MetricResult]: ...

    def _result(self, metric: str, value: float, **params: Any) -> MetricResult:
        spec = next(m for m in self.metrics if m.name == metric)
        value = float(value)
        if math.isnan(value):
            raise RuntimeError(f"{self.name}/{metric} evaluated to NaN")
        return MetricResult(self.name, metric, value, dict(params), spec.higher_is_better)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.options().items())
        return f"{type(self).__name__}({args})"
