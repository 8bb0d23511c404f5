"""Train a small autoencoder on shipped PBMCs with czbench's BenchmarkCallback in the loop.

    python examples/train_autoencoder.py --epochs 8 --out runs/autoencoder

Every epoch the callback embeds the validation cells, scores them on the czbench tasks and logs
``czbench/<task>/<metric>`` to the CSVLogger. The script then plots metric vs epoch to a PNG,
benchmarks two saved checkpoints with ``trainer.validate(..., ckpt_path=...)``, and packages the
checkpoint with the best ``--monitor`` score as an MLflow model in ``OUT/model`` (needs
``czbench[mlflow]``), which ``czbench run --model mlflow:OUT/model`` scores.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import lightning as L
import pandas as pd
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger
from torch import nn

from czbench.callbacks import BenchmarkCallback
from czbench.datamodules import AnnDataModule

TASKS = ["clustering", "embedding", "batch_integration"]
#: the czbench metric that picks the checkpoint to package (higher is better)
MONITOR = "czbench/clustering/normalized_mutual_info"


class AutoEncoder(L.LightningModule):
    """log1p expression -> latent (the embedding czbench scores) -> reconstruction."""

    def __init__(self, n_genes: int, n_latent: int = 16, hidden: int = 128,
                 lr: float = 1e-3) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.encoder = nn.Sequential(nn.Linear(n_genes, hidden), nn.ReLU(),
                                     nn.Linear(hidden, n_latent))
        self.decoder = nn.Sequential(nn.Linear(n_latent, hidden), nn.ReLU(),
                                     nn.Linear(hidden, n_genes))

    def embed(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The protocol BenchmarkCallback uses: a batch in, (cells, dims) out."""
        return self.encoder(batch["x"])

    def _loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return nn.functional.mse_loss(self.decoder(self.encoder(batch["x"])), batch["x"])

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss = self._loss(batch)
        self.log("train_loss", loss, on_step=False, on_epoch=True)
        return loss

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self.log("val_loss", self._loss(batch))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=self.hparams.lr)


def datamodule(seed: int = 0) -> AnnDataModule:
    """1,200 PBMCs from three chemistries; a 40% validation split so scores are stable."""
    return AnnDataModule("pbmc_3chemistries_symphony", normalize=True,
                         split_fractions=(0.6, 0.4, 0.0), batch_size=64, seed=seed)


def train(out: Path, epochs: int = 8, seed: int = 0) -> tuple[pd.DataFrame, list[str]]:
    """Train with the callback; returns the per-epoch czbench metrics and the checkpoints."""
    L.seed_everything(seed, workers=True)
    dm = datamodule(seed)
    model = AutoEncoder(n_genes=dm.n_genes)
    checkpoints = ModelCheckpoint(dirpath=out / "checkpoints", save_top_k=-1,
                                  filename="{epoch}")
    trainer = L.Trainer(max_epochs=epochs, accelerator="cpu", devices=1, deterministic=True,
                        logger=CSVLogger(out, name="logs"), enable_progress_bar=False,
                        enable_model_summary=False, num_sanity_val_steps=1,
                        callbacks=[BenchmarkCallback(TASKS, seed=seed,
                                                     results_dir=out / "results"),
                                   checkpoints])
    trainer.fit(model, datamodule=dm)
    metrics = pd.read_csv(Path(trainer.logger.log_dir) / "metrics.csv")
    czbench_columns = [c for c in metrics.columns if c.startswith("czbench/")]
    per_epoch = metrics.dropna(subset=czbench_columns).groupby("epoch")[czbench_columns].last()
    ckpts = sorted(str(p) for p in (out / "checkpoints").glob("*.ckpt"))
    return per_epoch, ckpts


def compare_checkpoints(out: Path, checkpoints: list[str], seed: int = 0) -> pd.DataFrame:
    """Benchmark each checkpoint with trainer.validate; one column per checkpoint."""
    dm = datamodule(seed)
    columns = {}
    for ckpt in checkpoints:
        callback = BenchmarkCallback(TASKS, seed=seed, results_dir=out / "results")
        trainer = L.Trainer(accelerator="cpu", devices=1, logger=False,
                            enable_checkpointing=False, default_root_dir=out,
                            enable_progress_bar=False, enable_model_summary=False,
                            callbacks=[callback])
        trainer.validate(AutoEncoder(n_genes=dm.n_genes), datamodule=dm, ckpt_path=ckpt,
                         verbose=False)
        columns[Path(ckpt).stem] = {callback.log_name(r): r.value for r in callback.results_}
    return pd.DataFrame(columns)


def best_checkpoint(checkpoints: list[str], per_epoch: pd.DataFrame | None = None,
                    monitor: str | None = None) -> str:
    """The checkpoint of the epoch with the highest ``monitor`` score; the last checkpoint when
    nothing is monitored."""
    if monitor is None or per_epoch is None:
        return checkpoints[-1]
    by_epoch = {int(Path(c).stem.split("=")[-1]): c for c in checkpoints}  # "epoch=3.ckpt"
    scores = per_epoch[monitor].dropna()
    scores = scores[scores.index.isin(list(by_epoch))]
    return by_epoch[int(scores.idxmax())] if len(scores) else checkpoints[-1]


def package_best(out: Path, checkpoints: list[str], per_epoch: pd.DataFrame | None = None,
                 monitor: str | None = None, seed: int = 0) -> Path:
    """Package the best checkpoint (see :func:`best_checkpoint`) as an MLflow model in
    ``out/model``, with the preprocessing it was trained with."""
    from czbench.packaging import package_model

    best = best_checkpoint(checkpoints, per_epoch, monitor)
    return package_model(best, AutoEncoder, out / "model", datamodule=datamodule(seed),
                         overwrite=True)


def plot(per_epoch: pd.DataFrame, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for column in per_epoch.columns:
        ax.plot(per_epoch.index, per_epoch[column], marker="o",
                label=column.removeprefix("czbench/"))
    ax.set_xlabel("epoch")
    ax.set_ylabel("score (higher is better)")
    ax.set_title("czbench metrics while training an autoencoder on PBMCs")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--out", type=Path, default=Path("runs/autoencoder"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--monitor", default=MONITOR,
                        help=f"czbench metric picking the checkpoint to package (default "
                        f"{MONITOR}; 'none': the last checkpoint)")
    args = parser.parse_args()
    per_epoch, checkpoints = train(args.out, args.epochs, args.seed)
    print(per_epoch.round(4).to_string())
    print("plot:", plot(per_epoch, args.out / "metrics_vs_epoch.png"))
    first_and_last = [checkpoints[0], checkpoints[-1]]
    print(compare_checkpoints(args.out, first_and_last, args.seed).round(4).to_string())
    monitor = None if args.monitor.lower() == "none" else args.monitor
    print("MLflow package:", package_best(args.out, checkpoints, per_epoch, monitor, args.seed))


if __name__ == "__main__":
    main()
