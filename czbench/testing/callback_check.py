"""Scoring an embedding through the Lightning path (``AnnDataModule`` + ``BenchmarkCallback`` in
``Trainer.validate`` on CPU), to compare with the task run directly."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from czbench.errors import InputError
from czbench.tasks.base import MetricResult, Task
from czbench.testing.report import Skipped

#: loggers quietened while the trainer runs
_LOGGERS = ("lightning.pytorch", "lightning.fabric", "lightning")


def callback_results(task: Task, adata: Any, embedding: np.ndarray,
                     seed: int) -> list[MetricResult]:
    """What ``BenchmarkCallback([task])`` logs when a module embeds every cell of ``adata``
    (all of them in the validation split) as ``embedding``; :class:`Skipped` when the callback
    cannot score the task."""
    import lightning as L
    import torch

    from czbench.callbacks import BenchmarkCallback
    from czbench.datamodules import AnnDataModule

    try:
        callback = BenchmarkCallback([task], seed=seed, device="cpu")
    except InputError as err:
        raise Skipped(f"the callback cannot score this task: {err}") from None

    class Lookup(L.LightningModule):
        """Returns each cell's row of ``embedding`` (by the batch's dataset index)."""

        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("table", torch.as_tensor(np.asarray(embedding, np.float32)))

        def embed(self, batch: dict[str, Any]) -> torch.Tensor:
            return self.table[batch["index"]]

        def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
            return None

    columns = list(dict.fromkeys(task.required_columns))
    module = AnnDataModule(adata, obs_keys=columns, split_fractions=(0.0, 1.0, 0.0),
                           batch_size=128, seed=seed)
    levels = {name: logging.getLogger(name).level for name in _LOGGERS}
    try:
        for name in _LOGGERS:
            logging.getLogger(name).setLevel(logging.ERROR)
        trainer = L.Trainer(accelerator="cpu", devices=1, logger=False,
                            enable_checkpointing=False, enable_progress_bar=False,
                            enable_model_summary=False, callbacks=[callback])
        trainer.validate(Lookup(), datamodule=module, verbose=False)
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
    return list(callback.results_)
