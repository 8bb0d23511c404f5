"""Scoring with czbench's engine (:func:`czbench.run.benchmark`) on the public and the
private part of a challenge's cells, and the public view of a results document.

A submission's scores are the summary means of its params-free metrics (``task/metric``);
its ``mean_control_normalized`` is czbench's ``mean_normalized`` aggregate computed against
the challenge's reference controls (:func:`czbench.run.summary.summarize`).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import anndata as ad
import numpy as np

from czbench.run import benchmark
from czbench.run.summary import summarize
from czbench.serve.models import Challenge

PARTS = ("public", "private")
#: the aggregates on the board: (key, higher is better)
AGGREGATES = (("mean_control_normalized", True), ("avg_bio", True))
#: the name a submission's embedding has in its results documents
SUBMISSION = "submission"


@lru_cache(maxsize=4)
def challenge_data(folder: str) -> tuple[ad.AnnData, np.ndarray]:
    """(full data in the published order, public mask) of a challenge folder (server only)."""
    full = ad.read_h5ad(Path(folder) / "full.h5ad")
    mask = np.load(Path(folder) / "split.npy", allow_pickle=False)
    return full, mask


def score_parts(challenge: Challenge, full: ad.AnnData, mask: np.ndarray,
                inputs: dict[str, Any], *, controls: bool = False,
                scheduler: Any = None) -> dict[str, dict]:
    """{part: results document} of ``inputs`` (arrays in the published order, or specs such as
    ``baseline:pca``) on the challenge's tasks, seed and task options; ``scheduler`` as for
    :func:`czbench.benchmark` (None: in this process)."""
    out = {}
    for part, cells in (("public", mask), ("private", ~mask)):
        subset = full[cells].copy()
        part_inputs = {name: value[cells] if isinstance(value, np.ndarray) else value
                       for name, value in inputs.items()}
        out[part] = benchmark(subset, part_inputs, list(challenge.tasks), seed=challenge.seed,
                              controls=controls,
                              task_options=dict(challenge.task_options) or None,
                              scheduler=scheduler).document
    return out


def scores(document: dict[str, Any], embedding: str) -> dict[str, float]:
    """{``task/metric``: mean over seeds} of ``embedding``'s params-free metrics."""
    return {f"{row['task']}/{row['metric']}": row["mean"] for row in document["summary"]
            if row["embedding"] == embedding and not row["params"]}


def aggregates(document: dict[str, Any], embedding: str,
               control_rows: list[dict[str, Any]]) -> dict[str, float | None]:
    """The board's aggregates of ``embedding``: its control-normalised mean against
    ``control_rows`` (the reference controls' result rows on the same part) and AvgBIO."""
    own = [row for row in document["results"] if row["embedding"] == embedding]
    merged = summarize({"results": [*control_rows, *own]})
    found = next(a for a in merged["aggregates"] if a["embedding"] == embedding)
    return {"mean_control_normalized": found["mean_normalized"], "avg_bio": found["avg_bio"]}


def only(document: dict[str, Any], embedding: str) -> dict[str, Any]:
    """``document`` restricted to one embedding's entries (a reference row's document)."""
    out = dict(document)
    for key in ("embeddings",):
        out[key] = [e for e in document[key] if e["source"] == embedding]
    for key in ("results", "summary", "aggregates"):
        out[key] = [r for r in document[key] if r["embedding"] == embedding]
    return out


def _round(value: Any, digits: int) -> Any:
    return round(value, digits) if isinstance(value, float) else value


def public_view(document: dict[str, Any], challenge: Challenge, part: str) -> dict[str, Any]:
    """What leaves the server of a results document: values rounded to the challenge's
    digits; params-free rows only (no per-class or per-condition row); no per-input
    ``resolved``, ``warnings`` (which can name labels), shape or hash (the part's size and
    cells stay unknown); the dataset named by the challenge
    and its public file's sha256 (the part's own hash covers held-out labels)."""
    digits = challenge.digits
    keep = ("schema_version", "czbench_version", "created_utc", "seed", "seeds", "controls",
            "context", "tasks", "origins", "environment")
    out: dict[str, Any] = {key: document[key] for key in keep if key in document}
    out["dataset"] = {"name": f"challenge:{challenge.id}", "part": part,
                      "public_data_sha256": challenge.public_sha256,
                      "source_sha256": challenge.dataset_sha256}
    out["embeddings"] = [{key: entry[key] for key in ("source", "kind", "role", "seed")
                          if key in entry} for entry in document["embeddings"]]
    out["results"] = [{**row, "value": _round(row["value"], digits)}
                      for row in document["results"] if not row["params"]]
    out["summary"] = [{**row, "mean": _round(row["mean"], digits),
                       "std": _round(row["std"], digits),
                       "normalized": _round(row["normalized"], digits),
                       "values": [_round(v, digits) for v in row["values"]]}
                      for row in document["summary"] if not row["params"]]
    out["aggregates"] = [{key: _round(value, digits) for key, value in row.items()}
                         for row in document["aggregates"]]
    return out


def rounded(values: dict[str, Any] | None, digits: int) -> dict[str, Any] | None:
    """``values`` with every float rounded to ``digits`` (None stays None)."""
    if values is None:
        return None
    return {key: _round(value, digits) for key, value in values.items()}
