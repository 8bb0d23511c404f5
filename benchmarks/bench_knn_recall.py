"""Recall of the faiss IVF kNN backend against exact search, and its wall time.

Recall@k = |approximate k-NN set ∩ exact k-NN set| / k per cell (self included in both),
averaged. At n <= 200k every cell is checked against the exact torch graph; above, ``--queries``
random cells are checked against brute force. Two kinds of 64-d data:

* ``lowrank``: the scale run's mixture (12 types, each a rank-8 Gaussian + small noise),
  the shape of real embeddings (a few programmes per cell type);
* ``isotropic``: 12 overlapping isotropic Gaussians (centres ~N(0, 0.6^2), unit noise): every
  dimension is noise, the worst case for any approximate index.

    python benchmarks/bench_knn_recall.py --sizes 100000,1000000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np
import torch

from czbench.datasets.synthetic import gaussian_mixture
from czbench.neighbors import knn_graph
from czbench.neighbors.faiss_ivf import IVF_NPROBE

K = (15, 200)  # the clustering graph and the entropy (largest k the core tasks use)


def isotropic(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=0.6, size=(12, 64))
    return (centres[rng.integers(0, 12, n)] + rng.normal(size=(n, 64))).astype(np.float32)


def exact_rows(x: np.ndarray, rows: np.ndarray, k: int) -> np.ndarray:
    """Exact k-NN (self first) of ``rows`` by brute force in float64."""
    xt = torch.from_numpy(x).double()
    out = []
    for start in range(0, len(rows), 256):
        q = xt[torch.from_numpy(rows[start:start + 256])]
        d2 = torch.cdist(q, xt)
        d2[torch.arange(len(q)), torch.from_numpy(rows[start:start + 256])] = -1.0
        out.append(torch.topk(d2, k, largest=False).indices.numpy())
    return np.concatenate(out)


def recall(approx: np.ndarray, exact: np.ndarray) -> float:
    k = exact.shape[1]
    return float(np.mean([len(set(a[:k]) & set(b)) / k for a, b in
                          zip(approx, exact, strict=True)]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--kinds", default="lowrank,isotropic")
    parser.add_argument("--skip", default="", help="SIZE:KIND pairs to skip, comma-separated")
    parser.add_argument("--output", default="benchmarks/results/knn_recall.json")
    args = parser.parse_args()
    rows_out = []
    for n in (int(s) for s in args.sizes.split(",")):
        for kind in args.kinds.split(","):
            if f"{n}:{kind}" in args.skip.split(","):
                continue
            x = gaussian_mixture(n, 64, seed=0).obsm["X_emb"] if kind == "lowrank" \
                else isotropic(n)
            start = time.perf_counter()
            approx = knn_graph(x, max(K), backend="faiss-ivf", seed=0)
            ivf_s = time.perf_counter() - start
            row = {"n_cells": n, "data": kind, "nprobe_start": IVF_NPROBE,
                   "nprobe_chosen": approx.nprobe, "recall_estimated": approx.recall,
                   "faiss_ivf_s": round(ivf_s, 1)}
            if n <= 200_000:
                start = time.perf_counter()
                exact = knn_graph(x, max(K), backend="exact")
                row["exact_s"] = round(time.perf_counter() - start, 1)
                checked = np.arange(n)
                reference = exact.indices
            else:
                checked = np.sort(np.random.default_rng(1).choice(n, args.queries,
                                                                 replace=False))
                reference = exact_rows(x, checked, max(K))
            for k in K:
                row[f"recall@{k}"] = round(recall(approx.indices[checked, :k],
                                                  reference[:, :k]), 4)
            row["cells_checked"] = int(len(checked))
            print(json.dumps(row), flush=True)
            rows_out.append(row)
    report = {"machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
              "rows": rows_out}
    with open(args.output, "w") as fh:
        json.dump(report, fh, indent=1)
        fh.write("\n")


if __name__ == "__main__":
    main()
