"""Exact kNN on CPU: czbench's blocked torch search vs faiss's exact ``IndexFlatL2``.

Both return the exact k nearest neighbours (self included); the faster one is czbench's exact
backend. Runs on the scale run's low-rank Gaussian mixture (64 dims) and prints one JSON line per
(n, k, implementation) with the best of ``--repeats`` wall times; also checks that the two agree
(the fraction of identical neighbour sets, ties aside). Results: benchmarks/results/knn_exact.json.

    PYTHONPATH=. python benchmarks/bench_knn_exact.py --sizes 20000,100000 --k 15,200
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np
import torch


def faiss_exact(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    import faiss

    x = np.ascontiguousarray(x - x.mean(axis=0), dtype=np.float32)
    index = faiss.IndexFlatL2(x.shape[1])
    index.add(x)
    d2, idx = index.search(x, k)
    return idx, np.sqrt(np.clip(d2, 0, None))


def torch_exact(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    from czbench.neighbors import knn_graph

    graph = knn_graph(x, k, backend="exact", device="cpu")
    return graph.indices, graph.distances


def best_of(fn, x: np.ndarray, k: int,
            repeats: int) -> tuple[float, tuple[np.ndarray, np.ndarray]]:
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn(x, k)
        times.append(time.perf_counter() - start)
    return min(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="20000,100000")
    parser.add_argument("--k", default="15,200")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--output", help="also write the lines as a JSON list to this file")
    args = parser.parse_args()
    from czbench.datasets.synthetic import gaussian_mixture

    rows = []
    machine = {"machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
               "torch_threads": torch.get_num_threads()}
    for n in (int(s) for s in args.sizes.split(",")):
        x = np.asarray(gaussian_mixture(n, 64, seed=0).obsm["X_emb"])
        for k in (int(v) for v in args.k.split(",")):
            t_torch, (i_torch, _) = best_of(torch_exact, x, k, args.repeats)
            t_faiss, (i_faiss, _) = best_of(faiss_exact, x, k, args.repeats)
            same = float(np.mean([set(a) == set(b) for a, b in
                                  zip(i_torch[:2000], i_faiss[:2000], strict=True)]))
            row = {"n_cells": n, "dims": 64, "k": k, "torch_exact_s": round(t_torch, 2),
                   "faiss_flat_s": round(t_faiss, 2), "same_neighbour_sets": same, **machine}
            rows.append(row)
            print(json.dumps(row), flush=True)
    if args.output:
        with open(args.output, "w") as fh:
            json.dump(rows, fh, indent=1)
            fh.write("\n")


if __name__ == "__main__":
    main()
