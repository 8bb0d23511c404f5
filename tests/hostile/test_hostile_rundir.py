"""Hostile run directories on ``--resume``: edited records, records missing a field, FIFOs and
links are one-line errors naming the file, before any work; nothing blocks."""

from __future__ import annotations

import json
import os
import re

import pytest
from hostile_helpers import assert_one_line_error, run_cli, small_files

from czbench.run.rundir import record_checksum


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished run directory (copied by each test) and the CLI call that made it."""
    root = tmp_path_factory.mktemp("rundir")
    files = small_files(root)
    argv = ["run", "--dataset", files["small"], "--embedding", files["emb"], "--task",
            "embedding", "--run-dir", str(root / "rd"), "--output", str(root / "a.json"),
            "--quiet"]
    from czbench.cli import main

    assert main(argv) == 0
    return root, argv


def _resume(finished, tmp_path, capsys, change) -> tuple[int, str, str]:
    import shutil

    root, argv = finished
    run_dir = tmp_path / "rd"
    shutil.copytree(root / "rd", run_dir)
    record = sorted(run_dir.rglob("cells/**/embedding.json"))[0]
    change(record)
    args = [*argv]
    args[args.index("--run-dir") + 1] = str(run_dir)
    args[args.index("--output") + 1] = str(tmp_path / "b.json")
    out = run_cli([*args, "--resume"], capsys)
    assert not (tmp_path / "b.json").exists() or out[0] == 0
    return (*out, record)


def _edit(record):
    data = json.loads(record.read_text())
    data["results"][0]["value"] = 0.999
    record.write_text(json.dumps(data))


def _drop_field(record):  # a foreign writer: a valid checksum, a field missing
    data = json.loads(record.read_text())
    del data["entry"]["sha256"]
    data["checksum"] = record_checksum(data)
    record.write_text(json.dumps(data))


def _fifo(record):
    record.unlink()
    os.mkfifo(record)


def _link(record):
    target = record.parents[5] / "elsewhere.json"  # outside the run directory
    target.write_text(record.read_text())
    record.unlink()
    record.symlink_to(target)


@pytest.mark.parametrize("change,words", [
    (_edit, "was edited or damaged"), (_drop_field, "lacks field entry.sha256"),
    (_fifo, "is not a regular file"), (_link, "is not a regular file"),
], ids=["edited", "missing-field", "fifo", "symlink"])
def test_a_tampered_record_is_refused_naming_the_file(finished, tmp_path, capsys, change,
                                                      words):
    code, _, err, record = _resume(finished, tmp_path, capsys, change)
    assert_one_line_error(code, err, re.escape(str(record)) + ".*" + words)


def test_an_untouched_run_directory_resumes(finished, tmp_path, capsys):
    code, _, err, _ = _resume(finished, tmp_path, capsys, lambda record: None)
    assert code == 0, err
    first = json.loads((finished[0] / "a.json").read_text())["results"]
    assert json.loads((tmp_path / "b.json").read_text())["results"] == first
