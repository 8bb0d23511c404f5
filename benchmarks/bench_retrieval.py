"""Speed of replicate retrieval (copairs' mAP, phenotypic activity) at 1,000 perturbations.

Synthetic profiles: ``n`` profiles of which 5 % are controls ("DMSO") and the rest spread over
1,000 perturbations (replicate counts drawn multinomially, at least 2, so there are several
``(n_pos, n_total)`` null configurations); half the perturbations shift their replicates by a
random direction (active), half do not. Times ``average_precision`` (all queries),
``mean_average_precision`` with a cold null cache (null draws + p-values + BH) and again with
a warm one (a second embedding of the same dataset and seed reuses the null draws). Prints one
JSON line per size; results: benchmarks/results/retrieval.json.

    PYTHONPATH=. python benchmarks/bench_retrieval.py --sizes 10000,100000 \
        --output benchmarks/results/retrieval.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np

from czbench.context import RunCache
from czbench.metrics import retrieval


def profiles(n: int, n_pert: int, dims: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    n_ctrl = n // 20
    counts = rng.multinomial(n - n_ctrl - 2 * n_pert, np.full(n_pert, 1 / n_pert)) + 2
    labels = np.concatenate([np.repeat(np.arange(n_pert), counts), np.full(n_ctrl, -1)])
    shift = rng.normal(size=(n_pert, dims)) * (np.arange(n_pert) % 2)[:, None] * 0.3
    x = rng.normal(size=(n, dims)).astype(np.float32)
    x[: n - n_ctrl] += np.repeat(shift, counts, axis=0).astype(np.float32)
    names = np.array([f"p{k:04d}" for k in range(n_pert)] + ["DMSO"], dtype=object)
    return x, names[labels]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--perturbations", type=int, default=1000)
    parser.add_argument("--dims", type=int, default=256)
    parser.add_argument("--null-size", type=int, default=retrieval.NULL_SIZE)
    parser.add_argument("--output", help="also write the lines as a JSON list to this file")
    args = parser.parse_args()
    machine = {"machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
               "load_average_1min": round(os.getloadavg()[0], 2),
               "python": platform.python_version(), "numpy": np.__version__}
    rows = []
    for n in (int(s) for s in args.sizes.split(",")):
        x, labels = profiles(n, args.perturbations, args.dims)
        cache = RunCache()  # a run's cache: the warm call reuses the null draws
        start = time.perf_counter()
        table = retrieval.average_precision(x, labels, "DMSO")
        t_ap = time.perf_counter() - start
        start = time.perf_counter()
        result = retrieval.mean_average_precision(table, null_size=args.null_size, seed=0,
                                                  cache=cache)
        t_map = time.perf_counter() - start
        start = time.perf_counter()
        retrieval.mean_average_precision(table, null_size=args.null_size, seed=0, cache=cache)
        t_warm = time.perf_counter() - start
        n_confs = len(np.unique(np.stack([table.n_pos, table.n_total], axis=1), axis=0))
        row = {"n_profiles": n, "n_perturbations": args.perturbations,
               "n_controls": int((labels == "DMSO").sum()), "dims": args.dims,
               "null_size": args.null_size, "null_configurations": n_confs,
               "average_precision_s": round(t_ap, 2), "mean_average_precision_s": round(t_map, 2),
               "mean_average_precision_warm_null_s": round(t_warm, 2),
               "total_s": round(t_ap + t_map, 2),
               "mean_map": round(float(result.mean_average_precision.mean()), 4),
               "fraction_retrieved": retrieval.fraction_retrieved(result), **machine}
        rows.append(row)
        print(json.dumps(row), flush=True)
    if args.output:
        with open(args.output, "w") as fh:
            json.dump(rows, fh, indent=1)
            fh.write("\n")


if __name__ == "__main__":
    main()
