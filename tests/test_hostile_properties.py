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


# -- the newer surfaces: retrieval ties, model outputs, the cache key, run-directory records ---

@SETTINGS
@given(sizes=st.lists(st.integers(2, 5), min_size=1, max_size=3), n_ctrl=st.integers(1, 6),
       vector=hnp.arrays(np.float64, 3, elements=st.floats(-1e6, 1e6)).filter(
           lambda v: np.abs(v).max() > 1e-3),
       scales=st.lists(st.floats(1e-3, 1e3), min_size=30, max_size=30))
def test_wells_on_one_line_score_the_random_ranking(sizes, n_ctrl, vector, scales):
    """Every well a positive multiple of one vector: cosine similarities all tie, so every
    query's AP is the random ranking's expectation, never the positives-first 1."""
    from czbench.metrics.retrieval import average_precision

    labels = ["DMSO"] * n_ctrl + [f"p{k}" for k, s in enumerate(sizes) for _ in range(s)]
    x = np.outer(scales[:len(labels)], vector)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CZBenchWarning)
        table = average_precision(x, np.array(labels, dtype=object), "DMSO")
    for n_pos, n_total, ap in zip(table.n_pos, table.n_total, table.ap, strict=True):
        harmonic = sum(1 / k for k in range(1, n_total + 1))
        expected = (harmonic + (n_pos - 1) / max(n_total - 1, 1) * (n_total - harmonic)) \
            / n_total
        assert ap == pytest.approx(expected, abs=1e-9)


@SETTINGS
@given(n=st.integers(2, 25), d=st.integers(1, 4), seed=st.integers(0, 2**16))
def test_a_model_dataframe_in_any_row_order_is_the_same_output(n, d, seed):
    from czbench.models.base import check_output

    rng = np.random.default_rng(seed)
    values = rng.normal(size=(n, d))
    cells = pd.Index([f"c{i}" for i in range(n)])
    order = rng.permutation(n)
    frame = pd.DataFrame(values[order], index=cells[order])
    np.testing.assert_array_equal(check_output("m", frame, n, cells), values)
    wrong = frame.rename(index={cells[order[0]]: "stranger"})
    with pytest.raises(CZBenchError, match="index does not match"):
        check_output("m", wrong, n, cells)


@SETTINGS
@given(labels=st.lists(st.sampled_from(["a", "b", "c"]), min_size=4, max_size=20),
       cell=st.integers(0, 19), seed=st.integers(0, 2))
def test_any_change_to_an_obs_value_changes_the_cache_key(labels, cell, seed):
    import anndata as ad

    from czbench.models.cache import inputs_sha256

    n = len(labels)
    adata = ad.AnnData(np.zeros((n, 2), dtype=np.float32))
    adata.obs["batch"] = pd.Categorical(labels)
    before = inputs_sha256(adata)
    changed = list(labels)
    changed[cell % n] = {"a": "b", "b": "c", "c": "a"}[changed[cell % n]]
    adata.obs["batch"] = pd.Categorical(changed)
    assert inputs_sha256(adata) != before


@SETTINGS
@given(value=st.floats(allow_nan=False), path=st.sampled_from(
    [("results", 0, "value"), ("entry", "sha256"), ("timings_s", "embedding"), ("task",)]))
def test_any_edit_of_a_saved_record_is_refused(tmp_path_factory, value, path):
    import json

    from czbench.run.rundir import read_record, write_record

    folder = tmp_path_factory.mktemp("record")
    record = {"task": "embedding", "entry": {"kind": "embedding", "role": "model",
                                             "shape": [3, 2], "sha256": "ab"},
              "results": [{"metric": "m", "value": 0.25}], "timings_s": {"embedding": 0.5},
              "warnings": []}
    write_record(folder, record)
    file = folder / "embedding.json"
    saved = json.loads(file.read_text())
    target = saved
    for key in path[:-1]:
        target = target[key]
    old = target[path[-1]]
    target[path[-1]] = value if not isinstance(old, str) else f"{old}x"
    if target[path[-1]] == old:
        return
    file.write_text(json.dumps(saved))
    with pytest.raises(CZBenchError, match="edited or damaged"):
        read_record(file)
