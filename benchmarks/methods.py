"""The reference integration methods next to the unintegrated PCA, on the shipped batch datasets.

    python benchmarks/methods.py                      # all datasets, seeds 0 1 2 (~25 min, 2 cores)
    python benchmarks/methods.py --datasets lung_celllines_mixology --seeds 0

For each dataset: ``czbench.benchmark`` with ``baseline:pca`` and the models ``harmony``,
``scvi``, ``scanorama``, ``combat`` (no cache, so each model's wall time is measured), the
default tasks (clustering, embedding, label_prediction, batch_integration with the scib-metrics
set), every seed. Writes

* ``benchmarks/results/methods/<dataset>.json`` -- the results documents;
* ``benchmarks/results/methods/summary.json`` and ``summary.md`` -- per dataset and method:
  every headline metric as mean ± sd over seeds, the scIB-style aggregates, and the wall time
  (model and scoring);
* ``docs/img/methods_<dataset>.png`` -- the scIB-style summary picture (``czbench report``).

``docs/methods.md`` quotes ``summary.md``.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

import czbench
from czbench.report import write_report

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "methods"
DATASETS = ("pbmc_3chemistries_symphony", "lung_celllines_mixology",
            "pancreas_baron_human_mouse")
MODELS = ("harmony", "scvi", "scanorama", "combat")
#: the headline rows of the table: (task, metric); label prediction's MEAN classifier row
HEADLINE = (("clustering", "adjusted_rand_index"), ("clustering", "normalized_mutual_info"),
            ("embedding", "silhouette_score"), ("embedding", "clisi_knn"),
            ("embedding", "isolated_labels"), ("label_prediction", "mean_fold_f1"),
            ("batch_integration", "entropy_per_cell"), ("batch_integration", "batch_silhouette"),
            ("batch_integration", "ilisi_knn"), ("batch_integration", "kbet_per_label"),
            ("batch_integration", "graph_connectivity"),
            ("batch_integration", "pcr_comparison"), ("batch_integration", "bras"))
AGGREGATES = ("avg_bio", "scib_overall", "scib_bio", "scib_batch", "scib_total")


def _label(source: str) -> str:
    return source.split(":", 1)[1] if source.startswith("model:") else source


def summarise(doc: dict) -> list[dict]:
    """One row per input: headline means ± sd, aggregates, wall times (mean over seeds)."""
    rows = []
    for source in dict.fromkeys(e["source"] for e in doc["embeddings"]):
        row = {"dataset": doc["dataset"]["name"], "method": _label(source)}
        for task, metric in HEADLINE:
            hit = [r for r in doc["summary"] if r["embedding"] == source and r["task"] == task
                   and r["metric"] == metric and (not r["params"] or
                                                  r["params"] == {"classifier":
                                                                  "MEAN(knn,lr,rf)"})]
            if hit:
                row[metric] = {"mean": hit[0]["mean"], "std": hit[0]["std"]}
        aggregate = next(a for a in doc["aggregates"] if a["embedding"] == source)
        row.update({k: aggregate.get(k) for k in AGGREGATES})
        entries = [e for e in doc["embeddings"] if e["source"] == source]
        model = [e["timings_s"].get("model", 0.0) for e in entries]
        scoring = [sum(v for k, v in e["timings_s"].items() if k != "model") for e in entries]
        row["model_s"] = statistics.fmean(model) if "model" in entries[0]["timings_s"] \
            else None
        row["scoring_s"] = statistics.fmean(scoring)
        rows.append(row)
    return rows


def markdown(rows: list[dict], seeds: list[int]) -> str:
    metrics = [m for _, m in HEADLINE]
    lines = [f"Seeds {', '.join(map(str, seeds))}; cells: mean ± sd over seeds. Machine: "
             f"{platform.machine()}, {platform.python_version()}.\n"]
    for dataset in dict.fromkeys(r["dataset"] for r in rows):
        part = [r for r in rows if r["dataset"] == dataset]
        lines += [f"\n### {dataset}\n", "| metric | " + " | ".join(r["method"] for r in part)
                  + " |", "|---|" + "---|" * len(part)]
        for metric in metrics:
            cells = []
            for r in part:
                v = r.get(metric)
                cells.append("-" if v is None else f"{v['mean']:.3f}" + (
                    f" ± {v['std']:.3f}" if v["std"] is not None else ""))
            lines.append(f"| {metric} | " + " | ".join(cells) + " |")
        for key in AGGREGATES:
            lines.append(f"| **{key}** | " + " | ".join(
                "-" if r[key] is None else f"**{r[key]:.3f}**" for r in part) + " |")
        lines.append("| model wall time (s) | " + " | ".join(
            "-" if r["model_s"] is None else f"{r['model_s']:.1f}" for r in part) + " |")
        lines.append("| scoring wall time (s) | " + " | ".join(
            f"{r['scoring_s']:.1f}" for r in part) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS))
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    rows = []
    for dataset in args.datasets:
        start = time.perf_counter()
        result = czbench.benchmark(dataset, ["baseline:pca"], models=args.models,
                                   seeds=args.seeds, use_cache=False)
        path = OUT / f"{dataset}.json"
        shipped = Path(result.document["dataset"]["path"] or "")
        if shipped.is_relative_to(ROOT):  # committed files name no machine's folders
            result.document["dataset"]["path"] = str(shipped.relative_to(ROOT))
        result.write_json(path, overwrite=True)
        with tempfile.TemporaryDirectory() as report:  # only its summary picture is kept
            write_report([path], report, overwrite=True)
            (ROOT / "docs" / "img" / f"methods_{dataset}.png").write_bytes(
                (Path(report) / "summary.png").read_bytes())
        rows += summarise(result.document)
        print(f"{dataset}: {time.perf_counter() - start:.0f} s", flush=True)
    (OUT / "summary.json").write_text(json.dumps(rows, indent=1) + "\n")
    (OUT / "summary.md").write_text(markdown(rows, args.seeds))
    print(markdown(rows, args.seeds))


if __name__ == "__main__":
    main()
