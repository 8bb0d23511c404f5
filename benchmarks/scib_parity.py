"""czbench's scib-metrics set against scib-metrics 0.5.10 itself, on the same exact neighbours.

Two sides, so that scib-metrics (jax) never becomes a czbench dependency:

* ``python benchmarks/scib_parity.py --reference`` -- run in an environment that has
  ``scib-metrics==0.5.10`` (and numpy; czbench is not needed): writes the reference values to
  ``benchmarks/results/scib_metrics_reference.json``.
* ``python benchmarks/scib_parity.py`` -- with czbench: computes czbench's values on the same
  seeded data and neighbours and writes the differences to
  ``benchmarks/results/scib_parity.json``. ``tests/test_scib_parity.py`` recomputes czbench's
  side and checks it against the stored reference (1e-3; kBET 0.01).

Data: four seeded Gaussian-mixture cases of 1,500 cells x 20 dims, 5 labels, 3 batches, with
batch shifts from small to large, one with edge cases (a 10-cell label, a one-batch label, a
label in two far pieces) and one scaled x 60. Neighbours: exact Euclidean 90-NN, self first.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
REFERENCE = RESULTS / "scib_metrics_reference.json"
METRICS = ("ilisi_knn", "clisi_knn", "graph_connectivity", "kbet_per_label", "pcr_comparison",
           "bras", "isolated_labels")
TOLERANCE = {"kbet_per_label": 0.01}
DEFAULT_TOLERANCE = 1e-3


def make_case(seed: int, n: int = 1500, d: int = 20, n_labels: int = 5, n_batches: int = 3,
              batch_shift: float = 1.0, scale: float = 1.0, special: bool = False):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, n_labels, n)
    batch = rng.integers(0, n_batches, n)
    centres = rng.normal(0, 3, (n_labels, d))
    shifts = rng.normal(0, batch_shift, (n_batches, d))
    x = centres[labels] + shifts[batch] + rng.normal(size=(n, d))
    if special:
        labels[:10], batch[:10] = 90, np.arange(10) % 2
        x[:10] = rng.normal(size=(10, d)) + 20
        labels[10:40], batch[10:40] = 91, 0
        labels[40:400] = 92
        x[40:220] = rng.normal(size=(180, d)) - 20
        x[220:400] = rng.normal(size=(180, d)) + 40
        x[400:405] = rng.normal(size=(5, d)) + 80
        labels[400:405] = 92
    x_pre = x + 2 * shifts[batch]
    return (x * scale).astype(np.float32), x_pre.astype(np.float32), labels, batch


CASES = {
    "mixed": dict(seed=0, batch_shift=0.5),
    "batchy": dict(seed=1, batch_shift=4.0),
    "special": dict(seed=2, batch_shift=1.0, special=True),
    "scaled": dict(seed=3, batch_shift=1.0, scale=60.0),
}


def exact_neighbours(x: np.ndarray, k: int = 90) -> tuple[np.ndarray, np.ndarray]:
    """(indices, distances) of the exact k-NN in float64, self first (ties by index)."""
    x = x.astype(np.float64)
    sq = (x * x).sum(axis=1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2 * x @ x.T, 0.0)
    np.fill_diagonal(d2, -1.0)
    idx = np.argsort(d2, axis=1, kind="stable")[:, :k]
    dist = np.sqrt(np.maximum(np.take_along_axis(d2, idx, axis=1), 0.0))
    return idx.astype(np.int64), dist


def reference_values() -> dict[str, dict[str, float]]:
    import scib_metrics as sm
    from scib_metrics.nearest_neighbors import NeighborsResults

    out = {}
    for name, spec in CASES.items():
        x, x_pre, labels, batch = make_case(**spec)
        idx, dist = exact_neighbours(x)
        nn = NeighborsResults(indices=idx, distances=dist.astype(np.float32))
        out[name] = {
            "ilisi_knn": float(sm.ilisi_knn(nn, batch)),
            "clisi_knn": float(sm.clisi_knn(nn, labels)),
            "graph_connectivity": float(sm.graph_connectivity(nn.subset_neighbors(15), labels)),
            "kbet_per_label": float(sm.kbet_per_label(nn.subset_neighbors(50), batch, labels)),
            "pcr_comparison": float(sm.pcr_comparison(x_pre, x, batch, categorical=True)),
            "bras": float(sm.bras(x, labels, batch)),
            "isolated_labels": float(sm.isolated_labels(x, labels, batch)),
        }
    return out


def czbench_values() -> dict[str, dict[str, float]]:
    from czbench.metrics.bras import bras
    from czbench.metrics.graph_connectivity import graph_connectivity
    from czbench.metrics.isolated_labels import isolated_labels
    from czbench.metrics.kbet import kbet_per_label
    from czbench.metrics.lisi import clisi_knn, ilisi_knn
    from czbench.metrics.pcr import pcr_comparison
    from czbench.neighbors import KNNGraph

    out = {}
    for name, spec in CASES.items():
        x, x_pre, labels, batch = make_case(**spec)
        idx, dist = exact_neighbours(x)
        knn = KNNGraph(idx, dist.astype(np.float32).astype(np.float64))
        out[name] = {
            "ilisi_knn": ilisi_knn(knn, batch),
            "clisi_knn": clisi_knn(knn, labels),
            "graph_connectivity": graph_connectivity(knn.head(15), labels),
            "kbet_per_label": kbet_per_label(knn.head(50), batch, labels),
            "pcr_comparison": pcr_comparison(x_pre, x, batch),
            "bras": bras(x, labels, batch),
            "isolated_labels": isolated_labels(x, labels, batch),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", action="store_true",
                        help="compute scib-metrics' values (needs scib-metrics installed)")
    args = parser.parse_args()
    RESULTS.mkdir(exist_ok=True)
    if args.reference:
        import scib_metrics

        doc = {"scib_metrics_version": scib_metrics.__version__, "values": reference_values()}
        REFERENCE.write_text(json.dumps(doc, indent=2) + "\n")
        print(f"wrote {REFERENCE}")
        return
    reference = json.loads(REFERENCE.read_text())
    ours = czbench_values()
    rows = {name: {m: {"czbench": ours[name][m], "scib_metrics": reference["values"][name][m],
                       "difference": ours[name][m] - reference["values"][name][m]}
                   for m in METRICS} for name in CASES}
    worst = {m: max(abs(rows[c][m]["difference"]) for c in CASES) for m in METRICS}
    doc = {"scib_metrics_version": reference["scib_metrics_version"], "cases": rows,
           "max_abs_difference": worst}
    (RESULTS / "scib_parity.json").write_text(json.dumps(doc, indent=2) + "\n")
    for metric, value in worst.items():
        print(f"{metric:20s} max |czbench - scib-metrics| = {value:.2e}")


if __name__ == "__main__":
    main()
