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
    threads, processes or scheduler: the same settings, inputs (sha256), rows in the same order
    and metric values within ``tolerance``; only ``environment`` (which records the difference)
    and the volatile fields may differ."""
    from czbench.run import strip_volatile

    a, b = strip_volatile(one), strip_volatile(two)
    rows_a, rows_b = a.pop("results"), b.pop("results")
    for doc in (a, b):
        doc.pop("environment")
        for name in ("summary", "aggregates"):
            doc[name] = [{k: v for k, v in row.items()
                          if k not in ("value", "values", "mean", "std")} for row in doc[name]]
    assert a == b
    assert [{k: v for k, v in r.items() if k != "value"} for r in rows_a] == \
        [{k: v for k, v in r.items() if k != "value"} for r in rows_b]
    assert [r["value"] for r in rows_a] == pytest.approx([r["value"] for r in rows_b],
                                                         abs=tolerance)


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
