"""What several test modules share: a script loaded as a module, and a frozen projection for
the Lightning path (``from helpers import ...``: pytest puts this folder on ``sys.path``)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import lightning as L
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]


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
