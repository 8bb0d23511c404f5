"""Hostile tasks (plugins): a task that writes to its inputs cannot change what later tasks
read, and a task returning the wrong types is a one-line error naming it."""

from __future__ import annotations

import numpy as np
import pytest

import czbench
from czbench.datasets.synthetic import gaussian_mixture
from czbench.errors import CZBenchError
from czbench.tasks.base import MetricResult, MetricSpec, Task, TaskRun


class Vandal(Task):
    """Scores 0.5 after overwriting the labels and the embedding it was given."""

    name = "vandal"
    description = "writes to its inputs"
    metrics = (MetricSpec("score", "a constant"),)
    column_options = ("label_key",)

    def __init__(self, *, label_key: str = "cell_type") -> None:
        self.label_key = label_key

    def _run(self, values, obs, knn, context):
        obs[self.label_key] = obs[self.label_key].iloc[0]
        values[:] = 0.0
        return self._output([self._result("score", 0.5)])


class WrongTypes(Vandal):
    name = "wrong_types"

    def __init__(self, *, label_key: str = "cell_type", returns: str = "float") -> None:
        super().__init__(label_key=label_key)
        self.returns = returns

    def _run(self, values, obs, knn, context):
        if self.returns == "float":
            return 0.5
        if self.returns == "dicts":
            return TaskRun(self.name, [{"metric": "score", "value": 0.5}])
        return TaskRun(self.name, [MetricResult(self.name, "score", "0.5")])


@pytest.fixture(scope="module")
def data():
    adata = gaussian_mixture(240, 8, n_types=4, n_batches=2, seed=3)
    return adata, adata.obsm["X_emb"].astype(np.float32)


def _scores(result, task):
    return [r["value"] for r in result.document["results"] if r["task"] == task]


def test_a_task_writing_to_its_inputs_cannot_change_later_tasks(data):
    adata, x = data
    before = adata.obs.copy(), x.copy()
    plain = czbench.benchmark(adata, [x], ["clustering"])
    after_vandal = czbench.benchmark(adata, [x], [Vandal(), "clustering"])
    assert _scores(after_vandal, "clustering") == _scores(plain, "clustering")
    assert adata.obs.equals(before[0]) and np.array_equal(x, before[1])


@pytest.mark.parametrize("returns,words", [
    ("float", "_run returned a float, expected a TaskRun"),
    ("dicts", "returned a dict result, expected a MetricResult"),
    ("text", "metric 'score' is a str, expected a number"),
])
def test_a_task_returning_wrong_types_is_one_line(data, returns, words):
    adata, x = data
    with pytest.raises(CZBenchError, match=f"task 'wrong_types': {words}"):
        czbench.benchmark(adata, [x], [WrongTypes(returns=returns)])


def test_a_single_cell_isolated_label_warns_and_is_recorded(data):
    adata, x = data
    adata = adata.copy()
    labels = adata.obs["cell_type"].astype(str).to_numpy().copy()
    labels[0] = "lonely"  # in one batch only: the only isolated label, one cell
    adata.obs["cell_type"] = labels
    result = czbench.benchmark(adata, [x], ["embedding"])
    value = next(r["value"] for r in result.document["results"]
                 if r["metric"] == "isolated_labels")
    assert value == 0.5  # the reference's definition, kept
    (entry,) = result.document["embeddings"]
    assert any("isolated_labels: 1 of the 1 isolated labels have a single cell (lonely)" in w
               for w in entry["warnings"])
