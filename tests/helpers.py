"""What several test modules share: a script loaded as a module, a frozen projection for
the Lightning path, and the comparison of two results documents across a thread, process or
scheduler boundary (``from helpers import ...``: pytest puts this folder on ``sys.path``)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import lightning as L
import pytest
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]

#: docs/reproducibility.md: metric values of the same inputs computed with other thread counts,
#: process counts or on Dask agree to this (absolute); discrete ones are equal
METRIC_TOLERANCE = 1e-5


def assert_same_across_boundary(one: dict[str, Any], two: dict[str, Any],
                                tolerance: float = METRIC_TOLERANCE) -> None:
    """What docs/reproducibility.md promises for two documents of the same grid run with other
    threads, processes or scheduler: the same settings, rows and fixed inputs (sha256), every
    number within ``tolerance``. Only ``environment`` (which records the difference), the
    volatile fields and the sha256 of inputs computed during the run (baselines, controls:
    their floats are summed in another order too) may differ otherwise."""
    from czbench.run import strip_volatile

    a, b = strip_volatile(one), strip_volatile(two)
    for doc in (a, b):
        doc.pop("environment")
        for entry in doc["embeddings"]:
            if entry["role"] in ("baseline", "control"):
                entry.pop("sha256")
    problems: list[str] = []
    _compare(a, b, "", tolerance, problems)
    assert not problems, "; ".join(problems[:5])


def _compare(a: Any, b: Any, path: str, tolerance: float, problems: list[str]) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        if set(a) != set(b):
            problems.append(f"{path}: keys {sorted(set(a) ^ set(b))}")
        for key in set(a) & set(b):
            _compare(a[key], b[key], f"{path}.{key}", tolerance, problems)
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            problems.append(f"{path}: {len(a)} vs {len(b)} items")
        for i, (x, y) in enumerate(zip(a, b, strict=False)):
            _compare(x, y, f"{path}[{i}]", tolerance, problems)
    elif isinstance(a, float) and isinstance(b, float):
        if a != pytest.approx(b, abs=tolerance, nan_ok=True):
            problems.append(f"{path}: {a} vs {b}")
    elif a != b:
        problems.append(f"{path}: {a!r} vs {b!r}")


def load_script(path: Path) -> ModuleType:
    """The module of a script that is not in a package (``examples/``, ``benchmarks/``)."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class FrozenProjection(L.LightningModule):
    """``batch["x"]`` times a seeded random linear map (the same weights in every process);
    it trains on a dummy loss, for tests of the loop's plumbing rather than of learning."""

    def __init__(self, n_features: int, dims: int = 16) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.proj = nn.Linear(n_features, dims)

    def embed(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.proj(batch["x"])

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self.proj(batch["x"]).pow(2).mean()

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        return None

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=1e-3)
