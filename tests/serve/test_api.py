"""The API on SQLite and on a real PostgreSQL: migrations, the submission flow scored as
``czbench.benchmark`` scores the public part, duplicates, quotas, rounding, closing."""

from __future__ import annotations

import io

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

import czbench
from czbench.serve.migrate import check
from czbench.serve.models import Challenge, Submission, Team
from czbench.serve.scoring import challenge_data
from czbench.serve.storage import challenge_dir
from czbench.serve.worker import Worker
from tests.serve.conftest import auth, npy_bytes, random_embedding


@pytest.fixture(scope="module")
def client(env):
    from czbench.serve.app import create_app

    return TestClient(create_app(env.url, env.data))


def score_all(env) -> int:
    return Worker(env.url, env.data, lease_s=30).run(stop_when_idle=True)


def test_migrations_match_the_models(env):
    check(env.url)  # alembic check: raises when the tables differ from the models


def test_an_embedding_scores_what_czbench_scores_on_the_public_part(env, client):
    token = env.team("scorer")
    embedding = random_embedding(env.n_cells, 0)
    sent = client.post(f"/challenges/{env.id}/submissions", content=npy_bytes(embedding),
                       headers=auth(token))
    assert sent.status_code == 202, sent.text
    assert sent.json()["state"] == "queued"
    assert score_all(env) >= 1
    got = client.get(f"/submissions/{sent.json()['id']}", headers=auth(token)).json()
    assert got["state"] == "scored"
    full, mask = challenge_data(str(challenge_dir(env.data, env.id)))
    expected = czbench.benchmark(full[mask].copy(), {"mine": embedding[mask]}, ["clustering"],
                                 seed=3).document
    for row in expected["summary"]:
        key = f"{row['task']}/{row['metric']}"
        assert got["scores"][key] == round(row["mean"], 3)
    # rounded to the stated digits everywhere a score leaves
    board = client.get(f"/challenges/{env.id}/leaderboard").json()
    assert board["challenge"]["digits"] == 3
    for row in board["rows"]:
        for value in [*row["scores"].values(), *row["aggregates"].values()]:
            assert value is None or value == round(value, 3)
    document = client.get(f"/submissions/{got['id']}/document", headers=auth(token)).json()
    assert all(r["value"] == round(r["value"], 3) for r in document["results"])
    with env.Session() as session:
        row = session.get(Submission, got["id"])
        assert row.times_scored == 1 and row.private_scores  # stored, not shown


def test_the_board_holds_the_reference_rows_and_the_contract_fields(env, client):
    board = client.get(f"/challenges/{env.id}/leaderboard").json()
    names = {r["name"] for r in board["rows"] if r["kind"] == "reference"}
    assert {"baseline:pca", "control:random", "control:shuffled"} <= names
    assert set(board) >= {"challenge", "metrics", "aggregates", "rows", "generated_at"}
    assert {m["key"] for m in board["metrics"]} == {"clustering/adjusted_rand_index",
                                                    "clustering/normalized_mutual_info"}
    pca = next(r for r in board["rows"] if r["name"] == "baseline:pca")
    shuffled = next(r for r in board["rows"] if r["name"] == "control:shuffled")
    assert pca["scores"]["clustering/adjusted_rand_index"] > \
        shuffled["scores"]["clustering/adjusted_rand_index"]
    assert set(pca) >= {"id", "kind", "team", "name", "submitted_at", "scores", "aggregates",
                        "document_url"}


def test_an_h5ad_is_aligned_by_cell_name(env, client, tmp_path):
    token = env.team("aligner")
    embedding = random_embedding(env.n_cells, 1)
    names = client.get(f"/challenges/{env.id}/data.h5ad", headers=auth(token))
    public = ad.read_h5ad(io.BytesIO(names.content))
    order = np.random.default_rng(5).permutation(env.n_cells)
    shuffled = ad.AnnData(X=embedding[order],
                          obs=pd.DataFrame(index=public.obs_names[order]))
    shuffled.write_h5ad(tmp_path / "mine.h5ad")
    a = client.post(f"/challenges/{env.id}/submissions",
                    content=(tmp_path / "mine.h5ad").read_bytes(),
                    headers=auth(token))
    b = client.post(f"/challenges/{env.id}/submissions", content=npy_bytes(embedding),
                    headers=auth(token))
    assert (a.status_code, b.status_code) == (202, 202), (a.text, b.text)
    score_all(env)
    scored = [client.get(f"/submissions/{r.json()['id']}", headers=auth(token)).json()
              for r in (a, b)]
    assert scored[0]["scores"] == scored[1]["scores"] and scored[0]["state"] == "scored"


def test_the_same_file_returns_the_stored_result_and_costs_nothing(env, client):
    token = env.team("repeater")
    body = npy_bytes(random_embedding(env.n_cells, 2))
    first = client.post(f"/challenges/{env.id}/submissions", content=body, headers=auth(token))
    again = client.post(f"/challenges/{env.id}/submissions", content=body, headers=auth(token))
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json()["id"] == first.json()["id"] and again.json()["duplicate"]
    quota = client.get(f"/teams/me?challenge={env.id}", headers=auth(token)).json()["quota"]
    assert quota["used_total"] == 1 and quota["used_today"] == 1


def test_quotas_per_day_and_in_total_are_exact(env, client):
    token = env.team("greedy")
    codes = [client.post(f"/challenges/{env.id}/submissions",
                         content=npy_bytes(random_embedding(env.n_cells, 100 + i)),
                         headers=auth(token)).status_code for i in range(6)]
    assert codes == [202] * 4 + [429] * 2  # 4 per day
    with env.Session() as session:  # yesterday's four: the total (6) is what is left
        team = session.scalar(select(Team).where(Team.name == "greedy"))
        for row in session.scalars(select(Submission).where(Submission.team_id == team.id)):
            row.submitted_at = row.submitted_at - pd.Timedelta(days=1)
        session.commit()
    codes = [client.post(f"/challenges/{env.id}/submissions",
                         content=npy_bytes(random_embedding(env.n_cells, 200 + i)),
                         headers=auth(token)).status_code for i in range(4)]
    assert codes == [202, 202, 429, 429]
    me = client.get(f"/teams/me?challenge={env.id}", headers=auth(token)).json()
    assert me["quota"] == {"used_today": 2, "per_day": 4, "used_total": 6, "total": 6,
                           "challenge": env.id}
    assert "quota" in client.post(f"/challenges/{env.id}/submissions",
                                  content=npy_bytes(random_embedding(env.n_cells, 9)),
                                  headers=auth(token)).json()["detail"]


def test_tokens_are_stored_hashed(env):
    with env.Session() as session:
        hashes = set(session.scalars(select(Team.token_hash)))
    assert env.admin not in hashes and not any(t in hashes for t in env.teams.values())
    assert all(len(h) == 64 for h in hashes)


def test_the_private_board_opens_when_the_challenge_closes(env, client):
    team = env.teams["beta"]
    assert client.get(f"/challenges/{env.id}/leaderboard?part=private").status_code == 403
    assert client.post(f"/challenges/{env.id}/close", headers=auth(team)).status_code == 403
    assert client.get(f"/challenges/{env.id}/leaderboard?part=private",
                      headers=auth(env.admin)).status_code == 200
    try:
        closed = client.post(f"/challenges/{env.id}/close", headers=auth(env.admin))
        assert closed.json()["state"] == "closed"
        private = client.get(f"/challenges/{env.id}/leaderboard?part=private").json()
        public = client.get(f"/challenges/{env.id}/leaderboard").json()
        pca = [next(r for r in b["rows"] if r["name"] == "baseline:pca")
               for b in (public, private)]
        assert pca[0]["scores"] != pca[1]["scores"]  # two different parts of the cells
        late = client.post(f"/challenges/{env.id}/submissions",
                           content=npy_bytes(random_embedding(env.n_cells, 7)),
                           headers=auth(team))
        assert late.status_code == 409
    finally:  # the module's other tests (in any order) submit to this challenge
        with env.Session() as session:
            session.get(Challenge, env.id).state = "open"
            session.commit()
