"""Task ``perturbation_expression_prediction``: how well predicted expression recovers the
differential-expression effects of genetic perturbations.

``prepare(adata, context)`` computes the ground truth from the dataset (:mod:`.truth`: DE once,
cached; targets and matched controls drawn with the run's seed). ``run(prediction, obs,
context=...)`` then scores a predicted expression matrix (normalized counts, not log): per
condition, the predicted effect of each target gene is log((mean over perturbed cells + 1e-8) /
(mean over matched controls + 1e-8)) -- or, for the whole condition, the difference of the two
means when one of them is <= 0, as the reference does -- and the metric is its Spearman
correlation with the true log fold changes (``spearman_correlation_calculation``, the
reference's name), per condition, with czbench's mean/median over conditions.

Definition: docs/spec.md#task-perturbation_expression_prediction; guide:
docs/tasks_perturbation.md.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from czbench.context import RunContext, as_context
from czbench.errors import InputError
from czbench.neighbors import KNNGraph
from czbench.tasks.base import MetricSpec, Task, TaskRun
from czbench.tasks.perturbation.baselines import MEAN_EFFECT, NO_CHANGE, OBSERVED
from czbench.tasks.perturbation.prediction import align_prediction, condition_scores
from czbench.tasks.perturbation.truth import (
    TARGET_RULES,
    dataset_digest,
    differential_expression,
    draw_truth,
    resolve_control,
    resolve_exclude,
)
from czbench.utils.hashing import sha256_parts
from czbench.utils.io import atomic_write_text

#: bump when the ground-truth computation changes (invalidates file caches)
TRUTH_VERSION = 3
#: in-process cache of DE results: key -> DE dict (a few datasets at most)
_DE_CACHE: dict[str, dict[str, Any]] = {}
_DE_CACHE_SIZE = 4


def _names(values: Any) -> list[str] | None:
    if values is None:
        return None
    return [str(v) for v in ([values] if isinstance(values, str) else values)]


@dataclass(frozen=True)
class PerturbationTruth:
    """The task's prepared state for one dataset and seed: the ground truth (DE genes, targets
    and matched controls per condition) and the dataset's cell and gene names."""

    truth: dict[str, Any]
    seed: int
    obs_names: pd.Index
    var_names: pd.Index
    control: str
    exclude_conditions: list[str]
    truth_key: str

    @property
    def skipped(self) -> dict[str, str]:
        """Conditions not evaluated, with the reason (too few cells or DE genes)."""
        return dict(self.truth["skipped"])

    @property
    def evaluated(self) -> list[str]:
        """Conditions that are scored, in result order."""
        return list(self.truth["conditions"])

    @property
    def matched_controls(self) -> dict[str, list[str]]:
        """Per evaluated condition, its matched control cell names (1:1 with its cells)."""
        return {c: list(v["controls"]) for c, v in self.truth["conditions"].items()}

    @property
    def table(self) -> pd.DataFrame:
        """Every DE gene of each evaluated condition: condition, gene, logfoldchange (log2),
        pval_adj, is_target."""
        rows = []
        for condition, entry in self.truth["conditions"].items():
            targets = set(entry["targets"])
            for gene, lfc, padj in zip(entry["de_genes"], entry["de_logfc"],
                                       entry["de_pval_adj"], strict=True):
                rows.append((condition, gene, lfc, padj, gene in targets))
        return pd.DataFrame(rows, columns=["condition", "gene", "logfoldchange", "pval_adj",
                                           "is_target"])


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
        min_de_genes: the minimum number of targets (default 5): with ``target_rule=
            "reference"`` a condition is scored only if int(target_fraction x n_DE) reaches it;
            with ``"min5"`` conditions with fewer DE genes are skipped and every scored
            condition gets at least that many targets.
        pval_threshold, min_logfc: DE filter, adjusted p < pval_threshold and
            |log2FC| >= min_logfc (defaults 1e-4 and 1).
        target_fraction: fraction of DE genes drawn as targets (default 0.5).
        target_rule: ``"reference"`` (default; cz-benchmarks 0.15.1: int(0.5 x n_DE) targets,
            scored when >= 5, drawn by one legacy ``np.random.seed(seed)`` sequence over the
            conditions in DE-table order) or ``"min5"`` (czbench's earlier rule: every condition
            with >= 5 DE genes, max(5, int(0.5 x n_DE)) targets, a generator per condition);
            see :func:`czbench.tasks.perturbation.truth.draw_truth`.
        layer: layer of raw counts (default: the dataset's counts, see
            :mod:`czbench.datasets.counts`).
        cache_dir: folder for DE cache files (default: none, in-process only); nothing is
            written outside it. Never changes a result.

    ``prepare(adata, context)`` returns the ground truth of that dataset and seed, a
    :class:`PerturbationTruth` (``skipped``, ``evaluated``, ``table``, ``matched_controls``);
    pass it back as ``evaluate(prediction, prepared=truth)``.
    """

    name = "perturbation_expression_prediction"
    description = ("Spearman correlation between predicted and true (Wilcoxon DE) log fold "
                   "changes of perturbed vs matched control cells, per condition")
    metrics = (
        MetricSpec("spearman_correlation_calculation",
                   "Spearman correlation of predicted vs true log fold changes of one "
                   "condition's target genes (params: condition)"),
        MetricSpec("mean_spearman_correlation",
                   "mean over evaluated conditions of spearman_correlation_calculation"),
        MetricSpec("median_spearman_correlation",
                   "median over evaluated conditions of spearman_correlation_calculation"),
    )
    input_kind = "expression"
    column_options = ("condition_key",)
    unrecorded_options = ("cache_dir",)
    accepts_sparse = True
    baselines = (OBSERVED, MEAN_EFFECT, NO_CHANGE)

    def __init__(self, *, condition_key: str = "condition", control: str | None = None,
                 exclude_conditions: Sequence[str] | None = None,
                 conditions: Sequence[str] | None = None, min_cells: int = 20,
                 min_de_genes: int = 5, pval_threshold: float = 1e-4, min_logfc: float = 1.0,
                 target_fraction: float = 0.5, target_rule: str = "reference",
                 layer: str | None = None,
                 cache_dir: str | os.PathLike | None = None) -> None:
        self.condition_key = condition_key
        self.control = None if control is None else str(control)
        names = _names(exclude_conditions)
        self.exclude_conditions = None if names is None else tuple(names)
        self.conditions = _names(conditions)
        self.min_cells = int(min_cells)
        self.min_de_genes = int(min_de_genes)
        self.pval_threshold = float(pval_threshold)
        self.min_logfc = float(min_logfc)
        self.target_fraction = float(target_fraction)
        if not 0 < self.target_fraction <= 1:
            raise InputError("target_fraction: expected a value in (0, 1]")
        if self.min_de_genes < 1 or self.min_cells < 1:
            raise InputError("min_de_genes, min_cells: expected at least 1")
        if target_rule not in TARGET_RULES:
            raise InputError(f"target_rule: expected 'reference' or 'min5', got "
                             f"{target_rule!r}")
        self.target_rule = target_rule
        self.layer = layer
        self.cache_dir = None if cache_dir is None else str(cache_dir)

    # -- ground truth ------------------------------------------------------------------------
    def prepare(self, adata: Any, context: RunContext | None = None) -> PerturbationTruth:
        """The ground truth of ``adata`` for the context's seed (the DE step is cached across
        seeds); pass it to ``run``/``evaluate`` as ``prepared``. Missing columns or controls
        are one-line errors."""
        context = as_context(context)
        Task.check_inputs(self, adata.obs)
        if self.layer is not None and self.layer not in adata.layers:
            raise InputError(f"layer: the dataset has no layer '{self.layer}'")
        control = resolve_control(adata, self.control)
        exclude = resolve_exclude(adata, self.exclude_conditions)
        settings = {"version": TRUTH_VERSION, "condition_key": self.condition_key,
                    "control": control, "exclude_conditions": list(exclude),
                    "conditions": self.conditions, "min_cells": self.min_cells,
                    "pval_threshold": self.pval_threshold, "min_logfc": self.min_logfc,
                    "layer": self.layer}
        key = sha256_parts(dataset_digest(adata, self.condition_key, self.layer), settings)
        de = _DE_CACHE.get(key) or self._read_cache(key)
        if de is None:
            de = differential_expression(
                adata, condition_key=self.condition_key, control=control,
                conditions=self.conditions, exclude_conditions=exclude,
                min_cells=self.min_cells, pval_threshold=self.pval_threshold,
                min_logfc=self.min_logfc, layer=self.layer)
        self._write_cache(key, de)
        if len(_DE_CACHE) >= _DE_CACHE_SIZE and key not in _DE_CACHE:
            _DE_CACHE.pop(next(iter(_DE_CACHE)))
        _DE_CACHE[key] = de
        truth = draw_truth(de, seed=context.seed, min_de_genes=self.min_de_genes,
                           target_fraction=self.target_fraction, target_rule=self.target_rule)
        if not truth["conditions"]:
            reasons = "; ".join(f"{c}: {r}" for c, r in list(truth["skipped"].items())[:4])
            raise InputError(f"conditions: no condition passes the filters ({reasons})")
        return PerturbationTruth(
            truth=truth, seed=context.seed, obs_names=pd.Index(adata.obs_names.astype(str)),
            var_names=pd.Index(adata.var_names.astype(str)), control=control,
            exclude_conditions=list(exclude), truth_key=key)

    def _cache_path(self, key: str) -> Path | None:
        if self.cache_dir is None:
            return None
        return Path(self.cache_dir) / f"perturbation_de_{key[:32]}.json"

    def _read_cache(self, key: str) -> dict[str, Any] | None:
        path = self._cache_path(key)
        if path is None or not path.is_file():
            return None
        try:
            document = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        return document.get("de") if document.get("key") == key else None

    def _write_cache(self, key: str, de: dict[str, Any]) -> None:
        path = self._cache_path(key)
        if path is not None and not path.is_file():
            atomic_write_text(path, json.dumps({"key": key, "de": de}))

    # -- scoring -----------------------------------------------------------------------------
    def run(self, values: Any, obs: pd.DataFrame | None = None, *,
            context: RunContext | None = None, knn: KNNGraph | None = None,
            prepared: PerturbationTruth | None = None) -> list:
        """Score a predicted expression matrix (normalized counts, NOT log-transformed)
        against ``prepared`` (what :meth:`prepare` returned):

        * an AnnData (obs_names = cell names, var_names = gene names; X dense or sparse) or a
          pandas DataFrame (index = cell names, columns = gene names): any order or subset of
          cells and genes, as long as every evaluated cell and target gene is present;
        * an array (numpy, scipy sparse, torch) of exactly the dataset's shape, in its order.

        ``obs`` (optional) is the dataset's obs; it is only checked. ``knn`` is unused.
        """
        return self.evaluate(values, obs, context=context, prepared=prepared).results

    def evaluate(self, values: Any, obs: pd.DataFrame | None = None, *,
                 context: RunContext | None = None, knn: KNNGraph | None = None,
                 prepared: PerturbationTruth | None = None) -> TaskRun:
        context = as_context(context)
        if not isinstance(prepared, PerturbationTruth):
            raise InputError(f"prepared: task '{self.name}' scores against a ground truth; "
                             f"pass prepared=task.prepare(adata, context), got "
                             f"{type(prepared).__name__}")
        if prepared.seed != context.seed:
            raise InputError(f"prepared: the ground truth was drawn for seed {prepared.seed}, "
                             f"the context's seed is {context.seed}; prepare with the same "
                             f"seed")
        if obs is not None:
            Task.check_inputs(self, obs)
        return self._run(values, obs, None, context, prepared=prepared)

    def _run(self, values: Any, obs: pd.DataFrame | None, knn: KNNGraph | None,
             context: RunContext, prepared: PerturbationTruth | None = None) -> TaskRun:
        assert prepared is not None  # evaluate checks it
        truth = prepared.truth
        matrix, rows, cols = align_prediction(values, prepared.obs_names, prepared.var_names,
                                              obs)
        scores, switched = condition_scores(matrix, rows, cols, truth["conditions"])
        results = [self._result("spearman_correlation_calculation", s, condition=c)
                   for c, s in scores.items()]
        per_condition = list(scores.values())
        results.append(self._result("mean_spearman_correlation", float(np.mean(per_condition))))
        results.append(self._result("median_spearman_correlation",
                                    float(np.median(per_condition))))
        return self._output(results, control=prepared.control,
                            exclude_conditions=prepared.exclude_conditions,
                            truth_key=prepared.truth_key,
                            evaluated=list(truth["conditions"]),
                            skipped=dict(truth["skipped"]),
                            difference_conditions=switched)
