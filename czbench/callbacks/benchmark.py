"""``BenchmarkCallback``: benchmark the model's embedding of the validation cells, in the loop.

    trainer = L.Trainer(callbacks=[BenchmarkCallback(tasks=["clustering", "embedding"])])
    trainer.fit(model, datamodule=AnnDataModule("pbmc_3chemistries_symphony"))
    trainer.validate(model, datamodule=dm, ckpt_path="epoch=3.ckpt")   # a checkpoint

The embedding of each validation batch comes from, in this order: ``embedding_fn(pl_module,
batch)`` if given; the module's ``embed(batch) -> Tensor`` method; or ``outputs[output_key]`` of
``validation_step``. Embeddings and the batch's obs codes accumulate in an
:class:`EmbeddingCollector` (torchmetrics, ``dist_reduce_fx="cat"``), so under DDP every rank's
cells are scored together. Scores are the core tasks' (:func:`czbench.run.score.score_input`,
the engine of ``czbench run``), logged as ``<log_prefix>/<task>/<metric>[/<param>...]`` through
``pl_module.log_dict``, with every name part made safe for any Lightning logger
(:func:`czbench.utils.params.log_name`: ``MEAN(knn,lr,rf)`` is logged as ``MEAN_knn_lr_rf``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import pandas as pd
import torch
from lightning.pytorch.utilities import rank_zero_warn

from czbench.callbacks.collector import EmbeddingCollector
from czbench.context import DEFAULT_SEED, RunContext
from czbench.errors import InputError
from czbench.run.document import add_records, finish, input_entry, new_document, write_json
from czbench.run.plan import make_tasks, registered_options
from czbench.run.score import score_input
from czbench.tasks import CORE_TASKS, MetricResult, Task
from czbench.utils.checks import check_int, check_number
from czbench.utils.params import log_name
from czbench.utils.sampling import stratified_subset

EmbeddingFn = Callable[[L.LightningModule, dict[str, Any]], torch.Tensor]


class BenchmarkCallback(L.Callback):
    """Score the validation embedding on czbench tasks every ``every_n_epochs`` epochs.

    Args:
        tasks: task names or :class:`~czbench.tasks.Task` instances (tasks that score
            embeddings).
        every_n_epochs: score after validation of epochs n-1, 2n-1, ... (1: every epoch);
            ``trainer.validate`` always scores.
        embedding_fn: ``fn(pl_module, batch) -> Tensor``; overrides ``embed``.
        output_key: key of the embedding in ``validation_step``'s returned dict (the fallback
            when the module has no ``embed`` method).
        task_options: {task: {option: value}}.
        max_cells: seeded, cell-type-stratified subsample of the gathered cells (time budget).
        seed: seed of the tasks and the subsample (the run context's seed).
        knn_backend: ``auto``, ``exact`` or ``faiss-ivf`` (see :mod:`czbench.neighbors`).
        device: where the metrics run; ``None``: the module's device.
        results_dir: when given, each scoring writes a results JSON there (the ``czbench run``
            format plus stage, epoch, global step and checkpoint path); never overwrites.
        warn_fraction: warn when scoring takes longer than this fraction of the training
            epoch's wall time.
        log_prefix: first part of the logged names.

    Attributes:
        results_: the latest list of :class:`~czbench.tasks.MetricResult`.
        document_: the latest results document (as written to ``results_dir``).
        history_: one dict per scoring: stage, epoch, global step and the logged values.
    """

    def __init__(self, tasks: Sequence[str | Task] = CORE_TASKS, *, every_n_epochs: int = 1,
                 embedding_fn: EmbeddingFn | None = None, output_key: str = "embedding",
                 task_options: dict[str, dict[str, Any]] | None = None,
                 max_cells: int | None = None, seed: int = DEFAULT_SEED,
                 knn_backend: str = "auto", device: str | None = None,
                 results_dir: str | Path | None = None, warn_fraction: float = 0.5,
                 log_prefix: str = "czbench") -> None:
        super().__init__()
        if isinstance(every_n_epochs, bool) or int(every_n_epochs) != every_n_epochs \
                or every_n_epochs < 1:
            raise InputError(f"every_n_epochs: expected a positive integer, got {every_n_epochs}")
        self.context = RunContext(seed=seed, knn_backend=knn_backend, device=device)
        self._requested = (list(tasks), dict(task_options or {}))
        self._set_tasks(make_tasks(list(tasks), task_options=task_options))
        self.every_n_epochs = check_int(every_n_epochs, "every_n_epochs", 1)
        self.embedding_fn = embedding_fn
        self.output_key = output_key
        self.max_cells = check_int(max_cells, "max_cells", 2, allow_none=True)
        self.seed = self.context.seed
        self.results_dir = Path(results_dir) if results_dir is not None else None
        self.warn_fraction = check_number(warn_fraction, "warn_fraction", 0.0)
        self.log_prefix = log_prefix
        self.results_: list[MetricResult] = []
        self.document_: dict[str, Any] | None = None
        self.history_: list[dict[str, Any]] = []
        self._active = False
        self._train_epoch_start: float | None = None
        self._train_epoch_seconds: float | None = None

    def _set_tasks(self, tasks: list[Task]) -> None:
        for task in tasks:
            if task.input_kind != "embedding":
                raise InputError(f"tasks: BenchmarkCallback scores embeddings; task "
                                 f"'{task.name}' scores {task.input_kind} predictions (use "
                                 f"czbench.benchmark(..., predictions=...) for it)")
        self.tasks = tasks
        #: each task's prepared state for the datamodule's dataset (``Task.prepare``, in setup)
        self._prepared: dict[str, Any] = {}
        self.columns = sorted({c for t in self.tasks for c in t.required_columns})
        self.collector = EmbeddingCollector(self.columns)

    @property
    def state_key(self) -> str:
        """Key of this callback's state in a checkpoint: two callbacks with different tasks or
        prefixes keep separate histories."""
        return self._generate_state_key(tasks=[t.name for t in self.tasks],
                                        log_prefix=self.log_prefix,
                                        every_n_epochs=self.every_n_epochs)

    # -- when to run ---------------------------------------------------------------------------
    def _should_score(self, trainer: L.Trainer) -> bool:
        if trainer.sanity_checking:
            return False
        if trainer.state.fn != "fit":
            return True
        return (trainer.current_epoch + 1) % self.every_n_epochs == 0

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        """Read a registered dataset's task options (under the user's own) and hand the
        dataset to tasks that need more than obs columns (``Task.prepare``)."""
        adata = getattr(getattr(trainer, "datamodule", None), "adata", None)
        if adata is not None:
            names, user = self._requested
            options = registered_options(adata, names, user)
            if options != user:
                self._set_tasks(make_tasks(names, task_options=options))
            self._prepared = {task.name: task.prepare(adata, self.context)
                              for task in self.tasks}

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._train_epoch_start = time.perf_counter()

    def on_validation_epoch_start(self, trainer: L.Trainer,
                                  pl_module: L.LightningModule) -> None:
        if self._train_epoch_start is not None:
            self._train_epoch_seconds = time.perf_counter() - self._train_epoch_start
        self._active = self._should_score(trainer)
        if self._active:
            self.collector.reset()
            self.collector.to(pl_module.device)

    # -- collecting ----------------------------------------------------------------------------
    def embed(self, pl_module: L.LightningModule, batch: dict[str, Any],
              outputs: Any) -> torch.Tensor:
        """The embedding of one validation batch, by the documented protocol."""
        if self.embedding_fn is not None:
            return self.embedding_fn(pl_module, batch)
        if callable(getattr(pl_module, "embed", None)):
            with torch.no_grad():
                return pl_module.embed(batch)
        if isinstance(outputs, dict) and self.output_key in outputs:
            return outputs[self.output_key]
        raise InputError(f"embedding: {type(pl_module).__name__} has no embed(batch) method, no "
                         f"embedding_fn was given, and validation_step returned no "
                         f"'{self.output_key}' key")

    def on_validation_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule,
                                outputs: Any, batch: Any, batch_idx: int,
                                dataloader_idx: int = 0) -> None:
        if not self._active or dataloader_idx != 0:
            return
        if not isinstance(batch, dict) or "index" not in batch:
            raise InputError("batch: BenchmarkCallback needs dict batches with an 'index' key "
                             "(as czbench.datamodules.AnnDataModule yields)")
        missing = [c for c in self.columns if c not in batch]
        if missing:
            raise InputError(f"batch: the tasks need {', '.join(missing)} in each batch; the "
                             f"batch has keys {', '.join(map(str, batch))}")
        embedding = self.embed(pl_module, batch, outputs)
        if embedding.ndim != 2 or embedding.shape[0] != batch["index"].shape[0]:
            raise InputError(f"embedding: expected ({batch['index'].shape[0]}, dims) for this "
                             f"batch, got {tuple(embedding.shape)}")
        self.collector.update(embedding, batch["index"], {c: batch[c] for c in self.columns})

    # -- scoring -------------------------------------------------------------------------------
    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self._active:
            return
        self._active = False
        gathered = {k: v.cpu().numpy() for k, v in self.collector.compute().items()}
        if self.max_cells is not None and len(gathered["index"]) > self.max_cells:
            strata = gathered.get("cell_type", np.zeros(len(gathered["index"])))
            keep = stratified_subset(strata, self.max_cells, self.seed)
            gathered = {k: v[keep] for k, v in gathered.items()}
        payload = None
        if trainer.is_global_zero:
            start = time.perf_counter()
            payload = self._score(trainer, pl_module, gathered)
            elapsed = time.perf_counter() - start
            train_time = self._train_epoch_seconds
            if train_time and trainer.state.fn == "fit" and \
                    elapsed > self.warn_fraction * train_time:
                rank_zero_warn(f"czbench scoring took {elapsed:.1f}s, more than "
                               f"{self.warn_fraction:.0%} of the training epoch "
                               f"({train_time:.1f}s); consider max_cells or every_n_epochs")
        payload = trainer.strategy.broadcast(payload, src=0)
        self.results_ = [MetricResult(**r) for r in payload["results"]]
        self.document_ = payload["document"]
        values = {self.log_name(r): r.value for r in self.results_}
        if len(values) != len(self.results_):
            names = [self.log_name(r) for r in self.results_]
            clash = next(n for n in names if names.count(n) > 1)
            raise InputError(f"log names: two results map to '{clash}' once made safe for "
                             f"loggers; give the params distinct values")
        # every rank holds the same values: averaging them across ranks changes nothing, and
        # lets every rank (e.g. a ModelCheckpoint monitoring a czbench metric) see them
        pl_module.log_dict(values, on_step=False, on_epoch=True,
                           sync_dist=trainer.world_size > 1)
        self.history_.append({"stage": _stage(trainer), "epoch": trainer.current_epoch,
                              "global_step": trainer.global_step, **values})

    def log_name(self, result: MetricResult) -> str:
        """The logged name of ``result``: ``<log_prefix>/<task>/<metric>[/<param>...]``, each
        part safe for every Lightning logger (see :func:`czbench.utils.params.log_name`)."""
        return log_name(self.log_prefix, result.task, result.metric, result.params)

    def _obs(self, trainer: L.Trainer, gathered: dict[str, np.ndarray]) -> pd.DataFrame:
        codes = {c: gathered[c] for c in self.columns}
        datamodule = getattr(trainer, "datamodule", None)
        if datamodule is not None and hasattr(datamodule, "obs_frame"):
            frame = datamodule.obs_frame(codes)
            adata = getattr(datamodule, "adata", None)
            if "index" in gathered and adata is not None:
                # the cells' names: tasks prepared on the dataset (batch_integration's
                # unintegrated PCA for pcr_comparison) match the scored cells by name
                frame.index = pd.Index(adata.obs_names[np.asarray(gathered["index"])])
            return frame
        return pd.DataFrame(codes)

    def _score(self, trainer: L.Trainer, pl_module: L.LightningModule,
               gathered: dict[str, np.ndarray]) -> dict[str, Any]:
        embedding = gathered["embedding"]
        obs = self._obs(trainer, gathered)
        context = self.context if self.context.device is not None else \
            replace(self.context, device=str(pl_module.device))
        records = score_input(embedding, obs, self.tasks, context,
                              prepared=self._prepared)
        datamodule = getattr(trainer, "datamodule", None)
        meta = getattr(getattr(datamodule, "adata", None), "uns", {}).get("czbench", {})
        checkpoint = getattr(trainer, "ckpt_path", None)
        document = new_document(
            seeds=[self.seed], tasks=self.tasks, context=context.describe(embedding),
            world_size=int(trainer.world_size), stage=_stage(trainer),
            epoch=int(trainer.current_epoch),
            global_step=int(trainer.global_step),
            checkpoint=str(checkpoint) if checkpoint else None,
            dataset={"name": meta.get("name"), "path": meta.get("path"),
                     "sha256": meta.get("sha256"), "n_cells": int(len(embedding)),
                     "split": "val", "columns": dict(meta.get("columns", {})),
                     **{k: meta[k] for k in ("modality", "row_unit") if k in meta}})
        source = str(checkpoint) if checkpoint else \
            f"{type(pl_module).__name__}@epoch{trainer.current_epoch}"
        entry = input_entry(source, embedding, kind="embedding", role="model", seed=self.seed)
        results = add_records(document, entry, records)
        finish(document)
        if self.results_dir is not None:
            self._write(document, trainer, checkpoint)
        return {"results": [r.to_dict() for r in results], "document": document}

    def _write(self, document: dict[str, Any], trainer: L.Trainer, checkpoint: Any) -> None:
        if checkpoint and _stage(trainer) != "fit":
            stem = f"{_stage(trainer)}-{Path(str(checkpoint)).stem}"
        else:
            stem = f"{_stage(trainer)}-epoch{trainer.current_epoch:03d}-step{trainer.global_step}"
        path = self.results_dir / f"{stem}.json"
        counter = 1
        while path.exists():  # never replace an earlier run's file
            path = self.results_dir / f"{stem}-{counter}.json"
            counter += 1
        write_json(document, path)

    def state_dict(self) -> dict[str, Any]:
        return {"history": self.history_}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.history_ = list(state_dict.get("history", []))


def _stage(trainer: L.Trainer) -> str:
    """'fit', 'validate', ... as a plain string."""
    return str(getattr(trainer.state.fn, "value", trainer.state.fn))
