"""The grid runner: Dask execution equals serial, and an interrupted run resumes to the same file.

Small synthetic datasets (known structure) keep these fast; the same code runs at 1M cells in
benchmarks/bench_scale.py.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import assert_same_across_boundary

from czbench.datasets.synthetic import gaussian_mixture
from czbench.errors import InputError
from czbench.run import benchmark, benchmark_grid, read_json, strip_volatile, validate

TASKS = ["clustering", "embedding", "batch_integration", "label_prediction"]
FAST = {"label_prediction": {"classifiers": ["lr", "knn"]}}


def _dataset(tmp_path: Path, name: str, n: int, seed: int) -> tuple[Path, Path]:
    adata = gaussian_mixture(n, 16, n_types=5, n_batches=3, seed=seed)
    adata.obsm["X_pca"] = adata.obsm["X_emb"]  # the controls' unintegrated embedding
    path = tmp_path / f"{name}.h5ad"
    adata.write_h5ad(path)
    noisy = adata.obsm["X_emb"] + np.random.default_rng(seed).normal(
        0, 2.0, adata.obsm["X_emb"].shape).astype(np.float32)
    npy = tmp_path / f"{name}_noisy.npy"
    np.save(npy, noisy)
    return path, npy


@pytest.mark.slow
def test_dask_local_cluster_gives_the_serial_results(tmp_path):
    a, _ = _dataset(tmp_path, "a", 500, 0)
    b, _ = _dataset(tmp_path, "b", 400, 1)
    kwargs = dict(embeddings=["obsm:X_emb"], tasks=TASKS, seeds=[0, 1], controls=True,
                  task_options=FAST)
    serial = benchmark_grid([str(a), str(b)], **kwargs)
    on_dask = benchmark_grid([str(a), str(b)], scheduler="local", n_workers=2, **kwargs)
    assert len(serial) == len(on_dask) == 2
    for one, two in zip(serial, on_dask, strict=True):
        validate(two.document)
        # Dask's workers run single-threaded: equal to a stated tolerance, not bit for bit
        # (docs/reproducibility.md)
        assert_same_across_boundary(one.document, two.document)
        assert two.document["environment"]["scheduler"] == "dask"
        assert one.document["environment"]["scheduler"] == "serial"
        # the grid really covered both seeds, the model and every control
        sources = {e["source"] for e in two.document["embeddings"]}
        assert "obsm:X_emb" in sources and "control:onehot" in sources
        assert {e["seed"] for e in two.document["embeddings"]} == {0, 1}
    assert serial[0].document["dataset"]["n_cells"] == 500
    assert serial[1].document["dataset"]["n_cells"] == 400


def test_run_dir_resume_reuses_finished_results(tmp_path):
    path, npy = _dataset(tmp_path, "c", 300, 2)
    run_dir = tmp_path / "run"
    kwargs = dict(embeddings=["obsm:X_emb", str(npy)], tasks=TASKS, seeds=[0, 1],
                  task_options=FAST)
    first = benchmark(str(path), run_dir=run_dir, **kwargs)
    records = sorted(run_dir.glob("cells/*/*/*/*.json"))
    assert len(records) == 2 * 2 * len(TASKS)
    with pytest.raises(InputError, match="--resume"):
        benchmark(str(path), run_dir=run_dir, **kwargs)
    # a resumed run that finds everything done recomputes nothing and gives the same file
    stamps = {p: p.stat().st_mtime_ns for p in records}
    again = benchmark(str(path), run_dir=run_dir, resume=True, **kwargs)
    assert {p: p.stat().st_mtime_ns for p in records} == stamps
    assert strip_volatile(again.document) == strip_volatile(first.document)
    # a different grid in the same folder is refused, naming what differs
    with pytest.raises(InputError, match="seeds"):
        benchmark(str(path), run_dir=run_dir, resume=True, **{**kwargs, "seeds": [0, 2]})


def test_resume_refuses_a_changed_embedding(tmp_path):
    path, npy = _dataset(tmp_path, "d", 200, 3)
    run_dir = tmp_path / "run"
    kwargs = dict(embeddings=[str(npy)], tasks=["embedding"], seeds=[0])
    benchmark(str(path), run_dir=run_dir, **kwargs)
    np.save(npy, np.load(npy) + 1.0)
    with pytest.raises(InputError, match=r"differs in datasets\[0\]\.inputs\[0\]"):
        benchmark(str(path), run_dir=run_dir, resume=True, **kwargs)


@pytest.mark.slow
def test_killed_cli_run_resumes_to_the_uninterrupted_result(tmp_path):
    path, npy = _dataset(tmp_path, "e", 2500, 4)
    args = ["--dataset", str(path), "--embedding", f"obsm:X_emb,{npy}", "--seeds", "0,1",
            "--task", ",".join(TASKS), "--quiet"]
    cli = [sys.executable, "-m", "czbench", "run"]
    reference = tmp_path / "reference.json"
    subprocess.run(cli + args + ["--output", str(reference)], check=True,
                   capture_output=True)
    run_dir = tmp_path / "run"
    output = tmp_path / "resumed.json"
    total = 2 * 2 * len(TASKS)
    proc = subprocess.Popen(cli + args + ["--run-dir", str(run_dir), "--output", str(output)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + 300
    while not list(run_dir.glob("cells/*/*/*/*.json")):
        assert proc.poll() is None, "the run ended before any result was written"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    kept = sorted(run_dir.glob("cells/*/*/*/*.json"))
    assert 0 < len(kept) < total, len(kept)
    assert not output.exists()
    for record in kept:  # atomic writes: every record left behind is whole
        json.loads(record.read_text())
    stamps = {p: p.stat().st_mtime_ns for p in kept}
    subprocess.run(cli + args + ["--run-dir", str(run_dir), "--resume", "--output",
                                 str(output)], check=True, capture_output=True)
    assert {p: p.stat().st_mtime_ns for p in kept} == stamps  # finished ones not recomputed
    assert len(list(run_dir.glob("cells/*/*/*/*.json"))) == total
    assert strip_volatile(read_json(output)) == strip_volatile(read_json(reference))


def test_consecutive_runs_on_one_anndata_do_not_share_cached_tasks():
    adata = gaussian_mixture(300, 8, n_types=4, n_batches=2, seed=5)
    first = benchmark(adata, ["obsm:X_emb"], ["embedding"], seed=0)
    second = benchmark(adata, ["obsm:X_emb"], ["clustering"], seed=0)
    third = benchmark(adata, ["obsm:X_emb"], ["clustering"], seed=0,
                      task_options={"clustering": {"resolution": 0.2}})
    assert {r["task"] for r in first.document["results"]} == {"embedding"}
    assert {r["task"] for r in second.document["results"]} == {"clustering"}
    assert third.document["tasks"]["clustering"]["resolution"] == 0.2
    assert second.document["results"] != third.document["results"]
