"""Faults: MLflow packages that raise, hang past their limit, return the wrong shape or open a
socket; a worker SIGKILLed mid-job (re-queued, scored exactly once)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import anndata as ad
import numpy as np
import pytest
from fastapi.testclient import TestClient

import czbench
from czbench.errors import InputError
from czbench.serve import sandbox
from czbench.serve.models import Submission
from czbench.serve.protocol import check_embedding
from czbench.serve.sandbox import Limits, run_package, unpack
from czbench.serve.scoring import challenge_data
from czbench.serve.storage import challenge_dir
from czbench.serve.worker import Worker
from tests.serve.conftest import Env, auth, make_package, new_database

pytestmark = pytest.mark.filterwarnings("ignore:Add type hints:UserWarning")

FAULTS = {
    "raises": ("raise ValueError('boom from the package')", "ValueError: boom from the package"),
    "hangs": ("import time\ntime.sleep(600)", "ran past the limit"),
    "socket": ("import socket\nsocket.create_connection(('1.1.1.1', 80), timeout=5)\n"
               "return np.zeros((adata.n_obs, 2))", "unreachable"),
}


def test_unsafe_zips_and_missing_isolation_are_refused(tmp_path, monkeypatch):
    bundle = tmp_path / "evil.zip"
    with zipfile.ZipFile(bundle, "w") as out:
        out.writestr("../evil.txt", "x")
        out.writestr("MLmodel", "x")
    with pytest.raises(InputError, match="leaves the package folder"):
        unpack(bundle, tmp_path / "into")
    assert not (tmp_path / "evil.txt").exists()
    (tmp_path / "empty.zip").write_bytes(b"PK\x03\x04broken")
    with pytest.raises(InputError, match="not a readable zip"):
        unpack(tmp_path / "empty.zip", tmp_path / "into2")
    monkeypatch.setattr(sandbox, "no_network_prefix", lambda: None)
    with pytest.raises(InputError, match="refused"):
        run_package(bundle, tmp_path / "none.h5ad", Limits())


@pytest.mark.slow
def test_packages_that_misbehave_fail_with_a_clear_reason(tmp_path):
    public = tmp_path / "public.h5ad"
    ad.AnnData(X=np.random.default_rng(0).random((40, 6), dtype=np.float32)).write_h5ad(public)
    archives = {}
    for name, (body, _) in {**FAULTS, "shape": ("return np.zeros((3, 2))", "")}.items():
        (tmp_path / name).mkdir()
        archives[name] = tmp_path / f"{name}.zip"
        archives[name].write_bytes(make_package(tmp_path / name, body))

    def attempt(name: str) -> str:
        try:
            check_embedding(run_package(archives[name], public, Limits(seconds=45)), 40)
        except InputError as err:
            return str(err)
        return "no error"

    with ThreadPoolExecutor(4) as pool:
        reasons = dict(zip(archives, pool.map(attempt, archives), strict=True))
    for name, (_, expected) in FAULTS.items():
        assert expected in reasons[name], reasons[name]
    assert "expected shape (40, 1..4096)" in reasons["shape"]


@pytest.mark.slow
def test_a_killed_worker_leaves_its_job_to_be_scored_exactly_once(tmp_path, request):
    env = Env(new_database("sqlite", tmp_path, request), tmp_path)
    client = TestClient(__import__("czbench.serve.app", fromlist=["create_app"])
                        .create_app(env.url, env.data))
    body = "import time\ntime.sleep(2)\nreturn np.asarray(adata.X[:, :8].todense())"
    (tmp_path / "pkg").mkdir()
    sent = client.post(f"/challenges/{env.id}/submissions",
                       content=make_package(tmp_path / "pkg", body),
                       headers=auth(env.teams["alpha"]))
    assert sent.status_code == 202, sent.text
    job = sent.json()["id"]
    code = ("import sys; from czbench.serve.worker import Worker; "
            "Worker(sys.argv[1], sys.argv[2], lease_s=3, name='doomed').run()")
    doomed = subprocess.Popen([sys.executable, "-c", code, env.url, str(env.data)],
                              env={**os.environ, "PYTHONPATH": str(Path.cwd())})
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with env.Session() as session:
                row = session.get(Submission, job)
                if row.state == "running" and row.worker == "doomed":
                    break
            time.sleep(0.1)
        else:
            pytest.fail("the worker never claimed the job")
        os.kill(doomed.pid, signal.SIGKILL)
    finally:
        doomed.kill()
        doomed.wait()
    survivor = Worker(env.url, env.data, lease_s=30, poll_s=0.2)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if survivor.step():
            break
        time.sleep(0.5)
    with env.Session() as session:
        row = session.get(Submission, job)
        assert (row.state, row.times_scored, row.attempts, row.worker) == \
            ("scored", 1, 2, survivor.name), row.reason
    # the package's public scores are czbench's on the public part of its embedding
    full, mask = challenge_data(str(challenge_dir(env.data, env.id)))
    embedding = np.asarray(full.X[:, :8].todense(), dtype=np.float32)
    expected = czbench.benchmark(full[mask].copy(), {"m": embedding[mask]}, ["clustering"],
                                 seed=3).document
    got = client.get(f"/submissions/{job}", headers=auth(env.teams["alpha"])).json()
    for row in expected["summary"]:
        assert got["scores"][f"{row['task']}/{row['metric']}"] == round(row["mean"], 3)


@pytest.mark.slow
def test_a_server_killed_during_an_upload_leaves_no_submission(tmp_path, request):
    import socket as sockets

    from sqlalchemy import select

    from tests.serve.conftest import free_port, npy_bytes, random_embedding

    env = Env(new_database("sqlite", tmp_path, request), tmp_path)
    port = free_port()
    code = ("import sys, uvicorn; from czbench.serve.app import create_app; "
            "uvicorn.run(create_app(sys.argv[1], sys.argv[2]), host='127.0.0.1', "
            "port=int(sys.argv[3]), log_level='warning')")
    server = subprocess.Popen([sys.executable, "-c", code, env.url, str(env.data), str(port)],
                              env={**os.environ, "PYTHONPATH": str(Path.cwd())})
    body = npy_bytes(random_embedding(env.n_cells, 21))
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                connection = sockets.create_connection(("127.0.0.1", port), timeout=5)
                break
            except OSError:
                assert time.monotonic() < deadline, "the server never started"
                time.sleep(0.2)
        head = (f"POST /challenges/{env.id}/submissions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Authorization: Bearer {env.teams['alpha']}\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode()
        connection.sendall(head + body[: len(body) // 2])
        uploads = env.data / "uploads"
        while not (uploads.is_dir() and list(uploads.glob(".part-*"))):
            assert time.monotonic() < deadline, "the upload never started"
            time.sleep(0.05)
        os.kill(server.pid, signal.SIGKILL)
        connection.close()
    finally:
        server.kill()
        server.wait()
    with env.Session() as session:
        assert not list(session.scalars(select(Submission).where(
            Submission.kind == "submission")))
    assert not [p for p in (env.data / "uploads").iterdir() if not p.name.startswith(".part-")]
