"""Hostile MLflow tracking URIs: a server that is down is a one-line error before any work,
in seconds (not after the run and minutes of retries)."""

from __future__ import annotations

import socket
import time

import pytest
from hostile_helpers import assert_one_line_error, run_cli, small_files

pytest.importorskip("mlflow")


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_unreachable_tracking_server_fails_before_any_work(tmp_path, capsys):
    files = small_files(tmp_path)
    out = tmp_path / "out.json"
    start = time.perf_counter()
    code, _, err = run_cli(["run", "--dataset", files["small"], "--embedding", files["emb"],
                            "--task", "embedding", "--output", str(out), "--quiet",
                            "--mlflow-tracking-uri", f"http://127.0.0.1:{_closed_port()}"],
                           capsys)
    assert_one_line_error(code, err, "--mlflow-tracking-uri: the tracking server .* is "
                                     "unreachable")
    assert not out.exists() and time.perf_counter() - start < 30
