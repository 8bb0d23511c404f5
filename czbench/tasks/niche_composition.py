"""Task ``niche_composition``: does a cell's embedding say what surrounds it in the tissue?

Definition: docs/spec.md#task-niche_composition.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from czbench.context import RunContext
from czbench.errors import InputError
from czbench.metrics.spatial import (
    blocked_folds,
    mean_js_distance,
    mean_r2,
    neighborhood_composition,
)
from czbench.neighbors import KNNGraph
from czbench.neighbors.spatial import DEFAULT_TILES, spatial_neighbors, spatial_tiles
from czbench.tasks.base import MISSING_LABELS, MetricSpec, Task, TaskRun
from czbench.tasks.classification import check_count
from czbench.utils.arrays import as_numpy_2d
from czbench.utils.checks import check_choice, check_number

#: the obs columns the loader writes from a spatial dataset's coordinates
X_COLUMN, Y_COLUMN = "spatial_x", "spatial_y"


def coordinates_of(task: Task, obs: pd.DataFrame) -> np.ndarray:
    """The n x 2 coordinates a spatial task reads from obs (``x_key``, ``y_key``)."""
    return obs[[task.x_key, task.y_key]].to_numpy(np.float64)  # type: ignore[attr-defined]


class NicheCompositionTask(Task):
    """For every cell, the target is the ``label_key`` composition of its spatial
    neighbourhood (its ``n_neighbors`` nearest other cells, or with ``radius`` the other cells
    within that distance in the coordinates' unit, µm); a ridge regression (``alpha``) predicts
    it from the cell's embedding in ``n_folds`` spatially blocked folds (the slice cut into
    ``n_tiles`` x ``n_tiles`` tiles, tiles dealt to folds in a seeded order), so that a cell
    and its neighbours do not sit on both sides of a split. Reports ``mean_r2`` (mean over
    types of the out-of-fold R², higher is better) and ``mean_js_distance`` (mean Jensen-Shannon
    distance between predicted and true compositions, lower is better).

    With ``radius``, cells with no neighbour in it have no composition: they are left out
    (their number is recorded) and, if none is left, it is a one-line error.
    ``missing_labels="drop"`` scores the labelled cells only (neighbours among them)."""

    name = "niche_composition"
    description = "Ridge probe of each cell's spatial-neighbourhood cell-type composition"
    metrics = (
        MetricSpec("mean_r2", "Mean over cell types of the out-of-fold R² of the predicted "
                              "neighbourhood shares (spatially blocked folds)"),
        MetricSpec("mean_js_distance", "Mean Jensen-Shannon distance (base 2) between "
                                       "predicted and true neighbourhood compositions",
                   higher_is_better=False),
    )
    column_options = ("label_key", "x_key", "y_key")

    def __init__(self, *, label_key: str = "cell_type", x_key: str = X_COLUMN,
                 y_key: str = Y_COLUMN, n_neighbors: int = 15, radius: float | None = None,
                 n_folds: int = 5, n_tiles: int = DEFAULT_TILES, alpha: float = 1.0,
                 missing_labels: str = "error") -> None:
        super().__init__(label_key=label_key)
        self.x_key, self.y_key = x_key, y_key
        self.n_neighbors = check_count(n_neighbors, "n_neighbors", 1)
        self.radius = check_number(radius, "radius", 0.0, open_minimum=True) \
            if radius is not None else None
        self.n_folds = check_count(n_folds, "n_folds", 2)
        self.n_tiles = check_count(n_tiles, "n_tiles", 1)
        self.alpha = check_number(alpha, "alpha", 0.0)
        self.missing_labels = check_choice(missing_labels, "missing_labels", MISSING_LABELS)

    def targets(self, obs: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """(cells x types neighbourhood compositions, positions of the cells that have one)."""
        coords = coordinates_of(self, obs)
        codes = pd.factorize(obs[self.label_key], sort=True)[0]
        adjacency = spatial_neighbors(coords, n_neighbors=None if self.radius else
                                      self.n_neighbors, radius=self.radius)
        composition = neighborhood_composition(adjacency, codes)
        rows = np.flatnonzero(~np.isnan(composition).any(axis=1))
        if rows.size < 2 * self.n_folds:
            raise InputError(f"radius: {rows.size} of {len(codes)} cells have a neighbour "
                             f"within {self.radius}; expected at least {2 * self.n_folds} "
                             f"(use a larger radius, in the coordinates' unit)")
        return composition, rows

    def predict(self, embedding: Any, composition: np.ndarray, rows: np.ndarray,
                coords: np.ndarray, seed: int) -> np.ndarray:
        """Out-of-fold ridge predictions of ``composition`` for ``rows``."""
        from sklearn.linear_model import Ridge

        x = as_numpy_2d(embedding, dtype=np.float64)[rows]
        y = composition[rows]
        tiles = spatial_tiles(coords[rows], self.n_tiles)
        predicted = np.zeros_like(y)
        for train, test in blocked_folds(tiles, self.n_folds, seed):
            model = Ridge(alpha=self.alpha).fit(x[train], y[train])
            predicted[test] = model.predict(x[test])
        return predicted

    def _run(self, embedding: Any, obs: pd.DataFrame, knn: KNNGraph | None,
             context: RunContext) -> TaskRun:
        composition, rows = self.targets(obs)
        predicted = self.predict(embedding, composition, rows, coordinates_of(self, obs),
                                 context.seed)
        truth = composition[rows]
        results = [self._result("mean_r2", mean_r2(truth, predicted)),
                   self._result("mean_js_distance", mean_js_distance(truth, predicted))]
        return self._output(results, n_cells=int(rows.size),
                            n_without_neighbours=int(len(obs) - rows.size),
                            n_types=int(composition.shape[1]))
