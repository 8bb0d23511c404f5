"""Perturbation expression prediction: how well predicted expression recovers the
differential-expression effects of genetic perturbations.

``prepare(adata)`` computes (seeded, cached) the ground truth from the dataset: per perturbed
condition, a Wilcoxon test against the control cells on ``normalize_total`` + ``log1p`` data
(scanpy ``rank_genes_groups``), keeping genes with adjusted p < ``pval_threshold`` and
|log2 fold change| >= ``min_logfc``; a seeded half of those DE genes (at least ``min_de_genes``)
are the condition's evaluation targets, and as many control cells as perturbed cells are drawn
as its matched controls. ``run(prediction, obs)`` then scores a predicted expression matrix
(normalized counts, not log; see :meth:`PerturbationExpressionPredictionTask.run`): the
predicted effect of each target gene is log((mean over perturbed cells + 1e-8) / (mean over
matched controls + 1e-8)), and the metric is its Spearman correlation with the true log fold
changes, per condition and as mean/median over conditions.

Baselines (prediction matrices from the dataset): :func:`baseline_observed`,
:func:`baseline_no_change`, :func:`baseline_mean_effect` (see ``BASELINES``).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp

from czbench.errors import InputError
from czbench.neighbors import KNNGraph
from czbench.perturbation_truth import (
    BASELINES,
    EPS,
    baseline_mean_effect,
    baseline_no_change,
    baseline_observed,
    ground_truth,
    predicted_effect,
    spearman,
)
from czbench.tasks.base import DEFAULT_SEED, MetricResult, MetricSpec, Task
from czbench.tasks.registry import register_task

#: bump when the ground-truth computation changes (invalidates file caches)
TRUTH_VERSION = 1

#: in-process cache of ground truths: key -> truth dict
_TRUTH_CACHE: dict[str, dict[str, Any]] = {}


def _registry_extra(adata: Any) -> dict[str, Any]:
    source = getattr(adata, "uns", {}).get("czbench", {}) if hasattr(adata, "uns") else {}
    if not isinstance(source, dict) or not source.get("registered"):
        return {}
    from czbench.datasets import info

    try:
        return dict(info(str(source.get("name"))).extra or {})
    except Exception:  # noqa: BLE001 - a name that is not (or no longer) registered
        return {}


def resolve_control(adata: Any, control: str | None) -> str:
    """``control`` or, when None, the registered dataset's ``extra["control"]``."""
    if control is not None:
        return str(control)
    value = _registry_extra(adata).get("control")
    if value is None:
        raise InputError("control: give the control condition value (e.g. control="
                         "'non-targeting'); the dataset's registry entry names none")
    return str(value)


def resolve_exclude(adata: Any, exclude: Sequence[str] | None) -> tuple[str, ...]:
    """``exclude`` or, when None, the registered dataset's ``extra["exclude_conditions"]``."""
    if exclude is None:
        exclude = _registry_extra(adata).get("exclude_conditions", ())
    if isinstance(exclude, str):
        exclude = (exclude,)
    return tuple(str(c) for c in exclude)


def dataset_digest(adata: Any, condition_key: str, layer: str | None = None) -> str:
    """sha256 of what the ground truth reads: counts, cell and gene names, condition labels
    (plus the file sha256 recorded at load, if any)."""
    digest = hashlib.sha256()
    source = adata.uns.get("czbench", {}) if hasattr(adata, "uns") else {}
    digest.update(str(source.get("sha256") if isinstance(source, dict) else "").encode())
    matrix = adata.layers[layer] if layer else adata.X
    if sp.issparse(matrix):
        matrix = sp.csr_matrix(matrix)
        for part in (matrix.data, matrix.indices, matrix.indptr):
            digest.update(np.ascontiguousarray(part).tobytes())
        digest.update(str(matrix.shape).encode())
    else:
        array = np.ascontiguousarray(np.asarray(matrix))
        digest.update(str((array.shape, array.dtype.str)).encode())
        digest.update(array.tobytes())
    for names in (adata.obs_names, adata.var_names,
                  adata.obs[condition_key].astype(str)
                  if condition_key in adata.obs.columns else []):
        digest.update("\x1f".join(map(str, names)).encode())
        digest.update(b"\x1e")
    return digest.hexdigest()


@register_task
class PerturbationExpressionPredictionTask(Task):
    """Spearman correlation of predicted vs true DE effects of perturbations, per condition.

    Options:
        condition_key: obs column of conditions (default ``condition``).
        control: the control value of that column (default: the registered dataset's
            ``extra["control"]``, e.g. ``non-targeting``).
        exclude_conditions: values neither evaluated nor used as controls (default: the
            registered dataset's ``extra["exclude_conditions"]``, e.g. ``("ambiguous",)``).
        conditions: evaluate only these conditions (default: all perturbed ones).
        min_cells: conditions with fewer cells are skipped (default 20).
        min_de_genes: conditions with fewer DE genes are skipped; also the minimum number of
            targets (default 5).
        pval_threshold, min_logfc: DE filter, adjusted p < pval_threshold and
            |log2FC| >= min_logfc (defaults 1e-4 and 1).
        target_fraction: fraction of DE genes drawn as targets (default 0.5, at least
            ``min_de_genes``).
        layer: layer of raw counts (default: X).
        cache_dir: directory for ground-truth cache files (default: none, in-process only);
            nothing is written outside it.

    After ``prepare``: ``skipped_`` (condition -> reason), ``evaluated_`` (conditions scored),
    ``truth_`` (DataFrame of every DE gene with ``is_target``), ``matched_controls_``.
    """

    name: ClassVar[str] = "perturbation_expression_prediction"
    description: ClassVar[str] = (
        "Spearman correlation between predicted and true (Wilcoxon DE) log fold changes of "
        "perturbed vs matched control cells, per condition")
    metrics: ClassVar[tuple[MetricSpec, ...]] = (
        MetricSpec("spearman_correlation",
                   "Spearman correlation of predicted vs true log fold changes of one "
                   "condition's target genes (params: condition)"),
        MetricSpec("mean_spearman_correlation",
                   "mean over evaluated conditions of spearman_correlation"),
        MetricSpec("median_spearman_correlation",
                   "median over evaluated conditions of spearman_correlation"),
    )
    column_options: ClassVar[tuple[str, ...]] = ("condition_key",)
    accepts_sparse: ClassVar[bool] = True

    def __init__(self, *, seed: int = DEFAULT_SEED, condition_key: str = "condition",
                 control: str | None = None, exclude_conditions: Sequence[str] | None = None,
                 conditions: Sequence[str] | None = None, min_cells: int = 20,
                 min_de_genes: int = 5, pval_threshold: float = 1e-4, min_logfc: float = 1.0,
                 target_fraction: float = 0.5, layer: str | None = None,
                 cache_dir: str | os.PathLike | None = None) -> None:
        self.seed = int(seed)
        self.condition_key = condition_key
        self.control = None if control is None else str(control)
        self.exclude_conditions = (None if exclude_conditions is None else
                                   tuple(str(c) for c in ([exclude_conditions]
                                         if isinstance(exclude_conditions, str)
                                         else exclude_conditions)))
        self.conditions = (None if conditions is None else
                           [str(c) for c in ([conditions] if isinstance(conditions, str)
                                             else conditions)])
        self.min_cells = int(min_cells)
        self.min_de_genes = int(min_de_genes)
        self.pval_threshold = float(pval_threshold)
        self.min_logfc = float(min_logfc)
        self.target_fraction = float(target_fraction)
        if not 0 < self.target_fraction <= 1:
            raise InputError("target_fraction: expected a value in (0, 1]")
        if self.min_de_genes < 1 or self.min_cells < 1:
            raise InputError("min_de_genes, min_cells: expected at least 1")
        self.layer = layer
        self.cache_dir = None if cache_dir is None else str(cache_dir)
        self._truth: dict[str, Any] | None = None
        self._obs_names: pd.Index | None = None
        self._var_names: pd.Index | None = None
        self._resolved: dict[str, Any] = {}

    # -- ground truth ------------------------------------------------------------------------
    def _settings(self, control: str, exclude: tuple[str, ...]) -> dict[str, Any]:
        from importlib.metadata import version as _version

        return {"version": TRUTH_VERSION, "scanpy": _version("scanpy"),
                "seed": self.seed, "condition_key": self.condition_key, "control": control,
                "exclude_conditions": list(exclude), "conditions": self.conditions,
                "min_cells": self.min_cells, "min_de_genes": self.min_de_genes,
                "pval_threshold": self.pval_threshold, "min_logfc": self.min_logfc,
                "target_fraction": self.target_fraction, "layer": self.layer}

    def prepare(self, adata: Any) -> None:
        """Compute (or fetch from the cache) the ground truth of ``adata``; call before
        ``run``. Raises a one-line InputError for a missing condition column or control."""
        if self.condition_key not in adata.obs.columns:
            raise InputError(f"condition_key: task '{self.name}' needs obs column "
                             f"'{self.condition_key}', which is missing; columns are: "
                             f"{', '.join(map(str, adata.obs.columns)) or '(none)'}")
        if self.layer is not None and self.layer not in adata.layers:
            raise InputError(f"layer: the dataset has no layer '{self.layer}'")
        control = resolve_control(adata, self.control)
        exclude = resolve_exclude(adata, self.exclude_conditions)
        settings = self._settings(control, exclude)
        key = hashlib.sha256(json.dumps(
            {"data": dataset_digest(adata, self.condition_key, self.layer), **settings},
            sort_keys=True).encode()).hexdigest()
        truth = _TRUTH_CACHE.get(key)
        if truth is not None:
            path = self._cache_path(key)
            if path is not None and not path.is_file():
                self._write_cache(key, truth)
        else:
            truth = self._read_cache(key)
        if truth is None:
            truth = ground_truth(
                adata, condition_key=self.condition_key, control=control,
                conditions=self.conditions, exclude_conditions=exclude,
                min_cells=self.min_cells, min_de_genes=self.min_de_genes,
                pval_threshold=self.pval_threshold, min_logfc=self.min_logfc,
                target_fraction=self.target_fraction, seed=self.seed, layer=self.layer)
            self._write_cache(key, truth)
        _TRUTH_CACHE[key] = truth
        if not truth["conditions"]:
            reasons = "; ".join(f"{c}: {r}" for c, r in list(truth["skipped"].items())[:4])
            raise InputError(f"conditions: no condition passes the filters ({reasons})")
        self._truth = truth
        self._obs_names = pd.Index(adata.obs_names.astype(str))
        self._var_names = pd.Index(adata.var_names.astype(str))
        self._resolved = {"control": control, "exclude_conditions": exclude, "key": key}

    def _cache_path(self, key: str) -> Path | None:
        if self.cache_dir is None:
            return None
        return Path(self.cache_dir) / f"perturbation_truth_{key[:32]}.json"

    def _read_cache(self, key: str) -> dict[str, Any] | None:
        path = self._cache_path(key)
        if path is None or not path.is_file():
            return None
        try:
            document = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        return document.get("truth") if document.get("key") == key else None

    def _write_cache(self, key: str, truth: dict[str, Any]) -> None:
        path = self._cache_path(key)
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, tmp = tempfile.mkstemp(prefix=".perturbation_truth_", suffix=".tmp",
                                       dir=path.parent)
        try:
            with os.fdopen(handle, "w") as stream:
                json.dump({"key": key, "truth": truth}, stream)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def _require_truth(self) -> dict[str, Any]:
        if self._truth is None:
            raise InputError(f"task '{self.name}': call prepare(adata) with the dataset "
                             f"before run (the ground truth comes from its expression)")
        return self._truth

    @property
    def skipped_(self) -> dict[str, str]:
        """Conditions not evaluated, with the reason (too few cells or DE genes)."""
        return dict(self._require_truth()["skipped"])

    @property
    def resolved_(self) -> dict[str, Any]:
        """After prepare: the control and exclusions actually used (from the registry when the
        options were None), the cache key, and the skipped conditions -- for results files."""
        self._require_truth()
        return {"control": self._resolved["control"],
                "exclude_conditions": list(self._resolved["exclude_conditions"]),
                "truth_key": self._resolved["key"], "evaluated": self.evaluated_,
                "skipped": self.skipped_}

    @property
    def evaluated_(self) -> list[str]:
        """Conditions that are scored, in result order."""
        return list(self._require_truth()["conditions"])

    @property
    def matched_controls_(self) -> dict[str, list[str]]:
        """Per evaluated condition, its matched control cell names (1:1 with its cells)."""
        return {c: list(v["controls"]) for c, v in self._require_truth()["conditions"].items()}

    @property
    def truth_(self) -> pd.DataFrame:
        """Every DE gene of each evaluated condition: condition, gene, logfoldchange (log2),
        pval_adj, is_target."""
        rows = []
        for condition, entry in self._require_truth()["conditions"].items():
            targets = set(entry["targets"])
            for gene, lfc, padj in zip(entry["de_genes"], entry["de_logfc"],
                                       entry["de_pval_adj"], strict=True):
                rows.append((condition, gene, lfc, padj, gene in targets))
        return pd.DataFrame(rows, columns=["condition", "gene", "logfoldchange", "pval_adj",
                                           "is_target"])

    def options(self) -> dict[str, Any]:
        return {key: value for key, value in vars(self).items() if not key.startswith("_")}

    # -- scoring -----------------------------------------------------------------------------
    def run(self, embedding: Any, obs: pd.DataFrame | None = None, *,
            knn: KNNGraph | None = None) -> list[MetricResult]:
        """Score a predicted expression matrix (normalized counts, NOT log-transformed):

        * an AnnData (obs_names = cell names, var_names = gene names; X dense or sparse) or a
          pandas DataFrame (index = cell names, columns = gene names): any order or subset of
          cells and genes, as long as every evaluated cell and target gene is present;
        * an array (numpy, scipy sparse, torch) of exactly the dataset's shape, in its order.

        ``obs`` (optional) is the dataset's obs; it is only checked. ``knn`` is unused.
        """
        self._require_truth()
        if obs is not None:
            super().check_inputs(obs)
        return self._run(embedding, obs, knn)

    def _run(self, embedding: Any, obs: pd.DataFrame | None,
             knn: KNNGraph | None) -> list[MetricResult]:
        truth = self._require_truth()
        matrix, rows, cols = self._align(embedding, obs)
        conditions = truth["conditions"]
        cells = sorted({c for e in conditions.values() for c in (*e["cells"], *e["controls"])})
        genes = sorted({g for e in conditions.values() for g in e["targets"]})
        missing_cells = [c for c in cells if c not in rows]
        if missing_cells:
            raise InputError(f"prediction: {len(missing_cells)} evaluated cells are missing, "
                             f"e.g. {', '.join(missing_cells[:3])}")
        missing_genes = [g for g in genes if g not in cols]
        if missing_genes:
            raise InputError(f"prediction: {len(missing_genes)} target genes are missing, "
                             f"e.g. {', '.join(missing_genes[:5])}")
        row_index = np.fromiter((rows[c] for c in cells), dtype=np.int64, count=len(cells))
        col_index = np.fromiter((cols[g] for g in genes), dtype=np.int64, count=len(genes))
        block = matrix[row_index][:, col_index]
        block = block.toarray() if sp.issparse(block) else np.asarray(block, dtype=np.float64)
        block = block.astype(np.float64, copy=False)
        if not np.isfinite(block).all():
            raise InputError("prediction: contains NaN or infinite values")
        if (block < 0).any():
            raise InputError(f"prediction: {int((block < 0).sum())} negative values; expected "
                             f"normalized counts (not log-transformed or centred)")
        local_row = {c: i for i, c in enumerate(cells)}
        local_col = {g: j for j, g in enumerate(genes)}

        results: list[MetricResult] = []
        scores = []
        for condition, entry in conditions.items():
            cidx = [local_col[g] for g in entry["targets"]]
            treated = block[[local_row[c] for c in entry["cells"]]][:, cidx].mean(axis=0)
            control = block[[local_row[c] for c in entry["controls"]]][:, cidx].mean(axis=0)
            score = spearman(predicted_effect(treated, control), entry["logfc"])
            scores.append(score)
            results.append(self._result("spearman_correlation", score, condition=condition))
        results.append(self._result("mean_spearman_correlation", float(np.mean(scores))))
        results.append(self._result("median_spearman_correlation", float(np.median(scores))))
        return results

    def _align(self, prediction: Any, obs: pd.DataFrame | None
               ) -> tuple[Any, dict[str, int], dict[str, int]]:
        """The prediction as a row-indexable matrix and its cell/gene name -> position maps."""
        assert self._obs_names is not None and self._var_names is not None
        if isinstance(prediction, pd.DataFrame):
            cells, genes = prediction.index.astype(str), prediction.columns.astype(str)
            try:
                matrix = prediction.to_numpy(dtype=np.float64)
            except (TypeError, ValueError) as err:
                raise InputError(f"prediction: DataFrame is not numeric ({err})") from None
        elif hasattr(prediction, "obs_names") and hasattr(prediction, "var_names"):
            cells, genes = pd.Index(prediction.obs_names).astype(str), \
                pd.Index(prediction.var_names).astype(str)
            matrix = prediction.X
            if matrix is None:
                raise InputError("prediction: the AnnData has no X")
            matrix = sp.csr_matrix(matrix) if sp.issparse(matrix) else np.asarray(matrix)
        else:
            try:
                import torch

                if isinstance(prediction, torch.Tensor):
                    prediction = prediction.detach().cpu().numpy()
            except ImportError:  # pragma: no cover
                pass
            matrix = (sp.csr_matrix(prediction) if sp.issparse(prediction)
                      else np.asarray(prediction))
            expected = (len(self._obs_names), len(self._var_names))
            if matrix.ndim != 2 or tuple(matrix.shape) != expected:
                raise InputError(f"prediction: an array must have the dataset's shape "
                                 f"{expected} (cells x genes, dataset order), got "
                                 f"{tuple(matrix.shape)}; pass an AnnData or DataFrame with "
                                 f"cell and gene names otherwise")
            named = obs is not None and not isinstance(obs.index, pd.RangeIndex)
            if named and not pd.Index(obs.index.astype(str)).equals(self._obs_names):
                raise InputError("obs: its cells differ from those of the dataset given to "
                                 "prepare")
            cells, genes = self._obs_names, self._var_names
        if not np.issubdtype(matrix.dtype, np.number) or matrix.dtype == bool:
            raise InputError("prediction: expected numeric values")
        for what, names in (("cell", cells), ("gene", genes)):
            if names.has_duplicates:
                dupes = names[names.duplicated()].unique()
                raise InputError(f"prediction: duplicate {what} names, e.g. "
                                 f"{', '.join(map(str, dupes[:3]))}")
        return matrix, {c: i for i, c in enumerate(cells)}, {g: j for j, g in enumerate(genes)}


__all__ = ["BASELINES", "EPS", "PerturbationExpressionPredictionTask", "baseline_mean_effect",
           "baseline_no_change", "baseline_observed", "dataset_digest", "resolve_control",
           "resolve_exclude"]


def _register_baselines() -> None:
    from czbench.baselines import register_baseline

    for name, fn in BASELINES.items():
        register_baseline(name, lambda adata, seed, fn=fn: fn(adata))


_register_baselines()
