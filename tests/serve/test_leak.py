"""A participant tries to recover held-out labels through every endpoint and error path; it
must fail: no held-out value, per-cell output, per-class row or part membership leaves."""

from __future__ import annotations

import io
import re

import anndata as ad
import numpy as np
import pytest
from fastapi.testclient import TestClient

from czbench.datasets import load
from czbench.serve.app import create_app
from czbench.serve.worker import Worker
from tests.serve.conftest import DATASET, HOLD_OUT, Env, auth, new_database, npy_bytes

FORBIDDEN_KEYS = {"resolved", "warnings", "shape", "path", "params_rows", "n_cells_part"}


@pytest.fixture(scope="module")
def setting(tmp_path_factory, request):
    folder = tmp_path_factory.mktemp("leak")
    env = Env(new_database("sqlite", folder, request), folder, quota_per_day=20,
              quota_total=20)
    return env, TestClient(create_app(env.url, env.data, max_upload=1 << 20))


def _strings(value, out):
    if isinstance(value, dict):
        for key, item in value.items():
            out.append(str(key))
            _strings(item, out)
    elif isinstance(value, list):
        for item in value:
            _strings(item, out)
    elif isinstance(value, str):
        out.append(value)
    return out


def test_labels_cannot_be_recovered_through_any_endpoint_or_error(setting, tmp_path):
    env, client = setting
    attacker = env.team("attacker")
    head = auth(attacker)
    source = load(DATASET)
    labels = {str(v) for column in HOLD_OUT for v in source.obs[column].unique()}
    n = env.n_cells

    # 1. the public data: X and the public columns only, renamed cells in a new order
    public = ad.read_h5ad(io.BytesIO(client.get(f"/challenges/{env.id}/data.h5ad",
                                                headers=head).content))
    assert not set(HOLD_OUT) & set(public.obs.columns)
    assert not (public.layers or public.obsm or public.obsp or public.uns or public.varm)
    assert not set(public.obs_names) & set(source.obs_names)
    assert list(public.obs_names) == sorted(public.obs_names)  # names say nothing of order

    # 2. embeddings built to trip the engine or to probe single cells; label guesses as
    #    submission names; every error path we know
    probes = {"constant": np.zeros((n, 3), np.float32),
              "ties": np.repeat(np.arange(2, dtype=np.float32), [1, n - 1])[:, None],
              "one-cell": np.eye(n, 4, dtype=np.float32)}
    bodies = [npy_bytes(v) for v in probes.values()]
    bodies += [npy_bytes(np.ones((n + 1, 2), np.float32)), b"garbage",
               b"\x89HDF\r\n\x1a\n" + b"\x00" * 64]
    wrong_names = ad.AnnData(X=np.ones((n, 2), np.float32))
    wrong_names.obs_names = [f"T_CD4_{i}" for i in range(n)]
    wrong_names.write_h5ad(tmp_path / "names.h5ad")
    bodies.append((tmp_path / "names.h5ad").read_bytes())
    answers = [client.post(f"/challenges/{env.id}/submissions", content=body, headers=head,
                           params={"name": guess})
               for body, guess in zip(bodies, ["T_CD4", "Mono_CD14", "HSC", "x", "y", "z",
                                               "w"], strict=True)]
    Worker(env.url, env.data).run(stop_when_idle=True)
    ids = [a.json()["id"] for a in answers if a.status_code == 202]
    board = client.get(f"/challenges/{env.id}/leaderboard").json()
    gets = [f"/challenges/{env.id}", "/challenges", f"/challenges/{env.id}/leaderboard",
            f"/challenges/{env.id}/leaderboard?part=private", "/teams/me",
            *[f"/submissions/{i}" for i in ids], *[f"/submissions/{i}/document" for i in ids],
            *[f"/submissions/{i}/document?part=private" for i in ids],
            *[r["document_url"] for r in board["rows"]]]
    answers += [client.get(path, headers=head) for path in gets]
    texts = [a.text for a in answers]
    payloads = [a.json() for a in answers]

    # nothing names a held-out value (the submission names the attacker chose aside)
    chosen = {"T_CD4", "Mono_CD14", "HSC"}
    found = {s for p in payloads for s in _strings(p, []) if s in labels and s not in chosen}
    assert not found
    long_labels = {v for v in labels if len(v) >= 4} - chosen
    assert not [v for v in long_labels for t in texts if v in t]
    # nothing per cell, per class or per part: no params rows, no part sizes or hashes
    keys = {s for p in payloads for s in _strings(p, []) if isinstance(s, str)}
    assert not FORBIDDEN_KEYS & keys
    for payload in payloads:
        if isinstance(payload, dict) and "results" in payload:
            assert all(not r["params"] for r in payload["results"])
            assert all(set(e) <= {"source", "kind", "role", "seed"}
                       for e in payload["embeddings"])
    assert max(len(t) for t in texts) < 50_000  # no per-cell array hides in a body
    # failures say why in public terms only
    failed = [client.get(f"/submissions/{i}", headers=head).json() for i in ids]
    for row in failed:
        assert row["state"] in ("scored", "failed")
        if row["state"] == "failed":
            assert not set(re.findall(r"[A-Za-z0-9_]+", row["reason"])) & labels
    # the private part stays closed, and the quota bounds how many probes can be made
    assert client.get(f"/challenges/{env.id}/leaderboard?part=private").status_code == 403
    me = client.get(f"/teams/me?challenge={env.id}", headers=head).json()
    assert me["quota"]["total"] < n
