"""scVI (Lopez et al. 2018, ``scvi-tools``): a batch-conditioned variational autoencoder.

Trained on the raw counts of the 3,000 most variable genes (``seurat_v3`` on counts, the scVI
convention; all genes when there are fewer) with the batch as covariate, on every cell (no
validation split); the output is the posterior mean of the latent space, cells x ``n_latent``,
in the dataset's cell order.

Epoch budget: ``max_epochs=None`` trains scvi-tools' own heuristic number of epochs
(``min(round(400 * 20,000 / cells), 400)``) capped at :data:`EPOCH_CAP` = 50: a 1,200-cell dataset
trains in about 30 s on one CPU thread (~0.6 s per epoch; scvi-tools' default, 400 epochs,
would take about 4 minutes).
Reproducibility: the seed goes to ``scvi.settings.seed`` (Python, numpy and torch generators);
on CPU the result is bit-identical for a seed, and with the default ``num_threads=1`` it does
not depend on the machine's core count (torch's reductions depend on the thread count).
Everything global that training touches is put back afterwards: the generators' states,
``scvi.settings.seed``, torch's thread count, cuDNN's flags, the loggers' levels and the
environment variables Lightning sets (``PL_GLOBAL_SEED``, ``XLA_FLAGS``). Importing scvi-tools
itself sets a few environment variables (e.g. ``TORCHINDUCTOR_CACHE_DIR``); those stay.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

import anndata as ad
import numpy as np

from czbench.datasets.counts import counts_matrix
from czbench.errors import InputError
from czbench.models.base import Model, require
from czbench.models.methods.common import (
    N_TOP_GENES,
    batch_labels,
    global_random_state_restored,
)
from czbench.utils.checks import check_int, check_text

#: most epochs trained when ``max_epochs`` is None (scvi-tools' heuristic, capped)
EPOCH_CAP = 50
#: loggers whose INFO lines (seed set, GPU available, fit stopped...) are silenced in training
_QUIET_LOGGERS = ("lightning.pytorch", "lightning.fabric", "lightning", "scvi")


class SCVI(Model):
    """scVI's latent space.

    Args:
        batch_key: obs column holding each cell's batch (scVI's covariate).
        n_latent: dimensions of the latent space (scVI's default 10).
        n_hidden: units per hidden layer (scVI's default 128).
        n_layers: hidden layers of encoder and decoder (scVI's default 1).
        max_epochs: training epochs; None: scvi-tools' heuristic capped at 50 (module doc).
        accelerator: Lightning's accelerator (``cpu``; ``gpu``/``auto`` for big data, one device).
        n_top_genes: highly variable genes kept (3,000, ``seurat_v3`` on counts).
        num_threads: torch CPU threads while training (None: leave torch's setting, faster on
            big machines but the result then depends on the thread count).
    """

    name: ClassVar[str] = "scvi"
    description: ClassVar[str] = "scVI latent space (scvi-tools) on counts of 3,000 HVG"
    seeded: ClassVar[bool] = True
    extra: ClassVar[str | None] = "methods"

    def __init__(self, batch_key: str = "batch", n_latent: int = 10, n_hidden: int = 128,
                 n_layers: int = 1, max_epochs: int | None = None, accelerator: str = "cpu",
                 n_top_genes: int = N_TOP_GENES, num_threads: int | None = 1) -> None:
        field = f"model {self.name}"
        self.batch_key = check_text(batch_key, f"{field}: batch_key")
        self.n_latent = check_int(n_latent, f"{field}: n_latent", 1)
        self.n_hidden = check_int(n_hidden, f"{field}: n_hidden", 1)
        self.n_layers = check_int(n_layers, f"{field}: n_layers", 1)
        self.max_epochs = check_int(max_epochs, f"{field}: max_epochs", 1, allow_none=True)
        self.accelerator = check_text(accelerator, f"{field}: accelerator")
        self.n_top_genes = check_int(n_top_genes, f"{field}: n_top_genes", 2)
        self.num_threads = check_int(num_threads, f"{field}: num_threads", 1, allow_none=True)

    def epochs(self, n_cells: int) -> int:
        """The epochs trained on ``n_cells`` cells."""
        if self.max_epochs is not None:
            return self.max_epochs
        return max(min(round(400 * 20_000 / max(n_cells, 1)), 400, EPOCH_CAP), 1)

    def _embed(self, adata: Any, seed: int) -> np.ndarray:
        labels = batch_labels(adata, self.batch_key, self.name)
        work = hvg_counts(adata, self.name, self.n_top_genes)
        work.obs["batch"] = labels
        with global_random_state_restored():
            scvi = require("scvi", self.name, self.extra or "methods")
        with _training_sandbox(scvi, self.num_threads):
            scvi.settings.seed = seed
            scvi.model.SCVI.setup_anndata(work, batch_key="batch")
            model = scvi.model.SCVI(work, n_latent=self.n_latent, n_hidden=self.n_hidden,
                                    n_layers=self.n_layers)
            model.train(max_epochs=self.epochs(work.n_obs), accelerator=self.accelerator,
                        devices=1, train_size=1.0, enable_progress_bar=False, logger=False,
                        enable_checkpointing=False,
                        datasplitter_kwargs={"num_workers": 0})
            latent = model.get_latent_representation()
        return np.asarray(latent, dtype=np.float32)


def hvg_counts(adata: Any, model: str, n_top_genes: int = N_TOP_GENES) -> ad.AnnData:
    """The raw counts of the ``n_top_genes`` most variable genes (``seurat_v3`` on counts; all
    genes when there are fewer), as a new AnnData (float32, the dataset's cell order)."""
    import scanpy as sc

    counts = counts_matrix(adata, what=f"model {model}")
    work = ad.AnnData(X=counts.astype(np.float32), obs=adata.obs[[]].copy(),
                      var=adata.var[[]].copy())
    if work.n_obs < 2 or work.n_vars < 2:
        raise InputError(f"model {model}: needs at least 2 cells and 2 genes, the dataset has "
                         f"{work.n_obs} x {work.n_vars}")
    if work.n_vars > n_top_genes:
        sc.pp.highly_variable_genes(work, n_top_genes=n_top_genes, flavor="seurat_v3")
        work = work[:, work.var["highly_variable"].to_numpy()].copy()
    work.var_names_make_unique()
    work.obs_names_make_unique()
    return work


@contextmanager
def _training_sandbox(scvi: Any, num_threads: int | None) -> Iterator[None]:
    """Quiet training whose global side effects are undone afterwards (module doc)."""
    import torch

    old_seed = scvi.settings.seed
    cudnn = (torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    threads = torch.get_num_threads()
    loggers = {name: logging.getLogger(name) for name in _QUIET_LOGGERS}
    levels = {name: log.level for name, log in loggers.items()}
    with global_random_state_restored(env=("PL_GLOBAL_SEED", "XLA_FLAGS")), \
            warnings.catch_warnings():
        warnings.filterwarnings("ignore", module=r"lightning(\.|$)")
        warnings.filterwarnings("ignore", message=r".*(num_workers|LeafSpec|litlogger).*")
        for log in loggers.values():
            log.setLevel(logging.WARNING)
        if num_threads is not None:
            torch.set_num_threads(num_threads)
        try:
            yield
        finally:
            scvi.settings.seed = old_seed  # may reseed; the generators are restored next
            torch.set_num_threads(threads)
            torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = cudnn
            for name, log in loggers.items():
                log.setLevel(levels[name])
