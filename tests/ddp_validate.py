"""Helper script for test_callback_ddp: validate a fixed model with BenchmarkCallback on N CPU
processes and write the callback's results (rank 0) to a JSON file, and the gathered cells'
names and embedding to OUTPUT.npz.

    python tests/ddp_validate.py DEVICES OUTPUT.json [TORCH_THREADS]

TORCH_THREADS sets ``torch.set_num_threads`` in every process (default: Lightning's choice).
"""

from __future__ import annotations

import json
import sys

import lightning as L
import numpy as np
import torch
from helpers import FrozenProjection  # this folder is sys.path[0] when run as a script

from czbench.callbacks import BenchmarkCallback
from czbench.datamodules import AnnDataModule

TASKS = ["clustering", "embedding", "label_prediction", "batch_integration"]


def main() -> None:
    devices, output = int(sys.argv[1]), sys.argv[2]
    threads = int(sys.argv[3]) if len(sys.argv) > 3 else None
    # 301 validation cells: odd, so DistributedSampler pads one rank with a repeated cell
    dm = AnnDataModule("pbmc_3chemistries_symphony", normalize=True,
                       split_fractions=(0.5, 0.5, 0.0), val_max_cells=301, batch_size=32)
    callback = BenchmarkCallback(TASKS, seed=0)
    seen = {}
    score = callback._score

    def keep(trainer, pl_module, gathered):  # the gathered cells, as the callback scores them
        seen.update(gathered)
        return score(trainer, pl_module, gathered)

    callback._score = keep
    trainer = L.Trainer(accelerator="cpu", devices=devices,
                        strategy="ddp" if devices > 1 else "auto", logger=False,
                        enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, callbacks=[callback])
    model = FrozenProjection(dm.n_genes)

    class Threads(L.Callback):  # after Lightning has set its own thread count
        def on_validation_start(self, trainer, pl_module):
            if threads is not None:
                torch.set_num_threads(threads)

    trainer.callbacks.insert(0, Threads())
    trainer.validate(model, datamodule=dm, verbose=False)
    if trainer.is_global_zero:
        document = callback.document_
        names = np.asarray(dm.adata.obs_names[np.asarray(seen["index"])]).astype(str)
        np.savez(output.replace(".json", ".npz"), names=names,
                 embedding=np.asarray(seen["embedding"]))
        with open(output, "w") as fh:
            json.dump({"world_size": trainer.world_size,
                       "n_cells": document["dataset"]["n_cells"],
                       "embedding_sha256": document["embeddings"][0]["sha256"],
                       "environment": document["environment"],
                       "torch_threads": torch.get_num_threads(),
                       "results": {callback.log_name(r): r.value for r in callback.results_}},
                      fh)


if __name__ == "__main__":
    main()
