"""Numerical pieces of the perturbation expression prediction task: normalisation, the
differential-expression ground truth, the Spearman metric and the prediction baselines.

Framework-free functions over arrays/AnnData; :mod:`czbench.tasks.perturbation` wires them
into the task. Expression "on the prediction scale" means **normalized counts** (each cell's
counts scaled to a common total, scanpy ``normalize_total`` with its default target: the median
total count of the dataset's cells), never log-transformed.
"""

from __future__ import annotations

import warnings
import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.stats import rankdata

from czbench.errors import InputError

#: pseudo-count of the predicted effect log((treated + EPS) / (control + EPS))
EPS = 1e-8


# -- normalisation -----------------------------------------------------------------------------
def library_target(counts: Any) -> float:
    """scanpy ``normalize_total``'s default target: median total count of cells with counts."""
    totals = np.asarray(counts.sum(axis=1)).ravel().astype(np.float64)
    totals = totals[totals > 0]
    if totals.size == 0:
        raise InputError("X: every cell has zero total counts; expected UMI counts")
    return float(np.median(totals))


def normalize_counts(counts: Any, target_sum: float | None = None) -> sp.csr_matrix | np.ndarray:
    """Counts (cells x genes, sparse or dense) scaled per cell to ``target_sum`` (float64;
    default: the median total count, :func:`library_target`), computed by
    ``scanpy.pp.normalize_total`` so the values match scanpy's bit for bit."""
    import anndata as ad
    import scanpy as sc

    target = library_target(counts) if target_sum is None else float(target_sum)
    matrix = (sp.csr_matrix(counts, dtype=np.float64) if sp.issparse(counts)
              else np.array(counts, dtype=np.float64))
    data = ad.AnnData(X=matrix)
    sc.pp.normalize_total(data, target_sum=target)
    return data.X


def _counts(adata: Any, layer: str | None = None) -> Any:
    matrix = adata.layers[layer] if layer else adata.X
    if matrix is None:
        raise InputError("X: the dataset has no expression matrix")
    if not sp.issparse(matrix):
        matrix = np.asarray(matrix)
    data = matrix.data if sp.issparse(matrix) else matrix
    if data.size and (not np.isfinite(data).all() or data.min() < 0):
        raise InputError("X: expected non-negative finite counts")
    return matrix


# -- seeds -------------------------------------------------------------------------------------
def condition_rng(seed: int, condition: str) -> np.random.Generator:
    """The random stream of one condition: depends on the seed and the condition's name only,
    so evaluating a subset of conditions draws the same targets and controls as all of them."""
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, zlib.crc32(str(condition).encode())])


# -- ground truth ------------------------------------------------------------------------------
def wilcoxon_de(lognorm: Any, labels: np.ndarray, var_names: Sequence[str], groups: Sequence[str],
                control: str) -> dict[str, pd.DataFrame]:
    """Per group: scanpy ``rank_genes_groups(method="wilcoxon", reference=control)`` on
    log1p-normalized data, as a DataFrame indexed by gene with ``logfoldchange`` (log2, as
    scanpy computes it), ``score``, ``pval`` and ``pval_adj`` (Benjamini-Hochberg per group)."""
    import anndata as ad
    import scanpy as sc

    groups = [str(g) for g in groups]
    if not groups:
        return {}
    keep = np.isin(labels, [*groups, control])
    obs = pd.DataFrame({"condition": pd.Categorical(labels[keep].astype(str))},
                       index=[str(i) for i in range(int(keep.sum()))])
    data = ad.AnnData(X=lognorm[keep], obs=obs, var=pd.DataFrame(index=list(map(str, var_names))))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", pd.errors.PerformanceWarning)
        sc.tl.rank_genes_groups(data, "condition", groups=groups, reference=control,
                                method="wilcoxon", use_raw=False)
    out = {}
    for group in groups:
        frame = sc.get.rank_genes_groups_df(data, group)
        out[group] = pd.DataFrame({
            "logfoldchange": frame["logfoldchanges"].to_numpy(np.float64),
            "score": frame["scores"].to_numpy(np.float64),
            "pval": frame["pvals"].to_numpy(np.float64),
            "pval_adj": frame["pvals_adj"].to_numpy(np.float64),
        }, index=pd.Index(frame["names"].astype(str), name="gene"))
    return out


def ground_truth(adata: Any, *, condition_key: str, control: str,
                 conditions: Sequence[str] | None = None, exclude_conditions: Sequence[str] = (),
                 min_cells: int = 20, min_de_genes: int = 5, pval_threshold: float = 1e-4,
                 min_logfc: float = 1.0, target_fraction: float = 0.5, seed: int = 42,
                 layer: str | None = None) -> dict[str, Any]:
    """The task's ground truth, as a JSON-able dict (see ``docs/tasks_perturbation.md``):

    ``target_sum``; ``conditions``: per evaluated condition its ``targets`` (gene names),
    ``logfc`` (true log2 fold changes of the targets), ``de_genes`` / ``de_logfc`` / ``de_pval_adj``
    (every DE gene), ``cells`` (perturbed cell names) and ``controls`` (matched control cell
    names, 1:1); ``skipped``: condition -> reason.
    """
    if condition_key not in adata.obs.columns:
        raise InputError(f"condition_key: obs column '{condition_key}' is missing")
    labels = adata.obs[condition_key].astype(str).to_numpy()
    present = pd.unique(labels)
    if control not in set(present):
        raise InputError(f"control: condition column '{condition_key}' has no cells with the "
                         f"control value '{control}'; values include "
                         f"{', '.join(map(str, present[:8]))}")
    excluded = {str(c) for c in exclude_conditions}
    available = sorted(str(c) for c in present if c != control and c not in excluded)
    if conditions is None:
        wanted = available
    else:
        wanted = [str(c) for c in conditions]
        unknown = [c for c in wanted if c not in available]
        if unknown:
            raise InputError(f"conditions: {', '.join(unknown[:5])} not among the dataset's "
                             f"perturbed conditions ({len(available)} available, e.g. "
                             f"{', '.join(available[:5])})")
    if int(min_de_genes) < 1:
        raise InputError("min_de_genes: expected at least 1")
    counts = _counts(adata, layer)
    target_sum = library_target(counts)
    lognorm = normalize_counts(counts, target_sum)
    if sp.issparse(lognorm):
        lognorm.data = np.log1p(lognorm.data)
    else:
        lognorm = np.log1p(lognorm)

    skipped: dict[str, str] = {}
    sizes = pd.Series(labels).value_counts()
    n_controls = int(sizes[control])
    testable = []
    for condition in wanted:
        if int(sizes[condition]) < int(min_cells):
            skipped[condition] = f"{int(sizes[condition])} cells < min_cells={int(min_cells)}"
        else:
            testable.append(condition)
    if n_controls < int(min_cells):
        raise InputError(f"control: only {n_controls} '{control}' cells; need min_cells="
                         f"{int(min_cells)}")
    de = wilcoxon_de(lognorm, labels, list(adata.var_names), testable, control)

    obs_names = np.asarray(adata.obs_names).astype(str)
    control_cells = obs_names[labels == control]
    result: dict[str, Any] = {}
    for condition in testable:
        frame = de[condition]
        hits = frame[(frame["pval_adj"] < pval_threshold)
                     & (frame["logfoldchange"].abs() >= min_logfc)
                     & np.isfinite(frame["logfoldchange"])]
        if len(hits) < int(min_de_genes):
            skipped[condition] = (f"{len(hits)} DE genes < min_de_genes={int(min_de_genes)}")
            continue
        rng = condition_rng(seed, condition)
        n_targets = min(len(hits), max(int(min_de_genes), int(len(hits) * target_fraction)))
        order = np.sort(rng.choice(len(hits), size=n_targets, replace=False))
        cells = obs_names[labels == condition]
        matched = rng.choice(len(control_cells), size=len(cells),
                             replace=len(cells) > len(control_cells))
        result[condition] = {
            "targets": [str(g) for g in hits.index[order]],
            "logfc": [float(v) for v in hits["logfoldchange"].to_numpy()[order]],
            "de_genes": [str(g) for g in hits.index],
            "de_logfc": [float(v) for v in hits["logfoldchange"]],
            "de_pval_adj": [float(v) for v in hits["pval_adj"]],
            "cells": [str(c) for c in cells],
            "controls": [str(c) for c in control_cells[matched]],
        }
    return {"target_sum": target_sum, "conditions": result, "skipped": skipped}


# -- metric ------------------------------------------------------------------------------------
def predicted_effect(treated_mean: np.ndarray, control_mean: np.ndarray) -> np.ndarray:
    """log((mean predicted treated + 1e-8) / (mean predicted control + 1e-8)) per gene."""
    return np.log((np.asarray(treated_mean, np.float64) + EPS)
                  / (np.asarray(control_mean, np.float64) + EPS))


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman rank correlation (average ranks for ties); 0 where undefined (a constant side
    or fewer than 2 values)."""
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError("spearman: expected two 1-D arrays of the same length")
    if x.size < 2:
        return 0.0
    rx = rankdata(x) - (x.size + 1) / 2
    ry = rankdata(y) - (y.size + 1) / 2
    denom = np.sqrt((rx * rx).sum() * (ry * ry).sum())
    if not np.isfinite(denom) or denom == 0:
        return 0.0
    value = float((rx * ry).sum() / denom)
    return float(np.clip(value, -1.0, 1.0)) if np.isfinite(value) else 0.0


# -- baselines ---------------------------------------------------------------------------------
def _baseline_inputs(adata: Any, condition_key: str, control: str | None, layer: str | None
                     ) -> tuple[np.ndarray, np.ndarray, str]:
    from czbench.tasks.perturbation import resolve_control

    control = resolve_control(adata, control)
    if condition_key not in adata.obs.columns:
        raise InputError(f"condition_key: obs column '{condition_key}' is missing")
    labels = adata.obs[condition_key].astype(str).to_numpy()
    if not (labels == control).any():
        raise InputError(f"control: condition column '{condition_key}' has no cells with the "
                         f"control value '{control}'")
    counts = _counts(adata, layer)
    norm = normalize_counts(counts)
    norm = norm.toarray() if sp.issparse(norm) else np.asarray(norm, np.float64)
    return norm, labels, control


def baseline_observed(adata: Any, *, condition_key: str = "condition",
                      control: str | None = None,
                      exclude_conditions: Sequence[str] | None = None,
                      layer: str | None = None) -> np.ndarray:
    """"observed": the dataset's own normalized counts (cells x genes, dataset order) -- the
    upper bound a perfect predictor reaches. The other options are accepted for a uniform
    signature and ignored."""
    norm = normalize_counts(_counts(adata, layer))
    return norm.toarray() if sp.issparse(norm) else np.asarray(norm, np.float64)


def baseline_no_change(adata: Any, *, condition_key: str = "condition",
                       control: str | None = None,
                       exclude_conditions: Sequence[str] | None = None,
                       layer: str | None = None) -> np.ndarray:
    """"no_change": every cell predicted as the mean normalized control profile (the
    perturbation changes nothing). Its predicted effects are all 0, so it scores 0."""
    norm, labels, control = _baseline_inputs(adata, condition_key, control, layer)
    profile = norm[labels == control].mean(axis=0)
    return np.repeat(profile[None, :], norm.shape[0], axis=0)


def baseline_mean_effect(adata: Any, *, condition_key: str = "condition",
                         control: str | None = None,
                         exclude_conditions: Sequence[str] | None = None,
                         layer: str | None = None) -> np.ndarray:
    """"mean_effect": cells of condition c predicted as control mean x exp(mean over the OTHER
    perturbed conditions k of log((mean_k + 1e-8) / (control mean + 1e-8))), i.e. the control
    profile times the geometric-mean fold effect of the other perturbations; control cells and
    excluded conditions are predicted as the control mean."""
    from czbench.tasks.perturbation import resolve_exclude

    norm, labels, control = _baseline_inputs(adata, condition_key, control, layer)
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


#: the baselines by name, each ``f(adata, **options) -> ndarray`` of the dataset's shape
BASELINES = {"observed": baseline_observed, "no_change": baseline_no_change,
             "mean_effect": baseline_mean_effect}
