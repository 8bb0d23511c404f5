"""Prediction baselines of the perturbation task: expression matrices computed from the dataset.

* ``observed``: the dataset's own normalized counts -- the upper bound a perfect predictor
  reaches.
* ``no_change``: every cell predicted as the mean normalized control profile; its predicted
  effects are all 0, so it scores 0.
* ``mean_effect``: cells of condition c predicted as the control mean times the geometric-mean
  fold effect of the OTHER perturbed conditions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from czbench.baselines.base import Baseline
from czbench.datasets.counts import counts_matrix, normalize_counts
from czbench.errors import InputError
from czbench.tasks.perturbation.truth import predicted_effect, resolve_control, resolve_exclude


def _normalized(adata: Any, layer: str | None) -> np.ndarray:
    norm = normalize_counts(counts_matrix(adata, layer, what="perturbation baseline"))
    return norm.toarray() if sp.issparse(norm) else np.asarray(norm, np.float64)


def _inputs(adata: Any, condition_key: str, control: str | None, layer: str | None
            ) -> tuple[np.ndarray, np.ndarray, str]:
    control = resolve_control(adata, control)
    if condition_key not in adata.obs.columns:
        raise InputError(f"condition_key: obs column '{condition_key}' is missing")
    labels = adata.obs[condition_key].astype(str).to_numpy()
    if not (labels == control).any():
        raise InputError(f"control: condition column '{condition_key}' has no cells with the "
                         f"control value '{control}'")
    return _normalized(adata, layer), labels, control


def baseline_observed(adata: Any, *, condition_key: str = "condition",
                      control: str | None = None,
                      exclude_conditions: Sequence[str] | None = None,
                      layer: str | None = None) -> np.ndarray:
    """"observed": the dataset's own normalized counts (cells x genes, dataset order). The
    other options are accepted for a uniform signature and ignored."""
    return _normalized(adata, layer)


def baseline_no_change(adata: Any, *, condition_key: str = "condition",
                       control: str | None = None,
                       exclude_conditions: Sequence[str] | None = None,
                       layer: str | None = None) -> np.ndarray:
    """"no_change": every cell predicted as the mean normalized control profile
    (``exclude_conditions`` is accepted for a uniform signature and ignored)."""
    norm, labels, control = _inputs(adata, condition_key, control, layer)
    profile = norm[labels == control].mean(axis=0)
    return np.repeat(profile[None, :], norm.shape[0], axis=0)


def baseline_mean_effect(adata: Any, *, condition_key: str = "condition",
                         control: str | None = None,
                         exclude_conditions: Sequence[str] | None = None,
                         layer: str | None = None) -> np.ndarray:
    """"mean_effect": cells of condition c predicted as control mean x exp(mean over the OTHER
    perturbed conditions k of log((mean_k + 1e-8) / (control mean + 1e-8))); control cells and
    excluded conditions are predicted as the control mean."""
    norm, labels, control = _inputs(adata, condition_key, control, layer)
    excluded = set(resolve_exclude(adata, exclude_conditions))
    control_mean = norm[labels == control].mean(axis=0)
    perturbed = sorted(c for c in pd.unique(labels) if c != control and c not in excluded)
    out = np.repeat(control_mean[None, :], norm.shape[0], axis=0)
    if len(perturbed) < 2:
        return out
    effects = np.stack([predicted_effect(norm[labels == c].mean(axis=0), control_mean)
                        for c in perturbed])
    total = effects.sum(axis=0)
    for i, condition in enumerate(perturbed):
        others = (total - effects[i]) / (len(perturbed) - 1)
        out[labels == condition] = control_mean * np.exp(others)
    return out


_OPTIONS = ("condition_key", "control", "exclude_conditions", "layer")
OBSERVED = Baseline("observed", lambda adata, seed, **o: baseline_observed(adata, **o),
                    kind="expression", options=_OPTIONS, needs_counts=True,
                    description="the dataset's own normalized counts (upper bound)")
NO_CHANGE = Baseline("no_change", lambda adata, seed, **o: baseline_no_change(adata, **o),
                     kind="expression", options=_OPTIONS, needs_counts=True,
                     description="every cell = mean control profile")
MEAN_EFFECT = Baseline("mean_effect", lambda adata, seed, **o: baseline_mean_effect(adata, **o),
                       kind="expression", options=_OPTIONS, needs_counts=True,
                       description="control mean x mean effect of the other perturbations")
#: the baselines by name, each ``f(adata, **options) -> ndarray`` of the dataset's shape
BASELINES = {"observed": baseline_observed, "no_change": baseline_no_change,
             "mean_effect": baseline_mean_effect}
