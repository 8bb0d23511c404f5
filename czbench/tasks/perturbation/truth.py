"""The ground truth of the perturbation task: differential expression of each perturbed
condition against the control cells, and the seeded choice of its targets and matched controls.

Two steps, so a multi-seed run tests each condition once:

* :func:`differential_expression` (no randomness): per condition, scanpy's Wilcoxon
  ``rank_genes_groups`` against the control cells on ``normalize_total`` + ``log1p`` counts;
  genes with adjusted p < ``pval_threshold`` and |log2 fold change| >= ``min_logfc`` are the
  condition's DE genes.
* :func:`draw_truth` (seeded): conditions with at least ``min_de_genes`` DE genes are scored; a
  seeded ``target_fraction`` of their DE genes (at least ``min_de_genes``) are the targets, and
  as many control cells as perturbed cells are drawn as matched controls.

Definition: docs/spec.md#task-perturbation_expression_prediction. Expression "on the prediction
scale" means normalized counts (:func:`czbench.datasets.counts.normalize_counts`), never log.
"""

from __future__ import annotations

import warnings
import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from czbench.datasets.counts import counts_matrix, library_target, normalize_counts
from czbench.errors import InputError
from czbench.utils.hashing import sha256_parts

#: pseudo-count of the predicted effect log((treated + EPS) / (control + EPS))
EPS = 1e-8


def registry_extra(adata: Any) -> dict[str, Any]:
    """The registered dataset's ``extra`` settings (e.g. its control value), else {}."""
    source = getattr(adata, "uns", {}).get("czbench", {}) if hasattr(adata, "uns") else {}
    if not isinstance(source, dict) or not source.get("registered"):
        return {}
    from czbench.datasets import get_info, list_datasets

    name = str(source.get("name"))
    return dict(get_info(name).extra or {}) if name in list_datasets() else {}


def resolve_control(adata: Any, control: str | None) -> str:
    """``control`` or, when None, the registered dataset's ``extra["control"]``."""
    if control is not None:
        return str(control)
    value = registry_extra(adata).get("control")
    if value is None:
        raise InputError("control: give the control condition value (e.g. control="
                         "'non-targeting'); the dataset's registry entry names none")
    return str(value)


def resolve_exclude(adata: Any, exclude: Sequence[str] | None) -> tuple[str, ...]:
    """``exclude`` or, when None, the registered dataset's ``extra["exclude_conditions"]``."""
    if exclude is None:
        exclude = registry_extra(adata).get("exclude_conditions", ())
    if isinstance(exclude, str):
        exclude = (exclude,)
    return tuple(str(c) for c in exclude)


def dataset_digest(adata: Any, condition_key: str, layer: str | None = None) -> str:
    """sha256 of what the ground truth reads: counts, cell and gene names, condition labels
    (plus the file sha256 recorded at load, if any)."""
    source = adata.uns.get("czbench", {}) if hasattr(adata, "uns") else {}
    matrix = adata.layers[layer] if layer else adata.X
    conditions = (adata.obs[condition_key].astype(str).tolist()
                  if condition_key in adata.obs.columns else [])
    return sha256_parts(str(source.get("sha256") if isinstance(source, dict) else ""),
                        matrix if sp.issparse(matrix) else np.asarray(matrix),
                        list(map(str, adata.obs_names)), list(map(str, adata.var_names)),
                        conditions)


def condition_rng(seed: int, condition: str) -> np.random.Generator:
    """The random stream of one condition: depends on the seed and the condition's name only,
    so evaluating a subset of conditions draws the same targets and controls as all of them."""
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, zlib.crc32(str(condition).encode())])


def wilcoxon_de(lognorm: Any, labels: np.ndarray, var_names: Sequence[str],
                groups: Sequence[str], control: str) -> dict[str, pd.DataFrame]:
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
    data = ad.AnnData(X=lognorm[keep], obs=obs,
                      var=pd.DataFrame(index=list(map(str, var_names))))
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


def differential_expression(adata: Any, *, condition_key: str, control: str,
                            conditions: Sequence[str] | None = None,
                            exclude_conditions: Sequence[str] = (), min_cells: int = 20,
                            pval_threshold: float = 1e-4, min_logfc: float = 1.0,
                            layer: str | None = None) -> dict[str, Any]:
    """The DE step (JSON-able): ``target_sum``; ``control_cells``; ``conditions``: per tested
    condition, in name order, its ``de_genes`` / ``de_logfc`` / ``de_pval_adj`` (in scanpy's
    ranking order, by decreasing Wilcoxon score) and ``cells`` (perturbed cell names);
    ``skipped``: condition -> reason (too few cells). This is the DE table whose order the
    reference target rule draws in (:func:`draw_truth`)."""
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
        wanted = sorted({str(c) for c in conditions})  # the DE table is in name order
        unknown = [c for c in wanted if c not in available]
        if unknown:
            raise InputError(f"conditions: {', '.join(unknown[:5])} not among the dataset's "
                             f"perturbed conditions ({len(available)} available, e.g. "
                             f"{', '.join(available[:5])})")
    counts = counts_matrix(adata, layer, what="perturbation ground truth")
    target_sum = library_target(counts)
    lognorm = normalize_counts(counts, target_sum)
    if sp.issparse(lognorm):
        lognorm.data = np.log1p(lognorm.data)
    else:
        lognorm = np.log1p(lognorm)
    sizes = pd.Series(labels).value_counts()
    n_controls = int(sizes[control])
    if n_controls < int(min_cells):
        raise InputError(f"control: only {n_controls} '{control}' cells; need min_cells="
                         f"{int(min_cells)}")
    skipped: dict[str, str] = {}
    testable = []
    for condition in wanted:
        if int(sizes[condition]) < int(min_cells):
            skipped[condition] = f"{int(sizes[condition])} cells < min_cells={int(min_cells)}"
        else:
            testable.append(condition)
    de = wilcoxon_de(lognorm, labels, list(adata.var_names), testable, control)
    obs_names = np.asarray(adata.obs_names).astype(str)
    tested = {}
    for condition in testable:
        frame = de[condition]
        hits = frame[(frame["pval_adj"] < pval_threshold)
                     & (frame["logfoldchange"].abs() >= min_logfc)
                     & np.isfinite(frame["logfoldchange"])]
        tested[condition] = {
            "de_genes": [str(g) for g in hits.index],
            "de_logfc": [float(v) for v in hits["logfoldchange"]],
            "de_pval_adj": [float(v) for v in hits["pval_adj"]],
            "cells": [str(c) for c in obs_names[labels == condition]],
        }
    return {"target_sum": target_sum, "control_cells": [str(c) for c in
                                                        obs_names[labels == control]],
            "conditions": tested, "skipped": skipped}


#: ``target_rule`` values: the reference's rule (default) and czbench's earlier, looser one
TARGET_RULES = ("reference", "min5")


def legacy_random_state(seed: int) -> np.random.RandomState:
    """numpy's legacy generator as ``np.random.seed(seed)`` leaves the global one (the seed
    taken modulo 2**32, the range legacy seeding accepts), without touching the global state."""
    return np.random.RandomState(int(seed) & 0xFFFFFFFF)


def draw_truth(de: dict[str, Any], *, seed: int, min_de_genes: int = 5,
               target_fraction: float = 0.5, target_rule: str = "reference") -> dict[str, Any]:
    """The seeded step: per scored condition its ``targets``, their ``logfc`` and ``controls``
    (as many control cells as perturbed cells, with replacement only when there are fewer
    controls). Returns ``{"target_sum", "conditions", "skipped"}``.

    ``target_rule="reference"`` (cz-benchmarks 0.15.1): ``n = int(n_de * target_fraction)``
    targets; a condition is scored only when ``n >= min_de_genes``. One legacy numpy sequence,
    seeded once (:func:`legacy_random_state`, i.e. ``np.random.seed(seed)``), draws
    ``choice(de_genes, n, replace=False)`` for each scored condition in DE-table order (the
    order of ``de["conditions"]``; genes in DE order), so a condition's targets depend on the
    conditions before it; targets are kept in drawn order.

    ``target_rule="min5"`` (czbench before the alignment): every condition with at least
    ``min_de_genes`` DE genes is scored, with ``min(n_de, max(min_de_genes, int(n_de *
    target_fraction)))`` targets drawn from the condition's own generator
    (:func:`condition_rng`), in DE order.

    The matched controls always come from :func:`condition_rng` (after the targets under
    ``min5``), so they do not depend on the other conditions."""
    if int(min_de_genes) < 1:
        raise InputError("min_de_genes: expected at least 1")
    if target_rule not in TARGET_RULES:
        raise InputError(f"target_rule: expected 'reference' or 'min5', got {target_rule!r}")
    control_cells = np.asarray(de["control_cells"])
    skipped = dict(de["skipped"])
    legacy = legacy_random_state(seed)
    result: dict[str, Any] = {}
    for condition, entry in de["conditions"].items():
        genes = entry["de_genes"]
        n_de = len(genes)
        rng = condition_rng(seed, condition)
        if target_rule == "reference":
            n_targets = int(n_de * target_fraction)
            if n_targets < int(min_de_genes):
                skipped[condition] = (f"{n_de} DE genes give int({target_fraction:g} x {n_de})"
                                      f" = {n_targets} targets < min_de_genes="
                                      f"{int(min_de_genes)}")
                continue
            drawn = legacy.choice(np.asarray(genes, dtype=object), n_targets, replace=False)
            position = {g: i for i, g in enumerate(genes)}
            order = [position[g] for g in drawn]
        else:
            if n_de < int(min_de_genes):
                skipped[condition] = f"{n_de} DE genes < min_de_genes={int(min_de_genes)}"
                continue
            n_targets = min(n_de, max(int(min_de_genes), int(n_de * target_fraction)))
            order = [int(i) for i in np.sort(rng.choice(n_de, size=n_targets, replace=False))]
        n_cells = len(entry["cells"])
        matched = rng.choice(len(control_cells), size=n_cells,
                             replace=n_cells > len(control_cells))
        result[condition] = {
            **entry,
            "targets": [genes[i] for i in order],
            "logfc": [entry["de_logfc"][i] for i in order],
            "controls": [str(c) for c in control_cells[matched]],
        }
    return {"target_sum": de["target_sum"], "conditions": result, "skipped": skipped}


def condition_effect(treated_mean: np.ndarray, control_mean: np.ndarray
                     ) -> tuple[np.ndarray, bool]:
    """The predicted effect of one condition's targets, as the reference computes it:
    :func:`predicted_effect` (the log ratio) when every treated and control mean is > 0, else
    the difference ``treated - control`` for the whole condition. Returns (effect, switched)."""
    treated = np.asarray(treated_mean, np.float64)
    control = np.asarray(control_mean, np.float64)
    if (treated <= 0).any() or (control <= 0).any():
        return treated - control, True
    return predicted_effect(treated, control), False


def predicted_effect(treated_mean: np.ndarray, control_mean: np.ndarray) -> np.ndarray:
    """log((mean predicted treated + 1e-8) / (mean predicted control + 1e-8)) per gene."""
    return np.log((np.asarray(treated_mean, np.float64) + EPS)
                  / (np.asarray(control_mean, np.float64) + EPS))
