"""docs/reproducibility.md, promise by promise: bit-identical results for the same inputs, seed
and settings in one process; equal to a stated tolerance across intra-op thread counts (the
DDP and Dask boundaries are tested in test_callback.py and test_grid.py); the results file
records what tells the cases apart."""

from __future__ import annotations

import os

import pytest
import torch
from helpers import assert_same_across_boundary
from threadpoolctl import threadpool_limits

from czbench import benchmark
from czbench.run import strip_volatile, validate
from czbench.run.document import THREAD_VARIABLES
from czbench.testing import example_data

TASKS = ["clustering", "embedding", "label_prediction", "batch_integration"]
OPTIONS = {"label_prediction": {"classifiers": ("knn", "lr")}}


@pytest.fixture(scope="module")
def example():
    return example_data(0)


def _run(example, threads: int | None = None):
    if threads is None:
        return benchmark(example, ["baseline:pca"], TASKS, seed=5, task_options=OPTIONS)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with threadpool_limits(limits=threads):
            return benchmark(example, ["baseline:pca"], TASKS, seed=5, task_options=OPTIONS)
    finally:
        torch.set_num_threads(before)


@pytest.fixture(scope="module")
def default_run(example):
    return _run(example)


def test_same_settings_give_bit_identical_results(example, default_run):
    """Same inputs, seed, versions, process and thread settings: the same document, bit for
    bit (timings and creation time aside), the inputs' sha256 included."""
    again = _run(example)
    assert strip_volatile(again.document) == strip_volatile(default_run.document)


def test_other_thread_counts_agree_to_the_stated_tolerance(example, default_run):
    """One intra-op thread (torch and every BLAS/OpenMP pool) against the default: the same
    rows, inputs and settings; metric values within METRIC_TOLERANCE."""
    one = _run(example, threads=1)
    assert one.document["environment"]["torch_threads"] == "1"
    assert_same_across_boundary(default_run.document, one.document)


def test_the_results_file_records_what_tells_the_cases_apart(default_run):
    env = default_run.document["environment"]
    validate(default_run.document)
    assert env["torch_threads"] == str(torch.get_num_threads())
    for name in THREAD_VARIABLES:
        assert env[name] == os.environ.get(name, "unset")
    assert env["world_size"] == "1" and env["scheduler"] == "serial"
    assert env["blas"] and env["cpu"]
    assert default_run.document["context"]["device"] == "cpu"
