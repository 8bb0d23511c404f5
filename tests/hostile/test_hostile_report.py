"""Hostile report outputs: planted links (with or without ``--overwrite``), names that are HTML,
the same results file twice. Every file goes through the atomic, link-refusing writer; nothing
is written outside the output folder."""

from __future__ import annotations

import shutil

import pytest
from hostile_helpers import assert_one_line_error, run_cli, small_files

from czbench.run import benchmark


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    files = small_files(root)
    path = benchmark(files["small"], {"mine": files["emb"]}, tasks=["embedding"]) \
        .write_json(root / "good.json")
    hostile = root / "<img src=x onerror=alert(1)>.json"
    shutil.copy(path, hostile)
    return {"good": str(path), "hostile": str(hostile)}


@pytest.mark.parametrize("overwrite", [False, True], ids=["plain", "overwrite"])
@pytest.mark.parametrize("target", ["summary.png", "embedding.png", "report.html"])
def test_a_link_planted_in_the_output_folder_is_refused(results, tmp_path, capsys, target,
                                                        overwrite):
    out = tmp_path / "out"
    out.mkdir()
    users = tmp_path / "users_file.txt"
    users.write_text("precious")
    (out / target).symlink_to(users)
    argv = ["report", results["good"], "--output", str(out)] + (["--overwrite"] * overwrite)
    code, _, err = run_cli(argv, capsys)
    assert_one_line_error(code, err, f"output: .*{target}.* symbolic link")
    assert users.read_text() == "precious"
    assert sorted(p.name for p in out.iterdir()) == [target]  # nothing else written


@pytest.mark.parametrize("overwrite", [False, True], ids=["plain", "overwrite"])
def test_a_dangling_link_does_not_write_outside_the_folder(results, tmp_path, capsys,
                                                           overwrite):
    out = tmp_path / "out"
    out.mkdir()
    outside = tmp_path / "elsewhere" / "written.png"
    outside.parent.mkdir()
    (out / "summary.png").symlink_to(outside)
    argv = ["report", results["good"], "--output", str(out)] + (["--overwrite"] * overwrite)
    code, _, err = run_cli(argv, capsys)
    assert_one_line_error(code, err, "output: .*summary.png.* symbolic link")
    assert not outside.exists()


def test_a_results_file_name_is_escaped_in_the_html(results, tmp_path, capsys):
    out = tmp_path / "out"
    code, _, err = run_cli(["report", results["hostile"], "--output", str(out)], capsys)
    assert code == 0, err
    html = (out / "report.html").read_text()
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;.json" in html
    assert {p.name for p in out.iterdir()} == {"report.md", "report.html", "summary.png",
                                               "embedding.png"}


def test_the_same_results_file_twice_is_one_line(results, tmp_path, capsys):
    out = tmp_path / "out"
    code, _, err = run_cli(["report", results["good"], results["good"], "--output", str(out)],
                           capsys)
    assert_one_line_error(code, err, "results: .*good.json is given twice")
    assert not out.exists()
