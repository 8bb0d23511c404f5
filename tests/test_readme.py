"""The README's Python code runs as written, and its CLI lines use real flags."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), re.S)


def test_python_quick_start_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    exec(compile(_python_blocks()[0], "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert "entropy_per_cell" in out and "batch_silhouette" in out
    assert (tmp_path / "results" / "quickstart.json").exists()


def test_lightning_example_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(_python_blocks()[1], "README.md", "exec"), namespace)
    history = namespace["bench"].history_
    assert [h["stage"] for h in history] == ["fit", "fit", "fit", "validate"]
    assert "czbench/clustering/adjusted_rand_index" in history[-1]
    written = sorted(p.name for p in (tmp_path / "results" / "training").glob("*.json"))
    assert len(written) == 4 and written[-1].startswith("validate-")


def test_sklearn_example_runs(capsys):
    namespace: dict = {}
    exec(compile(_python_blocks()[2], "README.md", "exec"), namespace)
    assert namespace["search"].best_params_["pca__n_components"] in (5, 10, 20, 40)
    assert namespace["search"].best_score_ > 0.3
    assert "pca__n_components" in capsys.readouterr().out


def test_cli_quick_start_uses_real_subcommands_and_flags():
    from czbench.cli import build_parser

    blocks = re.findall(r"```bash\n(.*?)```", README.read_text(), re.S)[1:]
    lines = "\n".join(blocks).replace("\\\n", " ").splitlines()
    parser = build_parser()
    for line in lines:
        line = line.strip()
        if line.startswith("czbench "):
            parser.parse_args(line.split()[1:])  # exits on an unknown flag
