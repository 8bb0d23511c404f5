"""Task ``replicate_retrieval``: do a perturbation's replicate profiles find each other ahead of
the controls? (copairs' mean average precision, "phenotypic activity" setting).

Definitions: docs/spec.md#mean_average_precision and docs/spec.md#fraction_retrieved. A profile
is one row of the input: a well of an image-based screen, or a cell (or a pseudo-bulk of cells)
of a single-cell screen.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from czbench.context import RunContext
from czbench.errors import InputError
from czbench.metrics.retrieval import (
    NULL_SIZE,
    THRESHOLD,
    average_precision,
    fraction_retrieved,
    mean_average_precision,
)
from czbench.neighbors import KNNGraph
from czbench.tasks.base import MetricSpec, Task, TaskRun
from czbench.tasks.classification import check_count
from czbench.utils.checks import check_number, check_text


class ReplicateRetrievalTask(Task):
    """Per perturbation, the mean over its profiles of the average precision of ranking its
    other replicates above the controls by cosine similarity; a seeded permutation p-value,
    Benjamini-Hochberg across perturbations, and the share retrieved at ``threshold``.

    Reports ``mean_average_precision`` (the mean over perturbations, no params; and one row
    per perturbation with params ``{"perturbation": ...}``) and ``fraction_retrieved``. The
    p-values and the corrected p-values per perturbation are recorded with the run
    (``resolved``). Options: ``perturbation_key`` (obs column), ``control`` (its control
    value), ``null_size``, ``threshold``.
    """

    name = "replicate_retrieval"
    description = "Replicate retrieval: mAP of a perturbation's replicates against controls"
    metrics = (
        MetricSpec("mean_average_precision",
                   "Mean average precision of retrieving replicates over controls (cosine)"),
        MetricSpec("fraction_retrieved",
                   "Share of perturbations with BH-corrected p < threshold"),
    )
    column_options = ("perturbation_key",)

    def __init__(self, *, perturbation_key: str = "perturbation", control: str = "DMSO",
                 null_size: int = NULL_SIZE, threshold: float = THRESHOLD) -> None:
        self.perturbation_key = check_text(perturbation_key, "perturbation_key")
        self.control = check_text(control, "control")
        self.null_size = check_count(null_size, "null_size", 1)
        self.threshold = check_number(threshold, "threshold", 0.0, 1.0, open_minimum=True)

    def check_inputs(self, obs: pd.DataFrame, n_cells: int | None = None) -> None:
        super().check_inputs(obs, n_cells)
        values = obs[self.perturbation_key].astype(str)
        if not (values == self.control).any():
            shown = ", ".join(map(str, values.value_counts().index[:5]))
            raise InputError(f"control: obs column '{self.perturbation_key}' has no "
                             f"'{self.control}' profiles; its most frequent values: {shown}")

    def _run(self, embedding: Any, obs: pd.DataFrame, knn: KNNGraph | None,
             context: RunContext) -> TaskRun:
        x = embedding.detach().cpu().numpy() if hasattr(embedding, "detach") else embedding
        labels = obs[self.perturbation_key].astype(str).to_numpy()
        ap = average_precision(x, labels, self.control)
        table = mean_average_precision(ap, null_size=self.null_size, threshold=self.threshold,
                                       seed=context.seed)
        results = [self._result("mean_average_precision",
                                float(np.mean(table.mean_average_precision))),
                   self._result("fraction_retrieved", fraction_retrieved(table))]
        results += [self._result("mean_average_precision", float(value), perturbation=str(p))
                    for p, value in zip(table.perturbation, table.mean_average_precision,
                                        strict=True)]
        resolved = {
            "n_perturbations": len(table), "n_controls": int((labels == self.control).sum()),
            "p_value": {str(p): float(v) for p, v in zip(table.perturbation, table.p_value,
                                                         strict=True)},
            "corrected_p_value": {str(p): float(v) for p, v in
                                  zip(table.perturbation, table.corrected_p_value, strict=True)},
        }
        return self._output(results, **resolved)
