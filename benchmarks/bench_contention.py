"""Kernels under contention: alone, beside a busy Python loop, beside a busy torch process.

Times each hot kernel of the 20k four-task suite (the shared kNN graph, the silhouettes, LISI,
kBET, the fuzzy graph + Leiden, retrieval AP) on the mixture of ``bench_tasks.py``, in three
conditions interleaved repetition by repetition (so drifting load hits all three alike):

* ``alone``;
* ``python``: beside a single-threaded Python busy loop;
* ``torch``: beside a torch process with default threads multiplying 512 x 512 matrices
  (many short parallel regions, like a training step or another benchmark run).

Each neighbour is started and stopped by this script and exits by itself after
``--neighbour-limit`` seconds whatever happens. Best of ``--repeats`` per kernel and condition,
with the 1-minute load average read before each measurement. ``--runs`` also times the suite
(``czbench.run.benchmark``, ``--tasks``) in one subprocess alone and in two started together.

    python benchmarks/bench_contention.py --n 20000 --repeats 3
    python benchmarks/bench_contention.py --runs --tasks clustering,embedding,batch_integration

Results: ``benchmarks/results/contention.json`` (``--output``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from bench_tasks import TASKS, mixture

HERE = Path(__file__).resolve().parent
CONDITIONS = ("alone", "python", "torch")

_BUSY = {
    "python": "import time, sys\nend = time.time() + float(sys.argv[1])\nx = 0\n"
              "while time.time() < end:\n    for i in range(100000):\n        x += i\n",
    "torch": "import time, sys, torch\nend = time.time() + float(sys.argv[1])\n"
             "a = torch.randn(512, 512)\nwhile time.time() < end:\n"
             "    for _ in range(20):\n        (a @ a).relu_().sum()\n",
}


def start_neighbour(kind: str, limit: float) -> subprocess.Popen | None:
    """A busy neighbour process (None for ``alone``), bounded by ``limit`` seconds."""
    if kind == "alone":
        return None
    proc = subprocess.Popen([sys.executable, "-c", _BUSY[kind], str(limit)])
    time.sleep(1.5)  # let it start (torch import) and spin up its threads
    return proc


def stop_neighbour(proc: subprocess.Popen | None) -> None:
    if proc is not None:
        proc.terminate()
        proc.wait(timeout=30)


def kernels(n: int) -> dict:
    """name -> zero-argument callable, on the mixture at ``n`` cells (inputs prepared once)."""
    from czbench.metrics import batch_silhouette, ilisi_knn, kbet_per_label, silhouette_samples
    from czbench.metrics.retrieval import average_precision
    from czbench.neighbors import knn_graph
    from czbench.neighbors.leiden import fuzzy_connectivities, leiden

    x, obs = mixture(n)
    types, batches = obs["cell_type"].to_numpy(), obs["batch"].to_numpy()
    knn = knn_graph(x, 200)
    rng = np.random.default_rng(0)
    perturbation = np.where(rng.random(n) < 0.2, "control",
                            rng.integers(0, n // 20, n).astype(str))
    return {
        "knn_graph (k = 200)": lambda: knn_graph(x, 200),
        "silhouette_samples": lambda: silhouette_samples(x, types),
        "batch_silhouette": lambda: batch_silhouette(x, types, batches),
        "ilisi_knn (k = 90)": lambda: ilisi_knn(knn.head(90), batches),
        "kbet_per_label (k = 50)": lambda: kbet_per_label(knn.head(50), batches, types),
        "fuzzy graph + leiden (k = 15)": lambda: leiden(fuzzy_connectivities(knn.head(15))),
        "retrieval average_precision": lambda: average_precision(x, perturbation, "control"),
    }


def load() -> float:
    return round(os.getloadavg()[0], 2)


def measure_kernels(n: int, repeats: int, limit: float, only: list[str] | None) -> dict:
    table = kernels(n)
    names = [k for k in table if not only or any(o in k for o in only)]
    for name in names:  # warm-up: imports, thread pools, caches
        table[name]()
    times = {c: {k: [] for k in names} for c in CONDITIONS}
    loads = {c: [] for c in CONDITIONS}
    for rep in range(repeats):
        for cond in CONDITIONS:
            proc = start_neighbour(cond, limit)
            try:
                loads[cond].append(load())
                for name in names:
                    start = time.perf_counter()
                    table[name]()
                    times[cond][name].append(time.perf_counter() - start)
            finally:
                stop_neighbour(proc)
            print(f"rep {rep} {cond}: " + ", ".join(f"{k} {v[-1]:.2f}s"
                                                  for k, v in times[cond].items()), flush=True)
    return {"times": times, "loads": loads}


def suite_child(n: int, tasks: list[str]) -> None:
    """One suite in this process: prints its wall time as JSON."""
    import anndata as ad

    from czbench.run import benchmark

    x, obs = mixture(n)
    adata = ad.AnnData(obs=obs)
    adata.obsm["X_emb"] = x
    start = time.perf_counter()
    benchmark(adata, ["obsm:X_emb"], tasks)
    print(json.dumps({"wall_s": time.perf_counter() - start}))


def measure_runs(n: int, tasks: list[str], repeats: int) -> dict:
    """Suite wall time in one subprocess alone, and in each of two started together."""
    cmd = [sys.executable, __file__, "--child-suite", "--n", str(n), "--tasks", ",".join(tasks)]

    def run(k: int) -> list[float]:
        procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True) for _ in range(k)]
        return [json.loads(p.communicate(timeout=3600)[0].strip().splitlines()[-1])["wall_s"]
                for p in procs]

    out = {"one": [], "two": [], "loads_one": [], "loads_two": []}
    for rep in range(repeats):
        out["loads_one"].append(load())
        out["one"] += run(1)
        out["loads_two"].append(load())
        out["two"].append(max(run(2)))
        print(f"rep {rep}: one {out['one'][-1]:.1f}s, two together {out['two'][-1]:.1f}s",
              flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--neighbour-limit", type=float, default=900.0)
    parser.add_argument("--only", default="", help="comma-separated kernel name fragments")
    parser.add_argument("--runs", action="store_true", help="also two suites started together")
    parser.add_argument("--no-kernels", action="store_true")
    parser.add_argument("--tasks", default=",".join(TASKS))
    parser.add_argument("--label", default="", help="recorded with the results (e.g. the code)")
    parser.add_argument("--output", default=str(HERE / "results" / "contention.json"))
    parser.add_argument("--child-suite", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    # a SIGTERM (e.g. from ``timeout``) unwinds through the ``finally`` that stops a neighbour
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    tasks = [t for t in args.tasks.split(",") if t]
    if args.child_suite:
        suite_child(args.n, tasks)
        return
    import torch

    result = {"n": args.n, "label": args.label, "repeats": args.repeats,
              "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                          "torch": torch.__version__, "torch_threads": torch.get_num_threads()}}
    if not args.no_kernels:
        result["kernels"] = measure_kernels(args.n, args.repeats, args.neighbour_limit,
                                            [o for o in args.only.split(",") if o])
        times = result["kernels"]["times"]
        print("| kernel | alone | beside Python loop | beside torch | ratios |")
        print("|---|---|---|---|---|")
        for name in times["alone"]:
            best = {c: min(times[c][name]) for c in CONDITIONS}
            print(f"| {name} | {best['alone']:.2f} s | {best['python']:.2f} s | "
                  f"{best['torch']:.2f} s | {best['python'] / best['alone']:.1f}× / "
                  f"{best['torch'] / best['alone']:.1f}× |")
        print("load averages:", result["kernels"]["loads"])
    if args.runs:
        result["runs"] = measure_runs(args.n, tasks, args.repeats)
        runs = result["runs"]
        print(f"suite ({','.join(tasks)}): one {min(runs['one']):.1f} s, two together "
              f"{min(runs['two']):.1f} s ({min(runs['two']) / min(runs['one']):.2f}×)")
    path = Path(args.output)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
