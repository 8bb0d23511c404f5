"""Prepared GPU check of the torch metric path: exact kNN and exact silhouette.

Times ``knn_graph`` (exact, k = 15 and 200), ``silhouette_samples`` and ``batch_silhouette`` at
N cells x 64 dims on a device (default: CUDA), and checks the device values against the CPU path
at ``--compare-n`` cells. Needs only torch, numpy, scipy and pandas (run from the repository
root with ``PYTHONPATH=.``). Prints one JSON line per measurement:

    python benchmarks/bench_gpu.py --n 1000000 --compare-n 100000        # on a GPU machine
    python benchmarks/bench_gpu.py --device cpu --n 5000 --compare-n 2000  # smoke test here
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
import torch

from czbench.metrics.silhouette import batch_silhouette, silhouette_samples
from czbench.neighbors import knn_graph


def mixture(n: int, dims: int = 64, n_types: int = 12, n_batches: int = 4, rank: int = 8,
            seed: int = 0):
    """The scale run's low-rank Gaussian mixture (czbench.datasets.synthetic, without anndata)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, 1.5, size=(n_types, dims))
    loadings = rng.normal(0.0, 1.0 / np.sqrt(rank), size=(n_types, rank, dims))
    shifts = rng.normal(0.0, 0.5, size=(n_batches, dims))
    types = rng.integers(0, n_types, n)
    batches = rng.integers(0, n_batches, n)
    x = np.empty((n, dims), dtype=np.float32)
    for s in range(0, n, 1 << 18):
        e = min(n, s + (1 << 18))
        f = rng.normal(size=(e - s, rank))
        x[s:e] = (centres[types[s:e]] + np.einsum("nr,nrd->nd", f, loadings[types[s:e]])
                  + shifts[batches[s:e]] + rng.normal(0.0, 0.3, size=(e - s, dims)))
    return x, types, batches


def timed(fn, device: str):
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    start = time.perf_counter()
    out = fn()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return out, time.perf_counter() - start


def emit(**row) -> None:
    print(json.dumps(row), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--compare-n", type=int, default=100_000)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    device = args.device
    emit(machine={"device": device, "torch": torch.__version__, "cpus": os.cpu_count(),
                  "cpu_threads": torch.get_num_threads(),
                  "gpu": torch.cuda.get_device_name(0) if device.startswith("cuda") else None})
    warm, wy, _ = mixture(4096, seed=1)  # initialise the device libraries before timing
    silhouette_samples(torch.from_numpy(warm).to(device), wy)
    knn_graph(torch.from_numpy(warm).to(device), 15)

    # agreement with the CPU path
    x, y, b = mixture(args.compare_n)
    xt = torch.from_numpy(x).to(device)
    cpu_sil, cpu_s = timed(lambda: silhouette_samples(x, y, device="cpu"), "cpu")
    dev_sil, dev_s = timed(lambda: silhouette_samples(xt, y), device)
    cpu_knn, cpu_k = timed(lambda: knn_graph(x, 15, device="cpu", backend="exact"), "cpu")
    dev_knn, dev_k = timed(lambda: knn_graph(xt, 15), device)
    same_sets = np.mean([set(p) == set(q) for p, q in zip(cpu_knn.indices, dev_knn.indices,
                                                          strict=True)])
    cpu_bs = batch_silhouette(x, y, b, device="cpu")
    dev_bs = batch_silhouette(xt, y, b)
    emit(compare_n=args.compare_n,
         silhouette_max_abs_diff=float(np.abs(cpu_sil - dev_sil).max()),
         silhouette_score_cpu=float((cpu_sil.mean() + 1) / 2),
         silhouette_score_device=float((dev_sil.mean() + 1) / 2),
         batch_silhouette_cpu=cpu_bs, batch_silhouette_device=dev_bs,
         knn15_rows_identical=float(same_sets),
         seconds={"silhouette_cpu": cpu_s, "silhouette_device": dev_s, "knn15_cpu": cpu_k,
                  "knn15_device": dev_k})

    # timings at full size on the device
    x, y, b = mixture(args.n)
    xt = torch.from_numpy(x).to(device)
    for k in (15, 200):
        graph, seconds = timed(lambda k=k: knn_graph(xt, k), device)
        emit(n=args.n, what=f"knn_graph k={k}", backend=graph.backend, seconds=seconds)
    sil, seconds = timed(lambda: silhouette_samples(xt, y), device)
    emit(n=args.n, what="silhouette_samples", seconds=seconds,
         silhouette_score=float((sil.mean() + 1) / 2))
    value, seconds = timed(lambda: batch_silhouette(xt, y, b), device)
    emit(n=args.n, what="batch_silhouette", seconds=seconds, batch_silhouette=value)
    if device.startswith("cuda"):
        emit(peak_gpu_mib=torch.cuda.max_memory_allocated() / 2**20)


if __name__ == "__main__":
    main()
