"""Task ``batch_integration``: are batches mixed while cell types stay apart?

Definitions: docs/spec.md#task-batch_integration -- cz-benchmarks' pair (``entropy_per_cell``,
``batch_silhouette``) and scib-metrics 0.5.10's batch-correction set (``ilisi_knn``,
``kbet_per_label``, ``graph_connectivity``, ``pcr_comparison``, ``bras``), all from the one
shared kNN graph of the input (200 neighbours, sliced to 90 / 50 / 15 as scib-metrics'
Benchmarker slices its 90).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from czbench.context import RunContext, as_context
from czbench.errors import CZBenchError, CZBenchWarning, InputError
from czbench.metrics.bras import bras
from czbench.metrics.entropy import ENTROPY_K, entropy_per_cell
from czbench.metrics.graph_connectivity import GRAPH_CONNECTIVITY_K, graph_connectivity
from czbench.metrics.kbet import KBET_K, kbet_per_label
from czbench.metrics.lisi import LISI_K, ilisi_knn
from czbench.metrics.pcr import pcr_comparison
from czbench.metrics.silhouette import batch_silhouette
from czbench.neighbors import KNNGraph, knn_graph
from czbench.tasks.base import MetricSpec, Task, TaskRun
from czbench.tasks.classification import check_count
from czbench.utils.checks import check_text

#: cz-benchmarks' pair: ``--option batch_integration.metrics=entropy_per_cell,batch_silhouette``
REFERENCE_PAIR = ("entropy_per_cell", "batch_silhouette")


@dataclass(frozen=True)
class PreIntegration:
    """``batch_integration``'s prepared state: the unintegrated representation of a dataset's
    cells (by name), or why there is none."""

    values: np.ndarray | None
    cells: pd.Index
    note: str | None = None

    def rows(self, obs: pd.DataFrame) -> tuple[np.ndarray | None, str | None]:
        """The rows for the cells scored, matched by name (the callback and ``max_cells``
        score a subset of the dataset's cells); (None, why) when they cannot be."""
        if self.values is None:
            return None, self.note
        names = obs.index.astype(str)
        if len(names) == len(self.cells) and names.equals(self.cells):
            return self.values, None
        position = self.cells.get_indexer(names)
        if (position < 0).any() or not self.cells.is_unique:
            return None, "the cells scored are not the dataset's cells by name"
        return self.values[position], None


class BatchIntegrationTask(Task):
    """Batch mixing, reported by cz-benchmarks' pair and scib-metrics' batch set.

    ``metrics`` restricts the metrics computed (None: all; the choice is recorded with the
    task's options). ``pre_integration`` is the unintegrated representation ``pcr_comparison``
    compares with: ``"pca"`` (the dataset's unintegrated PCA, ``baseline:pca`` or the shipped
    ``X_pca``) or ``"obsm:KEY"``; read in :meth:`prepare` (the run layer, and the callback on
    an ``AnnDataModule``'s dataset), so a task used without a dataset (the estimators) leaves
    ``pcr_comparison`` out with a recorded warning.
    """

    name = "batch_integration"
    description = "Batch mixing: entropy, silhouette, iLISI, kBET, graph connectivity, PCR, BRAS"
    metrics = (
        MetricSpec("entropy_per_cell", "Mean normalised batch entropy in the 200-NN",
                   rewards_structure=False),
        MetricSpec("batch_silhouette", "Mean over cell types of 1 - |batch silhouette|",
                   rewards_structure=False),
        MetricSpec("ilisi_knn", "Median batch LISI in the 90-NN, scaled to [0, 1]",
                   rewards_structure=False),
        MetricSpec("kbet_per_label", "Mean over cell types of the kBET acceptance rate (50-NN)",
                   rewards_structure=False),
        MetricSpec("graph_connectivity",
                   "Mean over cell types of the largest connected share in the 15-NN graph"),
        MetricSpec("pcr_comparison",
                   "Relative drop of the batch variance explained (PC regression)",
                   rewards_structure=False),
        MetricSpec("bras", "Batch-removal-adapted silhouette (cosine, mean over other batches)",
                   rewards_structure=False),
    )
    column_options = ("label_key", "batch_key")
    #: the obs option holding the groups to mix (``species_key`` in the cross-species task)
    mixing_option = "batch_key"

    def __init__(self, *, label_key: str = "cell_type", batch_key: str = "batch",
                 entropy_k: int = ENTROPY_K, metrics: Any = None,
                 pre_integration: str = "pca") -> None:
        super().__init__(label_key=label_key)
        self.batch_key = batch_key
        self.entropy_k = check_count(entropy_k, "entropy_k", 1)
        self.metrics = self.check_metric_choice(metrics)
        self.pre_integration = check_text(pre_integration, "pre_integration")
        if self.pre_integration != "pca" and not self.pre_integration.startswith("obsm:"):
            raise InputError(f"pre_integration: expected 'pca' or 'obsm:KEY', got "
                             f"{pre_integration!r}")

    @property
    def knn_k(self) -> int:
        need = [self.entropy_k if self.selected("entropy_per_cell") else 0,
                LISI_K if self.selected("ilisi_knn") else 0,
                KBET_K if self.selected("kbet_per_label") else 0,
                GRAPH_CONNECTIVITY_K if self.selected("graph_connectivity") else 0]
        return max(need)

    def prepare(self, adata: Any, context: RunContext | None = None) -> PreIntegration | None:
        """The unintegrated representation ``pcr_comparison`` compares with, for this dataset
        and the context's seed (the PCA read from ``context.cache``: computed once per
        dataset and seed, shared with ``baseline:pca`` and the controls)."""
        if not self.selected("pcr_comparison"):
            return None
        cells = pd.Index(adata.obs_names.astype(str))
        if self.pre_integration.startswith("obsm:"):
            key = self.pre_integration[5:]
            if key not in adata.obsm:
                raise InputError(f"pre_integration: obsm key '{key}' not found; obsm has: "
                                 f"{', '.join(adata.obsm) or '(nothing)'}")
            return PreIntegration(np.asarray(adata.obsm[key]), cells)
        from czbench.baselines.controls import unintegrated_pca

        context = as_context(context)
        try:
            return PreIntegration(unintegrated_pca(adata, context.seed, context.cache), cells)
        except CZBenchError as err:
            return PreIntegration(None, cells, f"the dataset has no unintegrated PCA ({err})")

    def _run(self, embedding: Any, obs: pd.DataFrame, knn: KNNGraph | None,
             context: RunContext, prepared: PreIntegration | None = None) -> TaskRun:
        groups = obs[getattr(self, self.mixing_option)].astype(str).to_numpy()
        labels = obs[self.label_key].astype(str).to_numpy()
        if self.knn_k and knn is None:
            knn = knn_graph(embedding, self.knn_k, backend=context.knn_backend,
                            seed=context.seed, device=context.device)
        n = groups.shape[0]
        x = embedding.detach().cpu().numpy() if hasattr(embedding, "detach") and (
            self.selected("pcr_comparison") or self.selected("bras")) else embedding
        values: dict[str, float] = {}
        if self.selected("entropy_per_cell"):
            values["entropy_per_cell"] = entropy_per_cell(
                embedding, groups, k=self.entropy_k, knn=knn, seed=context.seed,
                backend=context.knn_backend, device=context.device)
        if self.selected("batch_silhouette"):
            values["batch_silhouette"] = batch_silhouette(
                embedding, labels, groups, device=context.torch_device(embedding))
        extra = {  # scib-metrics' set: one undefined on these inputs is left out, with a warning
            "ilisi_knn": lambda: ilisi_knn(knn.head(min(LISI_K, n)), groups),
            "kbet_per_label": lambda: kbet_per_label(knn.head(min(KBET_K, n)), groups, labels,
                                                     seed=context.seed),
            "graph_connectivity": lambda: graph_connectivity(
                knn.head(min(GRAPH_CONNECTIVITY_K, n)), labels),
        }
        for metric, compute in extra.items():
            if self.selected(metric):
                _left_out_if_undefined(values, metric, compute)
        if self.selected("pcr_comparison"):
            pre, note = (None, "the task was not prepared with a dataset (Task.prepare)") \
                if prepared is None else prepared.rows(obs)
            if pre is None:
                warnings.warn(f"pcr_comparison: left out: {note}; pass "
                              f"pre_integration='obsm:KEY'", CZBenchWarning, stacklevel=2)
            else:
                _left_out_if_undefined(values, "pcr_comparison",
                                       lambda: pcr_comparison(pre, x, groups))
        if self.selected("bras"):
            _left_out_if_undefined(values, "bras", lambda: bras(x, labels, groups))
        return self._output([self._result(m, v) for m, v in values.items()])


def _left_out_if_undefined(values: dict[str, float], metric: str, compute: Any) -> None:
    """``values[metric] = compute()``; a metric of the scib set that is undefined on these
    inputs (e.g. kBET with every cell type under 10 cells) is left out with a recorded warning
    instead of failing the task's other metrics."""
    try:
        values[metric] = compute()
    except InputError as err:
        warnings.warn(f"{metric}: left out, undefined on these inputs: {err}", CZBenchWarning,
                      stacklevel=3)
