"""Task ``replicate_retrieval``: the task reports the pure metrics' values (docs/spec.md
#mean_average_precision), separates real replicates from shuffled ones, is exact for a seed
and runs from the command line on a user's h5ad."""

from __future__ import annotations

import json

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from czbench.cli import main
from czbench.context import RunContext
from czbench.errors import InputError
from czbench.metrics.retrieval import average_precision, mean_average_precision
from czbench.tasks import get_task


def screen(seed=0, n_perturbations=12, replicates=4, n_controls=16, d=20, effect=3.0):
    """Profiles: controls around 0, each perturbation's replicates around its own shift."""
    rng = np.random.default_rng(seed)
    labels = ["DMSO"] * n_controls + [f"cpd{i}" for i in range(n_perturbations)
                                      for _ in range(replicates)]
    shifts = {f"cpd{i}": rng.normal(0, effect, d) for i in range(n_perturbations)}
    x = np.stack([rng.normal(size=d) + (shifts[lab] if lab != "DMSO" else 0) for lab in labels])
    obs = pd.DataFrame({"compound": pd.Categorical(labels)},
                       index=[f"w{i}" for i in range(len(labels))])
    return x, obs


def _values(results):
    return {(r.metric, r.params.get("perturbation")): r.value for r in results}


def test_task_reports_the_pure_metrics():
    x, obs = screen()
    task = get_task("replicate_retrieval", perturbation_key="compound", null_size=500)
    run = task.evaluate(x, obs, context=RunContext(seed=3))
    table = mean_average_precision(average_precision(x, obs["compound"].astype(str), "DMSO"),
                                   null_size=500, seed=3)
    values = _values(run.results)
    assert values[("mean_average_precision", None)] == pytest.approx(
        table.mean_average_precision.mean(), abs=1e-15)
    assert values[("fraction_retrieved", None)] == table.retrieved.mean()
    for p, m in zip(table.perturbation, table.mean_average_precision, strict=True):
        assert values[("mean_average_precision", p)] == m
    assert run.resolved["p_value"] == {str(p): float(v) for p, v in
                                       zip(table.perturbation, table.p_value, strict=True)}
    assert run.resolved["n_controls"] == 16 and run.resolved["n_perturbations"] == 12


def test_real_replicates_beat_shuffled_labels_and_a_seed_is_exact():
    x, obs = screen(effect=4.0)
    task = get_task("replicate_retrieval", perturbation_key="compound", null_size=2000)
    real = _values(task.run(x, obs, context=RunContext(seed=1)))
    assert real[("mean_average_precision", None)] > 0.95
    assert real[("fraction_retrieved", None)] == 1.0
    shuffled = obs.copy()
    treated = shuffled["compound"] != "DMSO"
    rng = np.random.default_rng(0)
    shuffled.loc[treated, "compound"] = rng.permutation(shuffled.loc[treated, "compound"])
    fake = _values(task.run(x, shuffled, context=RunContext(seed=1)))
    assert fake[("mean_average_precision", None)] < real[("mean_average_precision", None)] - 0.3
    assert fake[("fraction_retrieved", None)] < 0.5
    again = _values(task.run(x, obs, context=RunContext(seed=1)))
    assert again == real


def test_missing_control_is_a_one_line_error():
    x, obs = screen()
    task = get_task("replicate_retrieval", perturbation_key="compound", control="DMSO ")
    with pytest.raises(InputError, match="control: obs column 'compound' has no 'DMSO ' "):
        task.run(x, obs)
    with pytest.raises(InputError, match="threshold"):
        get_task("replicate_retrieval", threshold=0)


def test_command_line_on_a_users_screen(tmp_path, capsys):
    x, obs = screen()
    adata = ad.AnnData(X=x.astype(np.float32), obs=obs)
    path = tmp_path / "screen.h5ad"
    adata.write_h5ad(path)
    out = tmp_path / "r.json"
    code = main(["run", "--dataset", str(path), "--embedding", "baseline:raw", "--task",
                 "replicate_retrieval", "--option", "replicate_retrieval.perturbation_key=compound",
                 "--option", "replicate_retrieval.null_size=500", "--output", str(out),
                 "--quiet"])
    assert code == 0, capsys.readouterr().err
    doc = json.loads(out.read_text())
    rows = [r for r in doc["results"] if r["metric"] == "mean_average_precision"]
    assert len(rows) == 13 and rows[0]["params"] == {}
    assert doc["tasks"]["replicate_retrieval"]["control"] == "DMSO"
