"""czbench serve: scored submissions per minute on the demo challenge, and the leaderboard's
p95 latency with 1,000 submissions on the board; SQLite and PostgreSQL.

The challenge is ``czbench serve --demo``'s (pbmc_3chemistries_symphony, 1,200 cells, tasks
clustering + embedding, both parts scored). Submissions are random 32-dim embeddings posted
through the app (in-process ASGI client); workers are threads (1 on SQLite, 2 on PostgreSQL).
The board is timed through the app with 1,000 scored submissions of 50 teams inserted.

    python benchmarks/bench_serve.py [--submissions 20] [--requests 200] [--dbs sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from fastapi.testclient import TestClient
from sqlalchemy import select

from czbench.serve import admin
from czbench.serve.app import create_app
from czbench.serve.demo import DEMO_DATASET, DEMO_HOLD_OUT, DEMO_TASKS
from czbench.serve.jobs import new_id
from czbench.serve.migrate import make_engine, sessions, upgrade
from czbench.serve.models import Submission, Team, utcnow
from czbench.serve.worker import Worker
from tests.serve.conftest import auth, create_database, npy_bytes, running_postgres


def bench(url: str, data: Path, n_submissions: int, n_requests: int, n_workers: int) -> dict:
    upgrade(url)
    factory = sessions(make_engine(url))
    with factory() as session:
        teams = [admin.add_team(session, f"team{i}") for i in range(50)]
        start = time.perf_counter()
        challenge = admin.create_challenge(session, data, DEMO_DATASET, tasks=DEMO_TASKS,
                                           hold_out=DEMO_HOLD_OUT, seed=0, quota_per_day=1000,
                                           quota_total=1000)
        created = time.perf_counter() - start
    client = TestClient(create_app(url, data))
    rng = np.random.default_rng(0)
    for i in range(n_submissions):
        body = npy_bytes(rng.normal(size=(challenge.n_cells, 32)).astype(np.float32))
        answer = client.post(f"/challenges/{challenge.id}/submissions", content=body,
                             headers=auth(teams[i % len(teams)]))
        assert answer.status_code == 202, answer.text
    stop = threading.Event()
    workers = [threading.Thread(target=Worker(url, data, name=f"w{i}", poll_s=0.05).run,
                                kwargs={"stop": stop}) for i in range(n_workers)]
    start = time.perf_counter()
    for worker in workers:
        worker.start()
    while True:
        with factory() as session:
            left = session.scalars(select(Submission.state).where(
                Submission.kind == "submission", Submission.state.in_(("queued", "running"))))
            if not list(left):
                break
        time.sleep(0.05)
    scoring = time.perf_counter() - start
    stop.set()
    for worker in workers:
        worker.join()
    with factory() as session:  # fill the board to 1,000 scored submissions
        template = session.scalar(select(Submission).where(Submission.kind == "submission",
                                                           Submission.state == "scored"))
        team_ids = list(session.scalars(select(Team.id)))
        for i in range(1000 - n_submissions):
            session.add(Submission(
                id=new_id(), challenge_id=challenge.id, team_id=team_ids[i % len(team_ids)],
                kind="submission", name="filler", file_kind="npy",
                sha256=f"{i:064x}", state="scored", submitted_at=utcnow(),
                scored_at=utcnow(), times_scored=1,
                public_scores=template.public_scores,
                public_aggregates=template.public_aggregates,
                private_scores=template.private_scores,
                private_aggregates=template.private_aggregates))
        session.commit()
    latencies = []
    for _ in range(n_requests):
        start = time.perf_counter()
        board = client.get(f"/challenges/{challenge.id}/leaderboard")
        latencies.append(time.perf_counter() - start)
        assert board.status_code == 200
    assert sum(r["kind"] == "submission" for r in board.json()["rows"]) == 1000
    latencies.sort()
    return {"create_s": created, "per_minute": 60 * n_submissions / scoring,
            "board_p50_ms": 1000 * statistics.median(latencies),
            "board_p95_ms": 1000 * latencies[int(0.95 * len(latencies)) - 1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--submissions", type=int, default=20)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--dbs", default="sqlite,postgresql")
    args = parser.parse_args()
    print("| database | workers | challenge creation (s) | scored submissions / min "
          "| board p50 (ms) | board p95 (ms) |")
    print("|---|---|---|---|---|---|")
    for kind in args.dbs.split(","):
        with tempfile.TemporaryDirectory() as folder, contextlib.ExitStack() as stack:
            if kind == "sqlite":
                url, workers = f"sqlite:///{folder}/serve.db", 1
            else:
                url, workers = create_database(*stack.enter_context(running_postgres())), 2
            out = bench(url, Path(folder), args.submissions, args.requests, workers)
            print(f"| {kind} | {workers} | {out['create_s']:.1f} | {out['per_minute']:.1f} "
                  f"| {out['board_p50_ms']:.1f} | {out['board_p95_ms']:.1f} |", flush=True)


if __name__ == "__main__":
    main()
