"""Summaries of a results document: per-metric mean / sd over seeds, control-normalised
scores, and the aggregates people compare (AvgBIO, scIB overall, mean normalised score).
Definitions: docs/spec.md#aggregates.

* ``normalized`` = (v - min over controls) / (max over controls - min over controls), flipped
  where lower is better; ``None`` without controls or when the controls tie. Stored unclipped
  beside the raw value; aggregates clip it to [0, 1].
* ``avg_bio`` = mean(adjusted_rand_index, normalized_mutual_info, silhouette_score) — the
  foundation-model papers' AvgBIO, on raw values.
* ``scib_overall`` = 0.6 * mean(bio) + 0.4 * mean(batch), bio = the AvgBIO metrics, batch =
  (entropy_per_cell, batch_silhouette), on raw values (no min-max scaling across methods).
* ``mean_normalized`` = plain mean of the clipped normalised scores of every metric.
* ``scib_bio``, ``scib_batch``, ``scib_total``: scib-metrics' Benchmarker summary on raw
  values -- bio = mean(isolated_labels, Leiden NMI and ARI, silhouette_score, clisi_knn),
  batch = mean(bras, ilisi_knn, kbet_per_label, graph_connectivity, pcr_comparison), total =
  0.6 * bio + 0.4 * batch; ``None`` unless every metric of the set was computed.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from typing import Any

from czbench.utils.params import params_key

BIO = (("clustering", "adjusted_rand_index"), ("clustering", "normalized_mutual_info"),
       ("embedding", "silhouette_score"))
BATCH = (("batch_integration", "entropy_per_cell"), ("batch_integration", "batch_silhouette"))
#: scib-metrics 0.5.10 Benchmarker's sets (its Leiden clustering is czbench's ``clustering``)
SCIB_BIO = (("embedding", "isolated_labels"), ("clustering", "normalized_mutual_info"),
            ("clustering", "adjusted_rand_index"), ("embedding", "silhouette_score"),
            ("embedding", "clisi_knn"))
SCIB_BATCH = (("batch_integration", "bras"), ("batch_integration", "ilisi_knn"),
              ("batch_integration", "kbet_per_label"),
              ("batch_integration", "graph_connectivity"),
              ("batch_integration", "pcr_comparison"))
CONTROL_PREFIX = "control:"


def _key(row: dict[str, Any]) -> tuple[str, str, str]:
    return row["task"], row["metric"], params_key(row["params"])


def summarize(document: dict[str, Any]) -> dict[str, Any]:
    """Add ``summary`` and ``aggregates`` to ``document`` (in place) and return it."""
    grouped: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
    for row in document["results"]:
        grouped[(row["embedding"], *_key(row))].append(row)
    means = {k: statistics.fmean(r["value"] for r in rows) for k, rows in grouped.items()}
    controls = defaultdict(list)
    for (embedding, *key), value in means.items():
        if embedding.startswith(CONTROL_PREFIX):
            controls[tuple(key)].append(value)
    summary = []
    for (embedding, task, metric, params), rows in grouped.items():
        values = [r["value"] for r in rows]
        mean = means[(embedding, task, metric, params)]
        higher = rows[0]["higher_is_better"]
        summary.append({
            "embedding": embedding, "task": task, "metric": metric, "params": rows[0]["params"],
            "higher_is_better": higher, "mean": mean,
            "std": statistics.stdev(values) if len(values) > 1 else None,
            "values": values, "seeds": [r.get("seed") for r in rows], "n": len(values),
            "normalized": _normalize(mean, controls.get((task, metric, params)), higher),
        })
    document["summary"] = summary
    document["aggregates"] = _aggregates(summary)
    return document


def _normalize(value: float, control_values: list[float] | None, higher: bool) -> float | None:
    if not control_values:
        return None
    low, high = min(control_values), max(control_values)
    if high - low <= 1e-12:
        return None
    score = (value - low) / (high - low)
    return score if higher else 1.0 - score


def _aggregates(summary: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by_embedding: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in summary:
        by_embedding[row["embedding"]].append(row)
    out = []
    for embedding, rows in by_embedding.items():
        plain = {(r["task"], r["metric"]): r["mean"] for r in rows if not r["params"]}
        bio = [plain[k] for k in BIO if k in plain]
        batch = [plain[k] for k in BATCH if k in plain]
        avg_bio = statistics.fmean(bio) if len(bio) == len(BIO) else None
        overall = 0.6 * avg_bio + 0.4 * statistics.fmean(batch) \
            if avg_bio is not None and len(batch) == len(BATCH) else None
        normalized = [min(1.0, max(0.0, r["normalized"])) for r in rows
                      if r["normalized"] is not None]
        scib_bio = _mean_of(plain, SCIB_BIO)
        scib_batch = _mean_of(plain, SCIB_BATCH)
        out.append({"embedding": embedding, "avg_bio": avg_bio, "scib_overall": overall,
                    "mean_normalized": statistics.fmean(normalized) if normalized else None,
                    "scib_bio": scib_bio, "scib_batch": scib_batch,
                    "scib_total": 0.6 * scib_bio + 0.4 * scib_batch
                    if scib_bio is not None and scib_batch is not None else None})
    return out


def _mean_of(plain: dict[tuple[str, str], float], keys: tuple[tuple[str, str], ...]
             ) -> float | None:
    values = [plain[k] for k in keys if k in plain]
    return statistics.fmean(values) if len(values) == len(keys) else None
