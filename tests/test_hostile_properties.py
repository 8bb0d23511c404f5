"""Property-based hostile inputs (hypothesis): over embedding values, shapes, dtypes and label
columns, every outcome is a valid result or a one-line :class:`~czbench.errors.CZBenchError` --
never another exception, never a NaN or infinite score."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from czbench.errors import CZBenchError, CZBenchWarning
from czbench.tasks import get_task

TASKS = {
    "embedding": {},
    "clustering": {"n_neighbors": 5},
    "batch_integration": {"entropy_k": 10},
    "label_prediction": {"classifiers": ("knn",), "n_folds": 2, "min_class_size": 2},
    "sequential_organization": {"k": 3, "time_key": "batch"},
}
DTYPES = st.sampled_from([np.float32, np.float64, np.int32, np.float16])
SETTINGS = settings(max_examples=40, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@st.composite
def embeddings(draw):
    n = draw(st.integers(1, 30))
    d = draw(st.integers(1, 5))
    dtype = draw(DTYPES)
    if np.dtype(dtype).kind == "f":
        elements = st.floats(allow_nan=True, allow_infinity=True,
                             width=min(64, 8 * np.dtype(dtype).itemsize))
    else:
        elements = st.integers(-1000, 1000)
    values = draw(hnp.arrays(dtype, (n, d), elements=elements))
    scale = draw(st.sampled_from([1.0, 1e-30, 1e-8, 1e8, 1e30]))
    if np.dtype(dtype).kind == "f" and np.dtype(dtype).itemsize == 8:
        with np.errstate(all="ignore"):
            values = values * scale
    labels = draw(st.lists(st.sampled_from(["a", "b", "c", 1, 2.5]), min_size=n, max_size=n))
    batches = draw(st.lists(st.integers(0, 2), min_size=n, max_size=n))
    return values, labels, batches


def _outcome(task_name: str, values, labels, batches) -> None:
    obs = pd.DataFrame({"cell_type": pd.Series(labels, dtype=object).astype(str),
                        "batch": batches})
    task = get_task(task_name, **TASKS[task_name])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CZBenchWarning)
            results = task.run(values, obs)
    except CZBenchError as err:
        assert "\n" not in str(err)
        return
    assert results
    for result in results:
        assert math.isfinite(result.value), result


@pytest.mark.parametrize("task_name", list(TASKS))
@SETTINGS
@given(case=embeddings())
def test_any_embedding_gives_a_valid_result_or_a_czbench_error(task_name, case):
    _outcome(task_name, *case)


@SETTINGS
@given(case=embeddings(), labels=st.lists(st.one_of(st.none(), st.floats(), st.text(max_size=3),
                                                    st.booleans()), min_size=1, max_size=30))
def test_any_label_column_gives_a_valid_result_or_a_czbench_error(case, labels):
    values, _, batches = case
    n = values.shape[0]
    labels = (labels * n)[:n]
    obs = pd.DataFrame({"cell_type": pd.Series(labels, dtype=object), "batch": batches})
    task = get_task("embedding")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CZBenchWarning)
            results = task.run(values, obs)
    except CZBenchError as err:
        assert "\n" not in str(err)
        return
    assert all(math.isfinite(r.value) for r in results)
