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
