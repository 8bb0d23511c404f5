"""Spatial datasets: the rows' coordinates as obs columns every task can read.

A spatial dataset keeps its cells' 2-D coordinates in ``obsm[spatial_key]`` (scverse's
``spatial`` by default). Loading copies them to obs as ``spatial_x`` and ``spatial_y`` and adds
``spatial_tile`` (the cell's square of a 4 x 4 grid over the slice), so tasks compute
neighbourhoods and spatially blocked folds from the obs they are handed, as they read labels.
"""

from __future__ import annotations

import anndata as ad

from czbench.errors import InputError
from czbench.neighbors.spatial import DEFAULT_TILES, check_coordinates, spatial_tiles

#: what the baselines do to a spatial dataset's values (recorded in results files)
SPATIAL_TRANSFORM = "log1p of the values as given (not counts)"
#: the obs columns a spatial dataset gets when loaded
SPATIAL_COLUMNS = ("spatial_x", "spatial_y", "spatial_tile")


def add_spatial_columns(adata: ad.AnnData, spatial_key: str) -> None:
    """Check ``obsm[spatial_key]`` (n x 2, finite, not one point) and write the obs columns
    ``spatial_x``, ``spatial_y``, ``spatial_tile``; a different column already under one of
    those names is an error (nothing a user wrote is overwritten)."""
    if not isinstance(spatial_key, str) or spatial_key not in adata.obsm:
        keys = ", ".join(map(str, adata.obsm.keys())) or "(none)"
        raise InputError(f"spatial_key: obsm has no '{spatial_key}' coordinates; obsm keys "
                         f"are: {keys}")
    xy = check_coordinates(adata.obsm[spatial_key], f"spatial_key: obsm['{spatial_key}']")
    values = {"spatial_x": xy[:, 0], "spatial_y": xy[:, 1],
              "spatial_tile": spatial_tiles(xy, DEFAULT_TILES)}
    for column, new in values.items():
        if column in adata.obs.columns:
            old = adata.obs[column].to_numpy()
            if old.shape != new.shape or not (old == new).all():
                raise InputError(f"obs column '{column}' exists and differs from the one "
                                 f"czbench derives from obsm['{spatial_key}']; rename it")
        adata.obs[column] = new


__all__ = ["SPATIAL_COLUMNS", "SPATIAL_TRANSFORM", "add_spatial_columns"]
