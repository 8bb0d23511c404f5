"""``BenchmarkResult``: the results document of one run, plus convenient views."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from czbench.run.document import results_frame, write_json
from czbench.tasks import MetricResult


@dataclass
class BenchmarkResult:
    """Results of one run: the document written to JSON, plus convenient views."""

    document: dict[str, Any]
    results: list[MetricResult] = field(default_factory=list)

    def to_frame(self) -> pd.DataFrame:
        """Tidy table: one row per (embedding, seed, task, metric, params)."""
        return results_frame(self.document)

    def wide(self) -> pd.DataFrame:
        """Mean over seeds: metrics as rows, embeddings as columns."""
        frame = self.summary_frame()
        return frame.pivot_table(index=["task", "metric", "params"], columns="embedding",
                                 values="mean", sort=False)

    def summary_frame(self) -> pd.DataFrame:
        """One row per (embedding, task, metric, params): mean, std, values, normalized."""
        return results_frame({"results": self.document["summary"]})

    def aggregates_frame(self) -> pd.DataFrame:
        """One row per embedding: avg_bio, scib_overall, mean_normalized."""
        return pd.DataFrame(self.document["aggregates"]).set_index("embedding")

    def write_json(self, path: str | Path, *, overwrite: bool = False) -> Path:
        """Write the document (validated, atomic; see :func:`czbench.run.document.write_json`)."""
        return write_json(self.document, path, overwrite=overwrite)
