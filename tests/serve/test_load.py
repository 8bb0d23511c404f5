"""A bounded load test against a live uvicorn on 127.0.0.1 with two workers: 5 teams x 10
concurrent submissions; every accepted one scored exactly once, quotas exact, no 5xx."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import uvicorn
from sqlalchemy import select

from czbench.serve.app import create_app
from czbench.serve.models import Submission
from czbench.serve.worker import Worker
from tests.serve.conftest import Env, auth, free_port, new_database, npy_bytes, random_embedding

TEAMS, EACH, QUOTA = 5, 10, 7


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_concurrent_teams_get_exact_quotas_and_each_job_scored_once(kind, tmp_path, request):
    env = Env(new_database(kind, tmp_path, request), tmp_path, quota_per_day=QUOTA,
              quota_total=QUOTA)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(env.url, env.data), host="127.0.0.1",
                                           port=port, log_level="warning"))
    serving = threading.Thread(target=server.run, daemon=True)
    serving.start()
    stop = threading.Event()
    workers = [threading.Thread(target=Worker(env.url, env.data, name=f"w{i}", poll_s=0.1)
                                .run, kwargs={"stop": stop}, daemon=True) for i in range(2)]
    try:
        while not server.started:
            time.sleep(0.05)
        for worker in workers:
            worker.start()
        tokens = [env.team(f"load{t}") for t in range(TEAMS)]
        base = f"http://127.0.0.1:{port}"

        def send(job: tuple[int, int]) -> tuple[int, int]:
            team, i = job
            body = npy_bytes(random_embedding(env.n_cells, 1000 * team + i, dims=4))
            with httpx.Client(base_url=base, timeout=60) as client:
                answer = client.post(f"/challenges/{env.id}/submissions", content=body,
                                     headers=auth(tokens[team]))
            return team, answer.status_code

        with ThreadPoolExecutor(TEAMS * EACH) as pool:
            codes = list(pool.map(send, [(t, i) for t in range(TEAMS) for i in range(EACH)]))
        assert not [c for _, c in codes if c >= 500]
        for team in range(TEAMS):
            mine = sorted(c for t, c in codes if t == team)
            assert mine == [202] * QUOTA + [429] * (EACH - QUOTA)
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            with env.Session() as session:
                states = list(session.scalars(select(Submission.state).where(
                    Submission.kind == "submission")))
            if states and all(s in ("scored", "failed") for s in states):
                break
            time.sleep(0.5)
        with env.Session() as session:
            rows = list(session.scalars(select(Submission).where(
                Submission.kind == "submission")))
        assert len(rows) == TEAMS * QUOTA
        assert all(r.state == "scored" and r.times_scored == 1 for r in rows)
        assert {r.worker for r in rows} <= {"w0", "w1"}
        with httpx.Client(base_url=base) as client:
            board = client.get(f"/challenges/{env.id}/leaderboard").json()
            me = client.get("/teams/me", headers=auth(tokens[0])).json()
        assert sum(r["kind"] == "submission" for r in board["rows"]) == TEAMS * QUOTA
        assert me["quota"]["used_total"] == QUOTA
    finally:
        stop.set()
        server.should_exit = True
        serving.join(10)
        for worker in workers:
            worker.join(30)
