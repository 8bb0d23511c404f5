"""The plugin's own tests: czbench's conformance kit on each asset it contributes."""

import czbench.testing as kit


def test_dataset_meets_the_contract():
    kit.check_dataset("lung_mixology_3cl")


def test_metric_meets_the_contract():
    kit.check_metric("label_knn_purity")


def test_task_meets_the_contract():
    kit.check_task("neighbourhood_purity")


def test_model_meets_the_contract():
    import czbench.datasets as ds

    kit.check_model("random_projection", ds.load("lung_mixology_3cl"))


def test_metric_equals_a_brute_force_reference():
    """label_knn_purity against scikit-learn's exact neighbours, counted by hand."""
    import numpy as np
    import pytest
    from sklearn.neighbors import NearestNeighbors

    from czbench.metrics import compute

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, size=200)
    x = (rng.normal(size=(200, 5)) + labels[:, None] * 1.5).astype(np.float32)
    _, idx = NearestNeighbors(n_neighbors=15).fit(x).kneighbors(x)  # the cell itself first
    same = np.array([(labels[row[1:]] == labels[i]).mean() for i, row in enumerate(idx)])
    expected = np.mean([same[labels == c].mean() for c in range(3)])
    assert compute("label_knn_purity", x, labels=labels) == pytest.approx(expected, abs=1e-12)
    shuffled = compute("label_knn_purity", x, labels=rng.permutation(labels))
    assert shuffled < expected - 0.3  # about 1/3 for random neighbours
