"""Estimators for the spatial tasks: ``niche_composition`` and ``spatial_domains``.

Both score an embedding ``X`` of cells whose 2-D coordinates are passed as ``spatial``
(cells x 2, µm) to ``fit`` and ``score``; in a Pipeline, route it with scikit-learn's metadata
routing (``.set_fit_request(spatial=True).set_score_request(spatial=True)``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from czbench.context import DEFAULT_SEED
from czbench.errors import InputError
from czbench.estimators.base import (
    _check_labels,
    _EmbeddingScoreBenchmark,
    make_task,
    run_context,
)
from czbench.neighbors.spatial import DEFAULT_TILES, check_coordinates
from czbench.tasks import MetricResult, TaskRun

__all__ = ["NicheCompositionBenchmark", "SpatialDomainsBenchmark"]


def _coordinates(spatial: Any, n_rows: int, owner: str) -> dict[str, np.ndarray]:
    if spatial is None:
        raise InputError(f"spatial: {owner} needs each cell's 2-D coordinates; pass "
                         f"fit(X, y, spatial=...) and score(X, y, spatial=...)")
    xy = check_coordinates(spatial, "spatial")
    if xy.shape[0] != n_rows:
        raise InputError(f"spatial: has {xy.shape[0]} rows but X has {n_rows} cells")
    return {"spatial_x": xy[:, 0], "spatial_y": xy[:, 1]}


class NicheCompositionBenchmark(_EmbeddingScoreBenchmark):
    """Task ``niche_composition`` as an estimator: ``y`` is each cell's type, ``spatial`` its
    coordinates. ``score`` returns ``mean_r2`` (out-of-fold R² of the neighbourhood
    compositions, spatially blocked folds); ``results_`` also holds ``mean_js_distance``.

    Attributes:
        results_: tidy DataFrame of the task's results on the fit data.
        score_: mean_r2 on the fit data.
        n_features_in_: embedding dimensions seen at fit.
    """

    _task_name = "niche_composition"
    primary_metric = "mean_r2"

    def __init__(self, *, n_neighbors: int = 15, radius: float | None = None,
                 n_folds: int = 5, n_tiles: int = DEFAULT_TILES, alpha: float = 1.0,
                 random_state: Any = DEFAULT_SEED) -> None:
        self.n_neighbors = n_neighbors
        self.radius = radius
        self.n_folds = n_folds
        self.n_tiles = n_tiles
        self.alpha = alpha
        self.random_state = random_state

    def _obs(self, n_rows: int, y: Any, spatial: Any = None) -> pd.DataFrame:
        owner = type(self).__name__
        return pd.DataFrame({"cell_type": _check_labels(y, n_rows, "y", owner),
                             **_coordinates(spatial, n_rows, owner)})

    def fit(self, X: Any, y: Any, spatial: Any = None) -> NicheCompositionBenchmark:
        """Score ``X`` against the compositions of ``y`` around each cell in ``spatial``."""
        return self._fit(X, y, spatial)

    def score(self, X: Any, y: Any, spatial: Any = None) -> float:
        """``mean_r2`` of the given embedding (higher is better)."""
        return self._score(X, y, spatial)


class SpatialDomainsBenchmark(_EmbeddingScoreBenchmark):
    """Task ``spatial_domains`` as an estimator: ``spatial`` is required, ``y`` (region
    labels) optional. ``score`` returns the k-means clusters' ARI against ``y`` when given,
    else minus their PAS (scikit-learn scores are higher-is-better; PAS is a loss).

    Attributes:
        results_: tidy DataFrame of the task's results on the fit data.
        score_: the score on the fit data.
        n_features_in_: embedding dimensions seen at fit.
    """

    _task_name = "spatial_domains"
    primary_metric = "adjusted_rand_index"

    def __init__(self, *, n_clusters: int | None = None, n_neighbors: int = 15,
                 resolution: float = 1.0, random_state: Any = DEFAULT_SEED) -> None:
        self.n_clusters = n_clusters
        self.n_neighbors = n_neighbors
        self.resolution = resolution
        self.random_state = random_state

    def _obs(self, n_rows: int, y: Any = None, spatial: Any = None) -> pd.DataFrame:
        owner = type(self).__name__
        columns = _coordinates(spatial, n_rows, owner)
        if y is not None:
            columns["region"] = _check_labels(y, n_rows, "y", owner)
        return pd.DataFrame(columns)

    def _evaluate(self, X: Any, *labels: Any) -> TaskRun:
        obs = self._obs(int(X.shape[0]), *labels)
        options = {**self._task_options(),
                   "region_key": "region" if "region" in obs.columns else None}
        return make_task(self._task_name, options).evaluate(
            X, obs, context=run_context(self.random_state))

    @classmethod
    def _primary(cls, results: list[MetricResult]) -> float:
        kmeans = {r.metric: r.value for r in results if r.params.get("method") == "kmeans"}
        return kmeans["adjusted_rand_index"] if "adjusted_rand_index" in kmeans \
            else -kmeans["pas"]

    def fit(self, X: Any, y: Any = None, spatial: Any = None) -> SpatialDomainsBenchmark:
        """Cluster ``X`` and score the clusters in ``spatial`` (and against ``y``)."""
        return self._fit(X, y, spatial)

    def score(self, X: Any, y: Any = None, spatial: Any = None) -> float:
        """ARI vs ``y`` (k-means), or minus the k-means PAS without ``y``."""
        return self._score(X, y, spatial)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = False
        return tags
