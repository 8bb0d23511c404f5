"""The floor for label_prediction: the three scikit-learn classifiers alone, 5 folds each.

Times plain fit + predict_proba of each classifier on the same folds the task uses, so the
difference to ``bench_tasks.py``'s label_prediction row is czbench's own overhead.

    python benchmarks/bench_label_prediction_floor.py --n 20000
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from bench_tasks import mixture
from sklearn.base import clone
from sklearn.model_selection import StratifiedKFold

from czbench.tasks.classification import CLASSIFIERS, make_classifier


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=20000)
    args = parser.parse_args()
    x, obs = mixture(args.n)
    y = np.unique(obs["cell_type"].to_numpy(), return_inverse=True)[1]
    folds = list(StratifiedKFold(5, shuffle=True, random_state=42).split(x, y))
    total = 0.0
    for name in CLASSIFIERS:
        start = time.perf_counter()
        for train, test in folds:
            model = clone(make_classifier(name, 42, n_jobs=-1)).fit(x[train], y[train])
            model.predict_proba(x[test])
        wall = time.perf_counter() - start
        total += wall
        print(f"| {args.n:,} | {name} | {wall:.1f} |")
    print(f"| {args.n:,} | all three | {total:.1f} |")


if __name__ == "__main__":
    main()
