"""Run by tests/test_plugins.py in a fresh interpreter after ``pip install -e examples/plugin``:
the template plugin's assets through the Python API, the callback and an estimator. Prints one
JSON line with what the test asserts."""

from __future__ import annotations

import json
import sys
import tempfile

import lightning as L
import numpy as np
import torch

import czbench
import czbench.datasets as ds
from czbench.callbacks import BenchmarkCallback
from czbench.datamodules import AnnDataModule
from czbench.estimators import TaskBenchmark
from czbench.models import get_model

out: dict = {}
adata = ds.load("lung_mixology_3cl")
out["licence"] = ds.info("lung_mixology_3cl").licence

# the Python API: a plugin model and task on the plugin dataset, next to a built-in baseline
result = czbench.benchmark("lung_mixology_3cl", models=["random_projection"],
                           embeddings=["baseline:pca"], tasks=["neighbourhood_purity"])
result = result[0] if isinstance(result, list) else result
out["api"] = {row["embedding"]: row["value"] for row in result.document["results"]}
out["origins"] = result.document["origins"]

# the estimator: the same embedding and labels give the API's number
embedding = get_model("random_projection").embed(adata, 42)
bench = TaskBenchmark("neighbourhood_purity", random_state=42).fit(embedding,
                                                                  adata.obs["cell_type"])
out["estimator"] = bench.score_


# the callback: a frozen linear encoder scored during trainer.validate
class Frozen(L.LightningModule):
    def __init__(self, n_genes: int) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.encoder = torch.nn.Linear(n_genes, 16)

    def embed(self, batch: dict) -> torch.Tensor:
        return self.encoder(batch["x"])

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        pass


dm = AnnDataModule("lung_mixology_3cl", normalize=True, split_fractions=(0.5, 0.5, 0.0),
                   batch_size=64, seed=0)
callback = BenchmarkCallback(tasks=["neighbourhood_purity"], seed=0,
                             results_dir=tempfile.mkdtemp())
trainer = L.Trainer(callbacks=[callback], logger=False, enable_progress_bar=False,
                    enable_model_summary=False, accelerator="cpu", devices=1)
dm.setup("validate")
trainer.validate(Frozen(dm.n_genes), datamodule=dm, verbose=False)
out["callback"] = {r.metric: r.value for r in callback.results_}
out["callback_origins"] = callback.document_["origins"]
out["finite"] = bool(np.isfinite(list(out["callback"].values())).all())
json.dump(out, sys.stdout)
print()
