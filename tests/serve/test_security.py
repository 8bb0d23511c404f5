"""Tokens on every endpoint, path traversal, oversized and malformed uploads, a pickled .npy
(SQLite and PostgreSQL)."""

from __future__ import annotations

import io
import pickle

import numpy as np
import pytest
from fastapi.testclient import TestClient

from czbench.serve.app import create_app
from czbench.serve.worker import Worker
from tests.serve.conftest import auth, npy_bytes, random_embedding

WRONG = "czb_" + "x" * 43


@pytest.fixture(scope="module")
def client(env):
    return TestClient(create_app(env.url, env.data, max_upload=64_000))


@pytest.fixture(scope="module")
def alpha_submission(env, client):
    sent = client.post(f"/challenges/{env.id}/submissions",
                       content=npy_bytes(random_embedding(env.n_cells, 11)),
                       headers=auth(env.teams["alpha"]))
    assert sent.status_code == 202, sent.text
    Worker(env.url, env.data).run(stop_when_idle=True)
    return sent.json()["id"]


def _endpoints(env, submission):
    body = npy_bytes(random_embedding(env.n_cells, 12))
    return [("get", f"/challenges/{env.id}/data.h5ad", {}),
            ("post", f"/challenges/{env.id}/submissions", {"content": body}),
            ("get", "/teams/me", {}),
            ("post", f"/challenges/{env.id}/close", {}),
            ("get", f"/submissions/{submission}", {}),
            ("get", f"/submissions/{submission}/document?part=private", {})]


@pytest.mark.parametrize("token", [None, WRONG, "Bearer", "not-a-token"])
def test_no_or_a_wrong_token_is_refused_everywhere(env, client, alpha_submission, token):
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    for method, path, extra in _endpoints(env, alpha_submission):
        answer = getattr(client, method)(path, headers=headers, **extra)
        assert answer.status_code == 401, (path, answer.status_code, answer.text)


def test_another_teams_submission_is_not_found(env, client, alpha_submission):
    beta = auth(env.teams["beta"])
    for path in (f"/submissions/{alpha_submission}",
                 f"/submissions/{alpha_submission}/document?part=private"):
        answer = client.get(path, headers=beta)
        assert answer.status_code == 404 and answer.json() == {"detail": "submission: not found"}
    # the public part's document of a scored row is what the board links to: anyone reads it,
    # and it holds the board's rounded numbers only
    board = client.get(f"/challenges/{env.id}/leaderboard").json()
    row = next(r for r in board["rows"] if r["id"] == alpha_submission)
    for headers in (beta, {}):
        document = client.get(row["document_url"], headers=headers)
        assert document.status_code == 200 and document.json()["dataset"]["part"] == "public"
    shown = {f"{r['task']}/{r['metric']}": r["value"] for r in document.json()["results"]}
    assert shown and all(shown[k] == v for k, v in row["scores"].items())
    me = client.get("/teams/me", headers=beta).json()
    assert alpha_submission not in {s["id"] for s in me["submissions"]}
    assert client.post(f"/challenges/{env.id}/close", headers=beta).status_code == 403
    own = client.get(f"/submissions/{alpha_submission}", headers=auth(env.teams["alpha"]))
    assert own.status_code == 200
    assert client.get(f"/submissions/{alpha_submission}",
                      headers=auth(env.admin)).status_code == 200


def test_path_traversal_names_go_nowhere(env, client):
    token = auth(env.teams["beta"])
    for path in ("/submissions/..%2F..%2Fetc%2Fpasswd", "/challenges/..%2Fx/data.h5ad",
                 "/submissions/%2e%2e/document", f"/challenges/{env.id}%2F..%2F/data.h5ad"):
        assert client.get(path, headers=token).status_code == 404, path
    for name in ("../../evil", "a/b", "..", ".hidden", "x" * 65):
        answer = client.post(f"/challenges/{env.id}/submissions", params={"name": name},
                             content=npy_bytes(random_embedding(env.n_cells, 13)),
                             headers=token)
        assert answer.status_code == 422, name
    stored = list((env.data / "uploads").iterdir())
    assert all(len(p.name) == 64 and set(p.name) <= set("0123456789abcdef") for p in stored)
    assert not list(env.data.parent.glob("evil*"))


def test_oversized_uploads_are_413_and_leave_nothing(env, client):
    token = auth(env.teams["beta"])
    before = set((env.data / "uploads").iterdir())
    big = b"\x93NUMPY" + b"0" * 70_000
    assert client.post(f"/challenges/{env.id}/submissions", content=big,
                       headers=token).status_code == 413

    def chunks():  # no Content-Length: the limit holds while the body streams
        for _ in range(20):
            yield b"\x93NUMPY" + b"1" * 9_994

    answer = client.post(f"/challenges/{env.id}/submissions", content=chunks(), headers=token)
    assert answer.status_code == 413
    assert set((env.data / "uploads").iterdir()) == before


def test_malformed_uploads_are_one_line_errors(env, client, tmp_path):
    token = auth(env.teams["beta"])
    n = env.n_cells
    pickled = io.BytesIO()
    np.save(pickled, np.array([{"a": 1}] * n, dtype=object), allow_pickle=True)
    nan = random_embedding(n, 14)
    nan[3, 1] = np.nan
    cases = {b"": 415, b"hello world": 415, pickle.dumps({"x": 1}): 415,
             npy_bytes(random_embedding(n, 15))[:90]: 422, pickled.getvalue(): 422,
             npy_bytes(random_embedding(n - 1, 16)): 422, npy_bytes(nan): 422,
             npy_bytes(np.zeros(n, dtype=np.float32)): 422,
             b"\x89HDF\r\n\x1a\n" + b"\x00" * 100: 422}
    for body, status in cases.items():
        answer = client.post(f"/challenges/{env.id}/submissions", content=body, headers=token)
        assert answer.status_code == status, (body[:20], answer.text)
        assert "\n" not in answer.json()["detail"]
    quota = client.get(f"/teams/me?challenge={env.id}", headers=token).json()["quota"]
    assert quota["used_total"] == 0  # refused files cost nothing
