"""The README's Python quick start runs as written, and its commands exist."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_python_quick_start_runs(tmp_path, monkeypatch, capsys):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert blocks, "README has no python block"
    monkeypatch.chdir(tmp_path)
    exec(compile(blocks[0], "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert "entropy_per_cell" in out and "batch_silhouette" in out
    assert (tmp_path / "results" / "quickstart.json").exists()


def test_cli_quick_start_uses_real_subcommands_and_flags():
    from czbench.cli import build_parser

    text = README.read_text()
    block = re.findall(r"```bash\n(.*?)```", text, re.S)[1].replace("\\\n", " ")
    parser = build_parser()
    for line in block.splitlines():
        line = line.strip()
        if line.startswith("czbench "):
            parser.parse_args(line.split()[1:])  # exits on an unknown flag
