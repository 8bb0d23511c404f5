"""Fixtures of the serve suite: a real PostgreSQL (initdb + pg_ctl as an unprivileged user, in
a temporary folder, on a free loopback port), SQLite, and one small challenge per database
(200 cells of pbmc_3chemistries_symphony, the clustering task) shared by a module's tests."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

# the serve extra is part of dev: a missing fastapi/sqlalchemy is a failure, not a skip
from czbench.serve import admin
from czbench.serve.migrate import make_engine, sessions, upgrade


def _pg_bin() -> Path:
    """Where initdb and pg_ctl are: $CZBENCH_PG_BIN, else the newest Debian PostgreSQL."""
    if os.environ.get("CZBENCH_PG_BIN"):
        return Path(os.environ["CZBENCH_PG_BIN"])
    found = sorted(Path(os.sep, "usr", "lib", "postgresql").glob("*/bin/initdb"),
                   key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0)
    return found[-1].parent if found else Path("initdb-not-found")


PG_BIN = _pg_bin()
DATASET = "pbmc_3chemistries_symphony"
HOLD_OUT = ["cell_type", "cell_type_broad"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _as_user(command: list[str]) -> list[str]:
    return ["runuser", "-u", "nobody", "--", *command] if os.geteuid() == 0 else command


@contextlib.contextmanager
def running_postgres() -> Iterator[tuple[str, int]]:
    """(host, port) of a PostgreSQL started (initdb + pg_ctl, as ``nobody`` when root) in a
    temporary folder on a free loopback port, stopped and removed afterwards."""
    root = Path(tempfile.mkdtemp(prefix="czbench-pg-"))
    root.chmod(0o755)
    data = root / "data"
    data.mkdir()
    if os.geteuid() == 0:
        shutil.chown(data, "nobody", "nogroup")
        shutil.chown(root, "nobody", "nogroup")
    port = free_port()
    try:
        subprocess.run(_as_user([str(PG_BIN / "initdb"), "-D", str(data), "-A", "trust",
                                 "-U", "postgres", "--no-sync"]), check=True,
                       capture_output=True)
        options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
        subprocess.run(_as_user([str(PG_BIN / "pg_ctl"), "-D", str(data), "-o", options,
                                 "-l", str(root / "log"), "-w", "start"]), check=True,
                       capture_output=True)
        yield "127.0.0.1", port
    finally:
        subprocess.run(_as_user([str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate",
                                 "stop"]), capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def create_database(host: str, port: int) -> str:
    """A new empty database on that server; its SQLAlchemy URL."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(f"host={host} port={port} user=postgres dbname=postgres",
                         autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {name}")
    return f"postgresql+psycopg://postgres@{host}:{port}/{name}"


@pytest.fixture(scope="session")
def postgres_server():
    """(host, port) of a PostgreSQL 15 started for this session; skipped where its binaries
    are missing, failed instead under ``CZBENCH_REQUIRE_POSTGRES=1`` (``.ci/run`` installs them
    and sets it)."""
    if not (PG_BIN / "initdb").is_file():
        message = f"PostgreSQL binaries not found in {PG_BIN} (apt-get install postgresql)"
        if os.environ.get("CZBENCH_REQUIRE_POSTGRES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    with running_postgres() as where:
        yield where


def new_database(kind: str, folder: Path, request: pytest.FixtureRequest) -> str:
    """A fresh, migrated database of ``kind`` (sqlite or postgresql); its URL."""
    if kind == "sqlite":
        url = f"sqlite:///{folder / 'serve.db'}"
    else:
        url = create_database(*request.getfixturevalue("postgres_server"))
    upgrade(url)
    return url


class Env:
    """A server's database, data folder, one challenge, an admin and two team tokens."""

    def __init__(self, url: str, data: Path, **options) -> None:
        self.url, self.data = url, data
        self.Session = sessions(make_engine(url))
        with self.Session() as session:
            self.admin = admin.add_team(session, "lab", admin=True)
            self.teams = {name: admin.add_team(session, name) for name in ("alpha", "beta")}
            settings = {"tasks": ["clustering"], "hold_out": HOLD_OUT, "seed": 3,
                        "max_cells": 200, "quota_per_day": 4, "quota_total": 6, **options}
            self.challenge = admin.create_challenge(session, data, DATASET, **settings)
        self.id = self.challenge.id
        self.n_cells = self.challenge.n_cells

    def team(self, name: str) -> str:
        """A new team's token."""
        with self.Session() as session:
            return admin.add_team(session, name)


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def random_embedding(n: int, seed: int, dims: int = 6) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, dims)).astype(np.float32)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def env(request, tmp_path_factory) -> Env:
    """One challenge on SQLite, then on PostgreSQL."""
    folder = tmp_path_factory.mktemp(f"serve-{request.param}")
    return Env(new_database(request.param, folder, request), folder)


MODEL_CODE = '''
import anndata as ad
import mlflow
import numpy as np
from mlflow.pyfunc import PythonModel


class Model(PythonModel):
    def predict(self, context, model_input, params=None):
        adata = ad.read_h5ad(model_input["input_uri"][0])
{body}


mlflow.models.set_model(Model())
'''


def make_package(folder: Path, body: str) -> bytes:
    """A zipped MLflow pyfunc package (models from code) whose ``predict`` runs ``body``
    (indented 8 spaces; ``adata`` is the public data)."""
    import mlflow.pyfunc

    code = folder / "model_code.py"
    code.write_text(MODEL_CODE.format(body="\n".join("        " + line
                                                     for line in body.splitlines())))
    target = folder / "package"
    mlflow.pyfunc.save_model(str(target), python_model=str(code))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        for path in sorted(target.rglob("*")):
            if path.is_file():
                bundle.write(path, path.relative_to(target).as_posix())
    return buffer.getvalue()
