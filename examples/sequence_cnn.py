"""Train a small CNN on the shipped splice junctions and ask: does it beat the 4-mer baseline?

    python examples/sequence_cnn.py --epochs 8

The data come from :class:`czbench.datamodules.SequenceDataModule` (one-hot batch x 4 x 60,
with a mask); the split keeps every ``leakage_group`` (same locus or identical sequence) in one
of train / val / test, so no test sequence has a near-copy in training. Every epoch
:class:`czbench.callbacks.BenchmarkCallback` scores the CNN's embedding (its pooled last
convolution) of the validation sequences with task ``sequence_classification``. At the end the
held-out (val + test) sequences are embedded and the same probe, on folds grouped by
``leakage_group``, scores the CNN's embedding beside ``baseline:kmer`` (4-mer spectrum) of the
same sequences.
"""

from __future__ import annotations

import argparse

import lightning as L
import numpy as np
import pandas as pd
import torch
from torch import nn

import czbench.datasets as ds
from czbench.baselines.sequence import kmer_baseline
from czbench.callbacks import BenchmarkCallback
from czbench.context import RunContext
from czbench.datamodules import SequenceDataModule
from czbench.tasks import get_task

DATASET = "splice_junctions_primate_uci"
TASK_OPTIONS = {"sequence_classification": {"classifiers": ("lr",)}}


class SpliceCNN(L.LightningModule):
    """Two convolutions over the one-hot sequence, masked global max pooling (the embedding
    czbench scores), a linear head for the 3 classes."""

    def __init__(self, n_classes: int = 3, channels: int = 64, width: int = 9,
                 lr: float = 2e-3) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.conv = nn.Sequential(
            nn.Conv1d(4, channels, width, padding=width // 2), nn.ReLU(),
            nn.Conv1d(channels, channels, width, padding=width // 2), nn.ReLU())
        self.head = nn.Linear(channels, n_classes)

    def embed(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        hidden = self.conv(batch["x"])
        hidden = hidden.masked_fill(~batch["mask"][:, None, :], float("-inf"))
        return hidden.max(dim=2).values

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss = nn.functional.cross_entropy(self.head(self.embed(batch)), batch["cell_type"])
        self.log("train_loss", loss, on_epoch=True, on_step=False)
        return loss

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        loss = nn.functional.cross_entropy(self.head(self.embed(batch)), batch["cell_type"])
        self.log("val_loss", loss)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=self.hparams.lr)


def grouped_split(groups: pd.Series, seed: int, fractions=(0.7, 0.15, 0.15)) -> np.ndarray:
    """train / val / test per row, whole groups at a time (seeded), about ``fractions``."""
    names = groups.astype(str).to_numpy()
    order = np.random.default_rng(seed).permutation(np.unique(names))
    sizes = pd.Series(names).value_counts()[order].cumsum() / len(names)
    cut = np.searchsorted(np.cumsum(fractions)[:2], sizes.to_numpy(), side="left")
    where = dict(zip(order, np.array(["train", "val", "test"])[cut], strict=True))
    return np.array([where[n] for n in names])


def run(epochs: int = 8, seed: int = 0, max_rows: int | None = None) -> dict[str, float]:
    """Train, then the probe's grouped-fold scores of the CNN and of baseline:kmer on the
    held-out sequences; returns {"cnn_mcc", "kmer_mcc", "cnn_accuracy", "kmer_accuracy"}."""
    L.seed_everything(seed, workers=True)
    adata = ds.load(DATASET)
    if max_rows is not None:
        adata = adata[np.random.default_rng(seed).permutation(adata.n_obs)[:max_rows]].copy()
    adata.obs["split"] = grouped_split(adata.obs["leakage_group"], seed)
    dm = SequenceDataModule(adata, split_key="split", batch_size=128, seed=seed)
    model = SpliceCNN(n_classes=len(dm.categories["cell_type"]))
    callback = BenchmarkCallback(["sequence_classification"], task_options=TASK_OPTIONS,
                                 seed=seed)
    trainer = L.Trainer(max_epochs=epochs, callbacks=[callback], logger=False,
                        enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, deterministic=True, accelerator="cpu")
    trainer.fit(model, datamodule=dm)
    held_out = np.flatnonzero(adata.obs["split"].to_numpy() != "train")
    model.eval()
    with torch.no_grad():
        cnn = model.embed(dm.collate(held_out.tolist())).numpy()
    obs = adata.obs.iloc[held_out]
    task = get_task("sequence_classification", classifiers=("lr",))
    context = RunContext(seed=seed)
    out = {"val_mcc_last_epoch": next(
        r.value for r in callback.results_ if r.metric == "mcc" and
        r.params.get("classifier") == "lr")}
    for name, values in (("cnn", cnn), ("kmer", kmer_baseline(adata[held_out]))):
        for r in task.evaluate(values, obs, context=context).results:
            if r.params["folds"] == "grouped" and r.params["classifier"] == "lr" and \
                    r.metric in ("mcc", "accuracy"):
                out[f"{name}_{r.metric}"] = r.value
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    scores = run(args.epochs, args.seed)
    for key, value in scores.items():
        print(f"{key:>20}: {value:.3f}")
    print(f"CNN - 4-mer, grouped folds: MCC {scores['cnn_mcc'] - scores['kmer_mcc']:+.3f}, "
          f"accuracy {scores['cnn_accuracy'] - scores['kmer_accuracy']:+.3f}")


if __name__ == "__main__":
    main()
