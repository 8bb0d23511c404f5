"""Choose the number of PCA components by benchmark score, with plain scikit-learn tools.

A ``Pipeline(PCA -> ClusteringBenchmark)`` is tuned by ``GridSearchCV``: for every split the
PCA is fitted on the training cells only, and the held-out cells are projected and scored
(Leiden clusters vs cell types, adjusted Rand index), so nothing leaks from the cells scored.
Then ``cross_val_score`` runs ``LabelPredictionBenchmark`` (a classifier) on the best PCA.

Run:  python examples/choose_pca_components.py      (about 10 s on 2 cores)
"""

from __future__ import annotations

import pandas as pd
from sklearn.decomposition import PCA
from sklearn.model_selection import GridSearchCV, KFold, StratifiedKFold, cross_val_score
from sklearn.pipeline import Pipeline

import czbench.datasets
from czbench.estimators import ClusteringBenchmark, LabelPredictionBenchmark

N_COMPONENTS = [5, 10, 20, 40]


def main(verbose: bool = True) -> GridSearchCV:
    """Run the grid search (and a short cross_val_score); return the fitted GridSearchCV."""
    adata = czbench.datasets.load("pbmc68k_reduced")
    X = adata.X  # scaled expression, 700 cells x 765 genes
    y = adata.obs["cell_type"].to_numpy()

    pipe = Pipeline([("pca", PCA(random_state=0)),
                     ("bench", ClusteringBenchmark(random_state=0))])
    search = GridSearchCV(pipe, {"pca__n_components": N_COMPONENTS},
                          cv=KFold(3, shuffle=True, random_state=0), n_jobs=1)
    search.fit(X, y)

    table = pd.DataFrame({
        "n_components": search.cv_results_["param_pca__n_components"].astype(int),
        "mean_ARI": search.cv_results_["mean_test_score"],
        "std_ARI": search.cv_results_["std_test_score"],
    })
    best = search.best_params_["pca__n_components"]
    if verbose:
        print("Leiden clustering of held-out cells vs cell types (adjusted Rand index, 3 folds)")
        print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        print(f"best n_components: {best} (mean ARI {search.best_score_:.3f})")

    # A classifier front door: accuracy of the task's "lr" classifier on held-out cells.
    label_pipe = Pipeline([("pca", PCA(n_components=best, random_state=0)),
                           ("bench", LabelPredictionBenchmark(classifiers=("lr",),
                                                              random_state=0))])
    accuracy = cross_val_score(label_pipe, X, y,
                               cv=StratifiedKFold(3, shuffle=True, random_state=0))
    if verbose:
        print(f"label prediction (lr) on PCA {best}: held-out accuracy per fold "
              f"{', '.join(f'{a:.3f}' for a in accuracy)} (mean {accuracy.mean():.3f})")
    return search


if __name__ == "__main__":
    main()
