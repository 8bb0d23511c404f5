"""Whole-suite guards.

Every test must leave the task, dataset and baseline registries as it found them (register in a
try/finally or a fixture). :func:`_registries_unchanged` snapshots them before each test, fails
the test (at teardown, after its own fixtures have cleaned up) if an entry was added, removed or
replaced, and restores them so that later tests are unaffected.
"""

from __future__ import annotations

from typing import Any

import pytest

import czbench.baselines
import czbench.datasets.registry
import czbench.tasks.registry

#: registry name -> the module holding its ``_REGISTRY`` dict (read at each use)
_REGISTRIES = {
    "tasks": czbench.tasks.registry,
    "datasets": czbench.datasets.registry,
    "baselines": czbench.baselines,
}


def _registry(kind: str) -> dict[str, Any]:
    return _REGISTRIES[kind]._REGISTRY


def _same(a: Any, b: Any) -> bool:
    """Entries are the same; a built-in task is listed as "module:Class" until first used and
    as the class afterwards, which is no change."""
    def spec(entry: Any) -> Any:
        return f"{entry.__module__}:{entry.__qualname__}" if isinstance(entry, type) else entry

    return a is b or spec(a) == spec(b)


def _snapshot() -> dict[str, dict[str, Any]]:
    return {kind: dict(_registry(kind)) for kind in _REGISTRIES}


#: the registries as the test session found them (conftest is imported before any test module)
_AT_SESSION_START = {kind: list(entries) for kind, entries in _snapshot().items()}


@pytest.fixture(scope="session")
def registries_at_session_start() -> dict[str, list[str]]:
    """Names in each registry when the test session started."""
    return _AT_SESSION_START


@pytest.fixture(autouse=True)
def _registries_unchanged(request: pytest.FixtureRequest):
    before = _snapshot()
    yield
    problems = []
    for kind, old in before.items():
        registry = _registry(kind)
        added = sorted(set(registry) - set(old))
        removed = sorted(set(old) - set(registry))
        replaced = sorted(n for n in set(old) & set(registry) if not _same(old[n], registry[n]))
        if added or removed or replaced:
            problems.append(f"{kind} registry: added {added}, removed {removed}, "
                            f"replaced {replaced}")
            registry.clear()
            registry.update(old)
    if problems:
        pytest.fail(f"{request.node.nodeid} changed a registry and did not restore it: "
                    + "; ".join(problems), pytrace=False)
