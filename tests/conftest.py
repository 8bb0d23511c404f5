"""Whole-suite guards.

Every test must leave the registries (tasks, datasets, metrics, baselines, models, modalities)
as it found them (register in a
try/finally or a fixture). :func:`_registries_unchanged` snapshots them before each test, fails
the test (at teardown, after its own fixtures have cleaned up) if an entry was added, removed or
replaced, and restores them so that later tests are unaffected.
"""

from __future__ import annotations

from typing import Any

import pytest

# imported for their registries (each adds itself to REGISTRIES)
import czbench.baselines  # noqa: F401
import czbench.datasets.registry  # noqa: F401
import czbench.metrics.registry  # noqa: F401
import czbench.models.registry  # noqa: F401
import czbench.tasks.registry  # noqa: F401
from czbench.registry import REGISTRIES, discover_all

# installed plugins join the registries before the snapshot below: they are part of the
# environment the suite starts from, not a change made by a test
discover_all()


def _same(a: Any, b: Any) -> bool:
    """Entries are the same; a built-in task is listed as "module:Class" until first used and
    as the class afterwards, which is no change."""
    def spec(entry: Any) -> Any:
        return f"{entry.__module__}:{entry.__qualname__}" if isinstance(entry, type) else entry

    return a is b or spec(a) == spec(b)


def _snapshot() -> dict[str, tuple]:
    return {kind: registry.snapshot() for kind, registry in REGISTRIES.items()}


#: the registries as the test session found them (conftest is imported before any test module)
_AT_SESSION_START = {f"{kind}s": list(state[0]) for kind, state in _snapshot().items()}


@pytest.fixture(scope="session")
def registries_at_session_start() -> dict[str, list[str]]:
    """Names in each registry (``tasks``, ``datasets``...) when the test session started."""
    return _AT_SESSION_START


@pytest.fixture(autouse=True)
def _registries_unchanged(request: pytest.FixtureRequest):
    before = _snapshot()
    yield
    problems = []
    for kind, state in before.items():
        old, registry = state[0], REGISTRIES[kind].snapshot()[0]
        added = sorted(set(registry) - set(old))
        removed = sorted(set(old) - set(registry))
        replaced = sorted(n for n in set(old) & set(registry) if not _same(old[n], registry[n]))
        if added or removed or replaced:
            problems.append(f"{kind} registry: added {added}, removed {removed}, "
                            f"replaced {replaced}")
            REGISTRIES[kind].restore(state)
    if problems:
        pytest.fail(f"{request.node.nodeid} changed a registry and did not restore it: "
                    + "; ".join(problems), pytrace=False)
