"""The contributor guide's task example registers and runs as written."""

from __future__ import annotations

import re
from pathlib import Path

import czbench.datasets as ds
from czbench.run import benchmark
from czbench.tasks import list_tasks, unregister_task

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "contributing.md"


def test_contributed_task_runs_through_the_runner():
    block = next(b for b in re.findall(r"```python\n(.*?)```", GUIDE.read_text(), re.S)
                 if "class BroadTypeSilhouette" in b)
    before = set(list_tasks())
    try:
        exec(compile(block, "contributing.md", "exec"), {})
        assert "broad_type_silhouette" in list_tasks()
        adata = ds.load("pbmc_3chemistries_symphony")
        result = benchmark(adata, ["baseline:pca"], ["broad_type_silhouette", "embedding"])
        values = {r.task: r.value for r in result.results}
        # broad types (T, Mono, B...) are coarser than fine types: better separated
        assert values["broad_type_silhouette"] > values["embedding"]
    finally:
        for name in set(list_tasks()) - before:  # the registry as it was
            unregister_task(name)
    assert set(list_tasks()) == before
