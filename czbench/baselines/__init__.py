"""Baselines: inputs computed from the dataset alone, that every model is compared with.

The generic ones live here (``pca``, ``raw``); a task brings its own in its ``baselines``
attribute (``ortholog_pca`` for the cross-species tasks; ``observed``, ``mean_effect``,
``no_change`` for perturbations). The run layer looks a name up in both
(:func:`czbench.run.inputs.find_baseline`). Controls (:mod:`.controls`) are fixed reference
embeddings for normalised scores.
"""

from __future__ import annotations

from typing import Any

from czbench.baselines.base import BASELINE_KINDS, Baseline
from czbench.baselines.expression import PCA, RAW, pca_baseline, raw_baseline
from czbench.baselines.spatial import SPATIAL_PCA
from czbench.context import DEFAULT_SEED
from czbench.errors import InputError
from czbench.registry import Registry

#: the generic baselines, by name
BUILTIN_BASELINES = {b.name: b for b in (PCA, RAW, SPATIAL_PCA)}
REGISTRY: Registry[Baseline] = Registry("baseline", BUILTIN_BASELINES,
                                        group="czbench.baselines", asset_type=Baseline)


def register_baseline(baseline: Baseline, *, replace: bool = False) -> Baseline:
    """Make ``baseline:<name>`` available to every run (contributors; or a
    ``czbench.baselines`` entry point)."""
    return REGISTRY.add(baseline, replace=replace)


def unregister_baseline(name: str) -> None:
    """Remove a baseline from the registry."""
    REGISTRY.unregister(name)


def list_baselines() -> list[str]:
    """Names of the generic registered baselines (tasks' own baselines are not listed here)."""
    return REGISTRY.names()


def get_baseline(name: str) -> Baseline:
    if name not in REGISTRY:
        raise InputError(f"embedding: unknown baseline '{name}'; expected one of "
                         f"{', '.join(REGISTRY)}")
    return REGISTRY.get(name)


def baseline(name: str, adata: Any, *, seed: int = DEFAULT_SEED) -> Any:
    """Compute the generic baseline ``name`` (``pca``, ``raw``) for ``adata``."""
    return get_baseline(name)(adata, seed)


__all__ = ["BASELINE_KINDS", "BUILTIN_BASELINES", "Baseline", "baseline", "get_baseline",
           "list_baselines", "pca_baseline", "raw_baseline", "register_baseline",
           "unregister_baseline"]
