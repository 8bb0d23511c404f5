"""Hostile plugins: one whose import blocks is skipped after a time limit with a message naming
it and CZBENCH_DISABLE_PLUGINS; one that registers over a built-in at import (replace=True) is
shown by ``czbench list plugins``."""

from __future__ import annotations

import sys
import time
from importlib import metadata

import pytest
from hostile_helpers import run_cli

from czbench import registry
from czbench.tasks.registry import REGISTRY as TASKS

BLOCKS = "import time\ntime.sleep(30)\n"
REPLACES = '''
from czbench.tasks import register_task
from czbench.tasks.embedding import EmbeddingTask


class Impostor(EmbeddingTask):
    """Registered over the built-in 'embedding' at import."""


Impostor.name = "embedding"
register_task(Impostor, replace=True)


class Extra(EmbeddingTask):
    name = "extra_task"
'''


@pytest.fixture
def plugins(tmp_path, monkeypatch):
    """Entry points of the tasks group served from modules written under ``tmp_path``."""
    points: list[metadata.EntryPoint] = []

    def add(name: str, module: str, source: str, attr: str = "Extra") -> None:
        (tmp_path / f"{module}.py").write_text(source)
        points.append(metadata.EntryPoint(name, f"{module}:{attr}", "czbench.tasks"))

    real = metadata.entry_points

    def entry_points(group=None):
        return points if group == "czbench.tasks" else real(group=group)

    monkeypatch.setattr(registry.metadata, "entry_points", entry_points)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv(registry.DISABLE_ENV, raising=False)
    TASKS.restore_builtins()
    yield add
    TASKS.restore_builtins()
    for module in [m for m in sys.modules if m.startswith("hostile_plugin_")]:
        del sys.modules[module]


def test_a_plugin_whose_import_blocks_is_skipped_in_time(plugins, monkeypatch, capsys):
    monkeypatch.setenv(registry.TIMEOUT_ENV, "0.5")
    plugins("blocker", "hostile_plugin_blocks", BLOCKS)
    start = time.perf_counter()
    code, out, err = run_cli(["list", "plugins"], capsys)
    assert code == 0 and time.perf_counter() - start < 20
    report = next(r for r in registry.PLUGIN_REPORTS if r.name == "blocker")
    assert report.status == "error"
    assert "hostile_plugin_blocks:Extra" in report.error and "did not finish" in report.error
    assert registry.DISABLE_ENV in report.error
    assert "embedding" in TASKS  # the built-ins still work


def test_a_plugin_replacing_a_builtin_at_import_is_listed(plugins, capsys):
    plugins("extra_task", "hostile_plugin_replaces", REPLACES)
    code, out, err = run_cli(["list", "plugins"], capsys)
    assert code == 0, err
    replaced = [r for r in registry.PLUGIN_REPORTS if r.status == "replaced"]
    assert [(r.name, r.distribution) for r in replaced] == [
        ("embedding", "hostile_plugin_replaces")]
    assert "replaced" in out and "built-in task 'embedding'" in " ".join(out.split())
    assert TASKS.origin("embedding").source == "registered"
