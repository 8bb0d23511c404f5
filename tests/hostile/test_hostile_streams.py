"""Hostile terminals: stdout and stderr that can encode only ASCII (``LANG=C``,
``PYTHONIOENCODING=ascii``, some pipes) get every command's output, never a traceback."""

from __future__ import annotations

import io
import json
import sys

import pytest
from hostile_helpers import small_files

from czbench.cli import main


@pytest.mark.parametrize("argv", [["list", "tasks"], ["run"]], ids=["list", "run"])
def test_an_ascii_only_stdout_gets_the_output(tmp_path, monkeypatch, argv):
    out_bytes, err_bytes = io.BytesIO(), io.BytesIO()
    stdout = io.TextIOWrapper(out_bytes, encoding="ascii")
    stderr = io.TextIOWrapper(err_bytes, encoding="ascii")
    monkeypatch.setattr(sys, "stdout", stdout)
    monkeypatch.setattr(sys, "stderr", stderr)
    if argv == ["run"]:
        files = small_files(tmp_path)
        argv = ["run", "--dataset", files["small"], "--embedding", files["emb"], "--task",
                "embedding", "--output", str(tmp_path / "o.json")]
    code = main(argv)
    stdout.flush()
    stderr.flush()
    text = out_bytes.getvalue().decode("ascii")
    assert code == 0, err_bytes.getvalue()
    assert b"Traceback" not in err_bytes.getvalue()
    if argv[0] == "run":
        assert json.loads((tmp_path / "o.json").read_text())["results"]
        assert "silhouette" in text and "?" in text  # the symbols it cannot encode
    else:
        assert "clustering" in text
