"""Helper script for test_callback_ddp: validate a fixed model with BenchmarkCallback on N CPU
processes and write the callback's results (rank 0) to a JSON file.

    python tests/ddp_validate.py DEVICES OUTPUT.json
"""

from __future__ import annotations

import json
import sys

import lightning as L
from helpers import FrozenProjection  # this folder is sys.path[0] when run as a script

from czbench.callbacks import BenchmarkCallback
from czbench.datamodules import AnnDataModule

TASKS = ["clustering", "embedding", "label_prediction", "batch_integration"]


def main() -> None:
    devices, output = int(sys.argv[1]), sys.argv[2]
    # 301 validation cells: odd, so DistributedSampler pads one rank with a repeated cell
    dm = AnnDataModule("pbmc_3chemistries_symphony", normalize=True,
                       split_fractions=(0.5, 0.5, 0.0), val_max_cells=301, batch_size=32)
    callback = BenchmarkCallback(TASKS, seed=0)
    trainer = L.Trainer(accelerator="cpu", devices=devices,
                        strategy="ddp" if devices > 1 else "auto", logger=False,
                        enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, callbacks=[callback])
    trainer.validate(FrozenProjection(dm.n_genes), datamodule=dm, verbose=False)
    if trainer.is_global_zero:
        document = callback.document_
        with open(output, "w") as fh:
            json.dump({"world_size": trainer.world_size,
                       "n_cells": document["dataset"]["n_cells"],
                       "embedding_sha256": document["embeddings"][0]["sha256"],
                       "results": {callback.log_name(r): r.value for r in callback.results_}},
                      fh)


if __name__ == "__main__":
    main()
