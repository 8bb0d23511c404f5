"""Scale run: the four core tasks at 10k, 100k and 1M cells x 64 dims, with time exponents.

Data: ``czbench.datasets.synthetic.gaussian_mixture`` (12 cell types, each a low-rank Gaussian,
4 batch shifts, seed 0). Each size runs in a fresh subprocess through ``czbench.benchmark``
(one shared kNN graph; backend chosen by size), so its peak RSS is its own. Per task wall time,
peak RSS, and the exponent b of time ~ n^b fitted by least squares on log-log are reported.

    python benchmarks/bench_scale.py                                  # 10k, 100k, 1M
    python benchmarks/bench_scale.py --sizes 10000,100000
    python benchmarks/bench_scale.py --max-cells-error 100000         # label_prediction error
    python benchmarks/bench_scale.py --metric-set pair                # cz-benchmarks' pair only

``--metric-set full`` (default) is the tasks' default: cz-benchmarks' metrics plus the
scib-metrics set (``clisi_knn``, ``isolated_labels``, ``ilisi_knn``, ``kbet_per_label``,
``graph_connectivity``, ``pcr_comparison``, ``bras``); ``pair`` restricts ``embedding`` to
``silhouette_score`` and ``batch_integration`` to ``entropy_per_cell, batch_silhouette`` (the
1M-cell target is set for that). Results go to ``benchmarks/results/scale.json`` (full) or
``benchmarks/results/scale_pair.json`` (pair).

Label prediction runs on a seeded, stratified ``max_cells`` subsample above ``--max-cells``
cells (default 50,000); ``--max-cells-error N`` measures what that costs against the exact
value at N cells.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time

import numpy as np

TASKS = ("clustering", "embedding", "label_prediction", "batch_integration")
STEPS = ("knn_graph", *TASKS)


PAIR = {"embedding": {"metrics": ["silhouette_score"]},
        "batch_integration": {"metrics": ["entropy_per_cell", "batch_silhouette"]}}


def run_one(n: int, max_cells: int, metric_set: str = "full") -> dict:
    """Score one size in this process; returns timings, values and peak RSS."""
    from czbench.datasets.synthetic import gaussian_mixture
    from czbench.run import benchmark

    start = time.perf_counter()
    adata = gaussian_mixture(n, 64, n_types=12, n_batches=4, seed=0)
    generate = time.perf_counter() - start
    options = {"label_prediction": {"max_cells": max_cells}} if n > max_cells else {}
    if metric_set == "pair":
        options.update(PAIR)
    else:  # pcr_comparison compares with the unintegrated representation: the mixture itself
        adata.obsm["X_unintegrated"] = adata.obsm["X_emb"]
        options["batch_integration"] = {"pre_integration": "obsm:X_unintegrated"}
    start = time.perf_counter()
    result = benchmark(adata, ["obsm:X_emb"], list(TASKS), seed=0, task_options=options)
    wall = time.perf_counter() - start
    entry = result.document["embeddings"][0]
    values = {f"{r['task']}/{r['metric']}" + (f"[{r['params']['classifier']}]"
                                              if "classifier" in r["params"] else ""): r["value"]
              for r in result.document["results"]}
    return {"n_cells": n, "metric_set": metric_set, "generate_s": round(generate, 2),
            "wall_s": round(wall, 2),
            "timings_s": entry["timings_s"], "neighbors": entry.get("neighbors"),
            "label_prediction_max_cells": options.get("label_prediction", {}).get("max_cells"),
            "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
            "values": values}


def exponent(sizes: list[int], seconds: list[float]) -> float | None:
    """b in seconds ~ a n^b, least squares on log-log (None with fewer than 2 sizes)."""
    if len(sizes) < 2 or min(seconds) <= 0:
        return None
    return round(float(np.polyfit(np.log(sizes), np.log(seconds), 1)[0]), 2)


def max_cells_error(n: int, max_cells: int, seeds: list[int]) -> dict:
    """label_prediction at n cells, exact vs on a max_cells subsample, per seed.

    The scale run's mixture is separable (every classifier scores 1.0, so any subsample would
    look exact); this uses overlapping types (centre_scale 0.3, noise 1.0: lr ~0.55 and knn
    ~0.81 accuracy at 6k cells), where a subsample can cost accuracy."""
    from czbench.context import RunContext
    from czbench.datasets.synthetic import gaussian_mixture
    from czbench.tasks import get_task

    adata = gaussian_mixture(n, 64, n_types=12, n_batches=4, centre_scale=0.3, noise=1.0,
                             seed=0)
    x = adata.obsm["X_emb"]
    rows = []
    for seed in seeds:
        out = {}
        for cap in (None, max_cells):
            task = get_task("label_prediction", max_cells=cap)
            start = time.perf_counter()
            results = task.run(x, adata.obs, context=RunContext(seed=seed))
            seconds = time.perf_counter() - start
            out[str(cap)] = {"seconds": round(seconds, 1), "values": {
                f"{r.metric}[{r.params['classifier']}]": r.value for r in results}}
        exact, capped = out["None"]["values"], out[str(max_cells)]["values"]
        rows.append({"seed": seed, "exact_s": out["None"]["seconds"],
                     "capped_s": out[str(max_cells)]["seconds"],
                     "abs_error": {k: round(abs(capped[k] - exact[k]), 5) for k in exact},
                     "exact": exact, "capped": capped})
    worst = {k: max(r["abs_error"][k] for r in rows) for k in rows[0]["abs_error"]}
    return {"n_cells": n, "max_cells": max_cells, "per_seed": rows, "max_abs_error": worst}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--max-cells", type=int, default=50_000,
                        help="label_prediction subsample above this many cells")
    parser.add_argument("--max-cells-error", type=int, metavar="N",
                        help="measure label_prediction's max_cells error at N cells instead")
    parser.add_argument("--seeds", default="0,1", help="seeds of --max-cells-error")
    parser.add_argument("--metric-set", choices=("full", "pair"), default="full")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--output", default=None)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one, args.max_cells, args.metric_set)))
        return
    machine = {"platform": platform.platform(), "cpus": os.cpu_count(),
               "python": platform.python_version()}
    if args.max_cells_error:
        seeds = [int(s) for s in args.seeds.split(",")]
        report = {"machine": machine,
                  **max_cells_error(args.max_cells_error, args.max_cells, seeds)}
        print(json.dumps(report["max_abs_error"], indent=1))
        path = args.output or "benchmarks/results/label_prediction_max_cells.json"
    else:
        sizes = [int(s) for s in args.sizes.split(",")]
        runs = []
        for n in sizes:
            proc = subprocess.run([sys.executable, __file__, "--one", str(n), "--max-cells",
                                   str(args.max_cells), "--metric-set", args.metric_set],
                                  capture_output=True, text=True)
            if proc.returncode:
                sys.exit(f"size {n} failed:\n{proc.stderr[-3000:]}")
            runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
            run = runs[-1]
            print(f"n={n}: wall {run['wall_s']} s, peak {run['peak_rss_gb']} GB, "
                  f"{json.dumps(run['timings_s'])}", flush=True)
        fits = {step: exponent([r["n_cells"] for r in runs],
                               [r["timings_s"].get(step, 0.0) for r in runs]) for step in STEPS}
        fits["total"] = exponent([r["n_cells"] for r in runs], [r["wall_s"] for r in runs])
        pairwise = {f"{a['n_cells']}->{b['n_cells']}": {
            step: exponent([a["n_cells"], b["n_cells"]],
                           [a["wall_s"], b["wall_s"]] if step == "total" else
                           [a["timings_s"].get(step, 0.0), b["timings_s"].get(step, 0.0)])
            for step in (*STEPS, "total")} for a, b in zip(runs[:-1], runs[1:], strict=True)}
        report = {"machine": machine, "runs": runs, "exponents": fits,
                  "pairwise_exponents": pairwise}
        print("| step | " + " | ".join(f"{r['n_cells']:,}" for r in runs) + " | exponent |")
        for step in (*STEPS, "total"):
            cells = [r["wall_s"] if step == "total" else r["timings_s"].get(step, 0.0)
                     for r in runs]
            print(f"| {step} | " + " | ".join(f"{c:.1f} s" for c in cells) +
                  f" | {fits[step]} |")
        print("| peak RSS | " + " | ".join(f"{r['peak_rss_gb']} GB" for r in runs) + " | |")
        path = args.output or ("benchmarks/results/scale.json" if args.metric_set == "full"
                               else "benchmarks/results/scale_pair.json")
    with open(path, "w") as fh:
        json.dump(report, fh, indent=1)
        fh.write("\n")
    print(f"written to {path}")


if __name__ == "__main__":
    main()
