"""Prepared GPU check of the torch metric path (issue #6): exact kNN and exact silhouette.

Times ``knn_graph`` (k = 15 and 200) and ``silhouette_samples`` at N cells x 64 dims on a device
(default: CUDA), and checks the device values against the CPU path on a subsample that the CPU
can do quickly. Prints one JSON line per measurement; run it where a GPU is lent:

    python benchmarks/bench_gpu.py --n 1000000 --compare-n 50000      # on a GPU machine
    python benchmarks/bench_gpu.py --device cpu --n 5000 --compare-n 2000  # smoke test here
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from czbench.metrics.silhouette import silhouette_samples
from czbench.neighbors import knn_graph


def mixture(n: int, dims: int = 64, n_types: int = 12, seed: int = 0):
    rng = np.random.default_rng(seed)
    types = rng.integers(0, n_types, n)
    x = rng.normal(scale=0.6, size=(n_types, dims))[types] + rng.normal(size=(n, dims))
    return x.astype(np.float32), types


def timed(fn, device: str):
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    start = time.perf_counter()
    out = fn()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return out, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--compare-n", type=int, default=50_000)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    device = args.device
    info = {"device": device, "torch": torch.__version__,
            "gpu": torch.cuda.get_device_name(0) if device.startswith("cuda") else None}
    print(json.dumps({"machine": info}), flush=True)

    # agreement with the CPU path on a subsample
    x, y = mixture(args.compare_n)
    cpu_sil = silhouette_samples(x, y, device="cpu")
    dev_sil = silhouette_samples(torch.from_numpy(x).to(device), y)
    cpu_knn = knn_graph(x, 15, device="cpu")
    dev_knn = knn_graph(torch.from_numpy(x).to(device), 15)
    same_sets = np.mean([set(a) == set(b) for a, b in zip(cpu_knn.indices, dev_knn.indices,
                                                          strict=True)])
    print(json.dumps({"compare_n": args.compare_n,
                      "silhouette_max_abs_diff": float(np.abs(cpu_sil - dev_sil).max()),
                      "silhouette_mean_diff": float(abs(cpu_sil.mean() - dev_sil.mean())),
                      "knn15_rows_identical": float(same_sets)}), flush=True)

    # timings at full size on the device
    x, y = mixture(args.n)
    xt = torch.from_numpy(x).to(device)
    for k in (15, 200):
        _, seconds = timed(lambda k=k: knn_graph(xt, k), device)
        print(json.dumps({"n": args.n, "what": f"knn_graph k={k}", "seconds": seconds}),
              flush=True)
    sil, seconds = timed(lambda: silhouette_samples(xt, y), device)
    print(json.dumps({"n": args.n, "what": "silhouette_samples", "seconds": seconds,
                      "silhouette_score": float((sil.mean() + 1) / 2)}), flush=True)
    if device.startswith("cuda"):
        print(json.dumps({"peak_gpu_mib": torch.cuda.max_memory_allocated() / 2**20}))


if __name__ == "__main__":
    main()
