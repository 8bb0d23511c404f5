"""Train a tiny neighbour-aware encoder on the MERFISH slice with czbench scoring the spatial
tasks during validation, then compare it with baseline:pca on niche_composition.

    python examples/train_spatial_niche.py --epochs 3

The model embeds each cell from its own log1p expression and the mean log1p expression of its
15 nearest cells in space (looked up by the batch's ``index``; ``batch["spatial"]`` carries the
coordinates of the batch's cells), trained to reconstruct both. Every epoch BenchmarkCallback
scores ``niche_composition`` and ``spatial_domains`` on the validation cells (neighbourhoods
among those cells). At the end the whole slice is embedded and scored next to baseline:pca.
"""

from __future__ import annotations

import argparse

import lightning as L
import numpy as np
import torch
from torch import nn

from czbench.baselines import baseline
from czbench.callbacks import BenchmarkCallback
from czbench.context import RunContext
from czbench.datamodules import AnnDataModule
from czbench.neighbors.spatial import spatial_neighbors
from czbench.tasks import get_task

DATASET = "merfish_preoptic_mouse_seraster"
TASK_OPTIONS = {"niche_composition": {"missing_labels": "drop"}}


class NeighbourEncoder(L.LightningModule):
    """[log1p x, mean log1p x of the 15 spatial neighbours] -> 16 dims -> both back."""

    def __init__(self, expression: np.ndarray, neighbours: np.ndarray, n_latent: int = 16,
                 hidden: int = 128, lr: float = 3e-3) -> None:
        super().__init__()
        self.register_buffer("expression", torch.as_tensor(np.log1p(expression)))
        self.register_buffer("neighbours", torch.as_tensor(neighbours))
        n = 2 * expression.shape[1]
        self.encoder = nn.Sequential(nn.Linear(n, hidden), nn.ReLU(), nn.Linear(hidden, n_latent))
        self.decoder = nn.Sequential(nn.Linear(n_latent, hidden), nn.ReLU(), nn.Linear(hidden, n))
        self.lr = lr

    def features(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        own = torch.log1p(batch["x"])
        around = self.expression[self.neighbours[batch["index"]]].mean(dim=1)
        return torch.cat([own, around], dim=1)

    def embed(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.encoder(self.features(batch))

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        f = self.features(batch)
        loss = nn.functional.mse_loss(self.decoder(self.encoder(f)), f)
        self.log("train_loss", loss, on_step=False, on_epoch=True)
        return loss

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        assert batch["spatial"].shape == (len(batch["index"]), 2)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=self.lr)


def main(epochs: int = 3, seed: int = 0) -> dict[str, float]:
    L.seed_everything(seed, workers=True)
    dm = AnnDataModule(DATASET, split_fractions=(0.5, 0.5, 0.0), batch_size=256, seed=seed)
    adata = dm.adata
    adjacency = spatial_neighbors(adata.obsm["spatial"], n_neighbors=15)
    model = NeighbourEncoder(adata.X.toarray().astype(np.float32),
                             adjacency.indices.reshape(adata.n_obs, 15).astype(np.int64))
    callback = BenchmarkCallback(["niche_composition", "spatial_domains"], seed=seed,
                                 task_options=TASK_OPTIONS)
    trainer = L.Trainer(max_epochs=epochs, accelerator="cpu", devices=1, logger=False,
                        enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, deterministic=True,
                        num_sanity_val_steps=0, callbacks=[callback])
    trainer.fit(model, datamodule=dm)
    for r in callback.results_:
        print(f"validation cells: {callback.log_name(r)} = {r.value:.3f}")
    model.eval()
    with torch.no_grad():
        batch = dm.collate(list(range(adata.n_obs)))
        embedding = model.embed(batch).numpy()
    task = get_task("niche_composition", **TASK_OPTIONS["niche_composition"])
    context = RunContext(seed=seed, device="cpu")
    scores = {}
    for name, values in (("model", embedding), ("baseline:pca", baseline("pca", adata,
                                                                          seed=seed))):
        run = task.evaluate(values, adata.obs, context=context)
        scores[name] = next(r.value for r in run.results if r.metric == "mean_r2")
        print(f"whole slice: niche_composition/mean_r2 {name} = {scores[name]:.3f}")
    return scores


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    main(args.epochs, args.seed)
