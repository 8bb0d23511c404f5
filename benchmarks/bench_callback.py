"""Overhead of BenchmarkCallback per validation epoch on 10,000 cells (CPU).

A fixed linear encoder (2,000 genes -> 64 dims) is validated on 10,000 synthetic cells
(Gaussian-mixture expression, 12 types, 4 batches) without the callback and with it, for two
task sets; the difference is the callback's cost. Also reports the bytes held by the
collector's states after the epoch.

    python benchmarks/bench_callback.py
"""

from __future__ import annotations

import time

import anndata as ad
import lightning as L
import numpy as np
import pandas as pd
import torch
from torch import nn

from czbench.callbacks import BenchmarkCallback
from czbench.datamodules import AnnDataModule

N_CELLS, N_GENES = 10_000, 2_000


def synthetic() -> ad.AnnData:
    rng = np.random.default_rng(0)
    types = rng.integers(0, 12, N_CELLS)
    batches = rng.integers(0, 4, N_CELLS)
    x = rng.normal(size=(12, N_GENES))[types]
    x = x + rng.normal(scale=0.3, size=(4, N_GENES))[batches] + rng.normal(size=x.shape)
    obs = pd.DataFrame({"cell_type": types.astype(str), "batch": batches.astype(str)})
    return ad.AnnData(X=x.astype(np.float32), obs=obs)


class Encoder(L.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.proj = nn.Linear(N_GENES, 64)

    def embed(self, batch):
        return self.proj(batch["x"])

    def validation_step(self, batch, batch_idx):
        self.embed(batch)


def validate(dm: AnnDataModule, callbacks: list) -> float:
    trainer = L.Trainer(accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False,
                        callbacks=callbacks)
    start = time.perf_counter()
    trainer.validate(Encoder(), datamodule=dm, verbose=False)
    return time.perf_counter() - start


def main() -> None:
    dm = AnnDataModule(synthetic(), split_fractions=(0.0, 1.0, 0.0), batch_size=512)
    base = min(validate(dm, []) for _ in range(2))
    print(f"| validation epoch without callback | {base:.2f} s |")
    for tasks in (["clustering", "embedding", "batch_integration"],
                  ["clustering", "embedding", "label_prediction", "batch_integration"]):
        callback = BenchmarkCallback(tasks)
        wall = validate(dm, [callback])
        timings = callback.document_["embeddings"][0]["timings_s"]
        state = sum(t.numel() * t.element_size() for name in callback.collector._defaults
                    for t in getattr(callback.collector, name))
        print(f"| + callback, {', '.join(tasks)} | {wall:.2f} s (overhead {wall - base:.2f} s; "
              f"scoring {sum(timings.values()):.2f} s: {timings}) | states {state / 2**20:.2f} "
              f"MiB |")


if __name__ == "__main__":
    main()
