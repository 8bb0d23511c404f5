"""Cost of the hostile-input checks of issue 23 on the 100k-cell scale run, measured directly.

The checks a 100k run of the four core tasks now makes, per (input, task): a copy of obs
(``Task.evaluate``), a copy of the values when they share the caller's memory (``_own_copy``),
the type check of what ``_run`` returned (``check_run``); per model input: the cache key's hash
of the prepared inputs (``inputs_sha256``); per saved record: its checksum. Their total is
compared with the 100k run's recorded wall time (``benchmarks/results/scale.json``, same data:
``gaussian_mixture(100_000, 64)``), since a full 100k run is too slow to repeat on a loaded
2-core machine. Best of ``--repeats``.

    python benchmarks/bench_hostile_checks.py        # -> benchmarks/results/hostile_checks.json
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

from czbench.datasets.synthetic import gaussian_mixture
from czbench.models.cache import inputs_sha256
from czbench.run.rundir import record_checksum
from czbench.tasks.base import MetricResult, TaskRun, _own_copy, check_run

RESULTS = Path(__file__).with_name("results")
CORE_TASKS = 4


def best(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cells", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    adata = gaussian_mixture(args.cells, 64, seed=0)
    x = adata.obsm["X_emb"]
    adata.uns["czbench"]["sha256"] = "0" * 64
    run = TaskRun("embedding", [MetricResult("embedding", f"m{i}", 0.5) for i in range(8)])
    record = {"task": "embedding", "entry": {"kind": "embedding", "role": "model",
                                             "shape": list(x.shape), "sha256": "0" * 64},
              "results": [r.to_dict() for r in run.results], "timings_s": {"embedding": 1.0},
              "warnings": [], "resolved": {"n": 1}}
    per_task = {
        "obs_copy": best(lambda: adata.obs.copy(), args.repeats),
        "values_copy": best(lambda: _own_copy(x, x), args.repeats),
        "check_run": best(lambda: check_run("embedding", run), args.repeats),
        "record_checksum": best(lambda: record_checksum(record), args.repeats),
    }
    per_model = {"inputs_sha256": best(lambda: inputs_sha256(adata), args.repeats)}
    total = CORE_TASKS * sum(per_task.values()) + sum(per_model.values())
    scale = json.loads((RESULTS / "scale.json").read_text())
    wall = next(r["wall_s"] for r in scale["runs"] if r["n_cells"] == args.cells)
    out = {"machine": {"platform": platform.platform(), "python": platform.python_version()},
           "n_cells": args.cells, "per_task_s": per_task, "per_model_input_s": per_model,
           "total_s": round(total, 4), "scale_run_wall_s": wall,
           "fraction_of_run": round(total / wall, 6)}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "hostile_checks.json").write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
