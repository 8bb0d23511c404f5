"""A worker that hands its scoring to a Dask scheduler gives the scores of a worker that scores
in its own process (to the tolerance docs/reproducibility.md states across schedulers)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from czbench.serve.app import create_app
from czbench.serve.models import Submission
from czbench.serve.worker import Worker
from tests.helpers import assert_same_across_boundary
from tests.serve.conftest import Env, auth, new_database, npy_bytes, random_embedding


@pytest.mark.slow
def test_a_worker_on_a_dask_scheduler_scores_as_a_local_one(tmp_path, request):
    from distributed import LocalCluster

    env = Env(new_database("sqlite", tmp_path, request), tmp_path)
    client = TestClient(create_app(env.url, env.data))
    body = npy_bytes(random_embedding(env.n_cells, 21, dims=8))
    ids = {}
    for team in ("alpha", "beta"):  # the same file from two teams: two jobs
        sent = client.post(f"/challenges/{env.id}/submissions", content=body,
                           headers=auth(env.teams[team]))
        assert sent.status_code == 202, sent.text
        ids[team] = sent.json()["id"]
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                      dashboard_address=None) as cluster:
        assert Worker(env.url, env.data, scheduler=cluster.scheduler_address).run(max_jobs=1) == 1
    assert Worker(env.url, env.data).run(max_jobs=1) == 1
    with env.Session() as session:
        rows = {team: session.get(Submission, i) for team, i in ids.items()}
        assert all(r.state == "scored" for r in rows.values())
        on_dask, local = (rows[t] for t in ("alpha", "beta"))
        assert on_dask.public_document["environment"]["scheduler"] == "dask"
        assert local.public_document["environment"]["scheduler"] == "serial"
        for part in ("public", "private"):
            assert_same_across_boundary(getattr(on_dask, f"{part}_document"),
                                        getattr(local, f"{part}_document"))
        assert on_dask.public_scores == local.public_scores
