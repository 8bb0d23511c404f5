"""``EmbeddingCollector``: a torchmetrics Metric that accumulates embeddings and obs codes.

Its states are lists reduced with ``dist_reduce_fx="cat"``, so under DDP ``compute()`` returns
every rank's cells. Rows are de-duplicated by their dataset index (DistributedSampler pads
ranks with repeated cells) and sorted by it, so the gathered set is the same, in the same order,
as in a single process.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torchmetrics import Metric


class EmbeddingCollector(Metric):
    """Collects (embedding, index, obs codes) over a validation epoch."""

    full_state_update = False
    higher_is_better = None

    def __init__(self, columns: Sequence[str], **kwargs) -> None:
        super().__init__(**kwargs)
        self.columns = list(columns)
        self.add_state("embedding", default=[], dist_reduce_fx="cat")
        self.add_state("index", default=[], dist_reduce_fx="cat")
        for column in self.columns:
            self.add_state(f"obs_{column}", default=[], dist_reduce_fx="cat")

    def update(self, embedding: torch.Tensor, index: torch.Tensor,
               codes: dict[str, torch.Tensor]) -> None:
        self.embedding.append(embedding.detach().float())
        self.index.append(index.detach().long())
        for column in self.columns:
            getattr(self, f"obs_{column}").append(codes[column].detach().long())

    def compute(self) -> dict[str, torch.Tensor]:
        def cat(value):
            if isinstance(value, list):
                return torch.cat(value) if value else torch.empty(0)
            return value

        index = cat(self.index)
        unique, first = _first_occurrence(index)
        out = {"index": unique, "embedding": cat(self.embedding)[first]}
        for column in self.columns:
            out[column] = cat(getattr(self, f"obs_{column}"))[first]
        return out


def _first_occurrence(index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Sorted unique values of ``index`` and the position of each one's first occurrence."""
    order = torch.argsort(index, stable=True)
    sorted_index = index[order]
    keep = torch.ones_like(sorted_index, dtype=torch.bool)
    keep[1:] = sorted_index[1:] != sorted_index[:-1]
    return sorted_index[keep], order[keep]
