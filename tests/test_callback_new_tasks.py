"""The later tasks run from the Lightning callback through the same registry (no glue)."""

from __future__ import annotations

import lightning as L
import pytest
import torch
from helpers import FrozenProjection

from czbench.callbacks import BenchmarkCallback
from czbench.context import RunContext
from czbench.datamodules import AnnDataModule
from czbench.tasks import get_task


@pytest.mark.parametrize(("dataset", "tasks", "options"), [
    ("bmdc_lps_timecourse_shalek_pseudotimede", ["sequential_organization"], {}),
    ("pancreas_baron_human_mouse", ["cross_species_integration",
                                    "cross_species_label_prediction"],
     {"cross_species_label_prediction": {"classifiers": ("lr",)}}),
])
def test_callback_scores_later_tasks_like_the_core(dataset, tasks, options):
    dm = AnnDataModule(dataset, normalize=True, split_fractions=(0.5, 0.5, 0.0), batch_size=128,
                       seed=0)
    callback = BenchmarkCallback(tasks, task_options=options, seed=0)
    trainer = L.Trainer(accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False,
                        callbacks=[callback])
    module = FrozenProjection(dm.n_genes)
    trainer.validate(module, datamodule=dm, verbose=False)
    logged = {callback.log_name(r): r.value for r in callback.results_}
    assert logged
    # the same numbers as the task run directly on the same cells (obs decoded from codes)
    val = dm.split_indices["val"]
    with torch.no_grad():
        emb = module.proj(dm.collate(val.tolist())["x"]).numpy()
    obs = dm.adata.obs.iloc[val].reset_index(drop=True)
    for name in tasks:
        task = get_task(name, **options.get(name, {}))
        for r in task.run(emb, obs, context=RunContext(seed=0)):
            assert logged[callback.log_name(r)] == pytest.approx(r.value, abs=1e-6)
