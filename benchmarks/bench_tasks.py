"""Wall time and peak memory of the four core tasks on Gaussian-mixture embeddings.

Each (size, task) runs in a fresh subprocess, so its peak RSS is its own and no cache is warm;
each task builds its own kNN graph, as a stand-alone run would. A last row per size runs all four
tasks together through ``czbench.benchmark`` (one shared kNN graph).

    python benchmarks/bench_tasks.py                   # 20,000 and 100,000 cells
    python benchmarks/bench_tasks.py --sizes 20000     # one size
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

TASKS = ("clustering", "embedding", "label_prediction", "batch_integration")
#: cz-benchmarks 0.15.1 on this 2-core machine at 20k cells, seconds (docs/performance.md)
REFERENCE_20K = {"clustering": 44, "embedding": 11, "label_prediction": 60,
                 "batch_integration": 23}


def mixture(n: int, dims: int = 64, n_types: int = 12, n_batches: int = 4, seed: int = 0):
    """Gaussian mixture: 12 cell types (centres ~N(0, 0.6²)), 4 additive batch shifts
    (~N(0, 0.3²)), unit noise per dimension."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    types = rng.integers(0, n_types, n)
    batches = rng.integers(0, n_batches, n)
    centres = rng.normal(scale=0.6, size=(n_types, dims))
    shifts = rng.normal(scale=0.3, size=(n_batches, dims))
    x = centres[types] + shifts[batches] + rng.normal(size=(n, dims))
    obs = pd.DataFrame({"cell_type": types.astype(str), "batch": batches.astype(str)})
    return x.astype(np.float32), obs


def worker(n: int, task: str) -> dict:
    from czbench.run import benchmark
    from czbench.tasks import get_task

    x, obs = mixture(n)
    start = time.perf_counter()
    if task == "all":
        import anndata as ad

        adata = ad.AnnData(obs=obs)
        adata.obsm["X_emb"] = x
        result = benchmark(adata, ["obsm:X_emb"], list(TASKS))
        values = {f"{r.task}/{r.metric}": r.value for r in result.results if not r.params}
    else:
        values = {r.metric: r.value for r in get_task(task).run(x, obs) if not r.params
                  or r.params.get("classifier", "").startswith("MEAN")}
    wall = time.perf_counter() - start
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"n": n, "task": task, "wall_s": wall, "peak_rss_mib": peak_mib, "values": values}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="20000,100000")
    parser.add_argument("--tasks", default=",".join((*TASKS, "all")))
    parser.add_argument("--worker", nargs=2, metavar=("N", "TASK"))
    parser.add_argument("--output", default="benchmarks/results/tasks.json")
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(int(args.worker[0]), args.worker[1])))
        return
    rows = []
    for n in map(int, args.sizes.split(",")):
        for task in args.tasks.split(","):
            out = subprocess.run([sys.executable, __file__, "--worker", str(n), task],
                                 capture_output=True, text=True, check=True)
            row = json.loads(out.stdout.strip().splitlines()[-1])
            rows.append(row)
            ref = REFERENCE_20K.get(task) if n == 20000 else None
            speedup = f"{ref / row['wall_s']:.1f}x" if ref else "-"
            print(f"| {n:,} | {task} | {row['wall_s']:.1f} | {row['peak_rss_mib']:.0f} | "
                  f"{ref or '-'} | {speedup} |", flush=True)
    machine = {"platform": platform.platform(), "cpus": os.cpu_count(),
               "processor": platform.processor()}
    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    with open(args.output, "w") as fh:
        json.dump({"machine": machine, "rows": rows}, fh, indent=2)


if __name__ == "__main__":
    main()
