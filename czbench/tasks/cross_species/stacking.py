"""Inputs of the cross-species tasks: stacking one embedding per species, pseudo-bulk
aggregation, and the species checks both tasks share."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from czbench.errors import InputError
from czbench.utils.arrays import as_numpy_2d


def stack_species(embeddings: Mapping[str, Any], obs: Mapping[str, pd.DataFrame], *,
                  species_key: str = "species") -> tuple[np.ndarray, pd.DataFrame]:
    """One embedding per species (>= 2, same dimension) -> one stacked embedding and obs.

    ``embeddings`` and ``obs`` are keyed by species name (same keys); ``obs[s]`` has one row
    per row of ``embeddings[s]``. The stacked obs gets the column ``species_key`` set to the
    key (an existing column of that name is replaced). The index is kept when unique across
    species, else reset to 0..n-1.
    """
    if not isinstance(embeddings, Mapping) or not isinstance(obs, Mapping):
        raise InputError("embeddings: expected dicts {species: embedding} and "
                         "{species: obs DataFrame}")
    names = list(embeddings)
    if len(names) < 2:
        raise InputError(f"embeddings: cross-species tasks need at least 2 species, got "
                         f"{len(names)} ({', '.join(map(str, names)) or 'none'})")
    if set(obs) != set(names):
        raise InputError(f"obs: species keys {sorted(map(str, obs))} differ from the "
                         f"embeddings' {sorted(map(str, names))}")
    arrays, frames, dims = [], [], set()
    for name in names:
        values = embeddings[name]
        wide = str(getattr(values, "dtype", "")) in ("float64", "torch.float64")
        x = as_numpy_2d(values, name=f"embeddings[{name!r}]",
                        dtype=np.float64 if wide else np.float32)
        frame = obs[name]
        if not isinstance(frame, pd.DataFrame):
            raise InputError(f"obs[{name!r}]: expected a DataFrame, got {type(frame).__name__}")
        if len(frame) != x.shape[0]:
            raise InputError(f"obs[{name!r}]: has {len(frame)} rows but embeddings[{name!r}] "
                             f"has {x.shape[0]} cells")
        dims.add(x.shape[1])
        arrays.append(x)
        frames.append(frame.assign(**{species_key: str(name)}))
    if len(dims) > 1:
        shapes = ", ".join(f"{n}: {a.shape[1]}" for n, a in zip(names, arrays, strict=True))
        raise InputError(f"embeddings: species embeddings must have the same dimension, got "
                         f"{shapes}")
    stacked = pd.concat(frames)
    if not stacked.index.is_unique:
        stacked = stacked.reset_index(drop=True)
    return np.vstack(arrays), stacked


def pseudobulk(embedding: np.ndarray, labels: Any, samples: Any,
               method: str = "mean") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Aggregate the embedding per (sample, label): ``mean`` or ``median`` of the cells.

    Returns (rows, labels, samples) sorted by (sample, label)."""
    if method not in ("mean", "median"):
        raise InputError(f"aggregation: expected None, 'mean' or 'median', got {method!r}")
    frame = pd.DataFrame(np.asarray(embedding))
    keys = [pd.Series(np.asarray(samples), name="_sample"),
            pd.Series(np.asarray(labels), name="_label")]
    grouped = frame.groupby(keys, sort=True, observed=True)
    agg = grouped.mean() if method == "mean" else grouped.median()
    return (agg.to_numpy(dtype=embedding.dtype),
            agg.index.get_level_values("_label").to_numpy(),
            agg.index.get_level_values("_sample").to_numpy())


def species_order(values: Any) -> list[Any]:
    return sorted(pd.unique(np.asarray(values)), key=str)


def check_species(obs: pd.DataFrame, species_key: str) -> list[Any]:
    names = species_order(obs[species_key].to_numpy())
    if len(names) < 2:
        raise InputError(f"{species_key}: cross-species tasks need at least 2 species, got "
                         f"{len(names)} ({', '.join(map(str, names)) or 'none'})")
    return names
