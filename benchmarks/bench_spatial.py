"""The spatial suite's cost in n: a synthetic tissue (czbench.datasets.synthetic.spatial_tissue,
~100 µm² per cell, 30 genes, 6 types in 4 regions) scored end to end on one core's worth of
work: load (coordinates checked, tiles), baseline:spatial_pca, the spatial controls,
niche_composition (15-NN composition, 5 blocked ridge folds) and spatial_domains (Leiden +
k-means + CHAOS + PAS) on the spatial_pca embedding. Times are fitted as a * n^b and
extrapolated to 1M cells (the machine this ran on was shared; the raw times are written too).

    python benchmarks/bench_spatial.py [--sizes 20000,40000,80000] [--clock wall|cpu]
                                       [--out FILE.json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from czbench.baselines.spatial import spatial_controls, spatial_pca
from czbench.context import RunContext
from czbench.datasets import from_anndata
from czbench.datasets.synthetic import spatial_tissue
from czbench.neighbors.spatial import spatial_neighbors
from czbench.tasks import get_task

TARGET = 1_000_000


def run_once(n: int, clock=time.perf_counter) -> dict[str, float]:
    """Seconds per step on ``clock`` (wall time, or process CPU time: on a shared machine the
    CPU seconds are the better estimate of the work)."""
    times: dict[str, float] = {}
    start = clock()
    adata = from_anndata(spatial_tissue(n, 30, seed=0), modality="spatial")
    times["load"] = clock() - start
    t = clock()
    spatial_neighbors(adata.obsm["spatial"], n_neighbors=15)
    times["spatial_knn_15"] = clock() - t
    t = clock()
    emb = spatial_pca(adata, 0)
    times["baseline_spatial_pca"] = clock() - t
    t = clock()
    spatial_controls(adata, 0)
    times["controls"] = clock() - t
    context = RunContext(seed=0, device="cpu")
    for name in ("niche_composition", "spatial_domains"):
        t = clock()
        get_task(name).evaluate(emb, adata.obs, context=context)
        times[name] = clock() - t
    times["total"] = clock() - start
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="20000,40000,80000")
    parser.add_argument("--out", default=None)
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    clock = time.perf_counter if args.clock == "wall" else time.process_time
    run_once(2000, clock)  # warm-up: imports, numba/igraph first calls
    rows = {n: run_once(n, clock) for n in sizes}
    report = {"sizes": sizes, "clock": args.clock, "seconds": rows, "fit": {}}
    for part in rows[sizes[0]]:
        y = np.log([rows[n][part] for n in sizes])
        b, log_a = np.polyfit(np.log(sizes), y, 1)
        report["fit"][part] = {"exponent": round(float(b), 3),
                               "extrapolated_1M_s": round(float(np.exp(log_a) * TARGET ** b), 1)}
    for part, fit in report["fit"].items():
        print(f"{part:>22}: " + "  ".join(f"{rows[n][part]:7.2f}s" for n in sizes) +
              f"   n^{fit['exponent']:.2f}  -> 1M: {fit['extrapolated_1M_s']:.0f} s")
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
