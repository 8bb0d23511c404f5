"""Task ``replicate_retrieval``: the task reports the pure metrics' values (docs/spec.md
#mean_average_precision), on rows or on pseudo-bulk profiles (checked against a pandas groupby
mean), honours ``exclude`` and ``min_profile_size``, separates real replicates from shuffled
ones, is exact for a seed, takes torch input and runs from the command line on a user's h5ad."""

from __future__ import annotations

import json

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import torch

from czbench.cli import main
from czbench.context import RunContext
from czbench.errors import CZBenchWarning, InputError
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


# --------------------------------------------------------------------------------------------
# pseudo-bulk profiles (profile_keys), exclude, min_profile_size
# --------------------------------------------------------------------------------------------

def cell_screen(seed=0, n_genes=6, guides=3, reps=3, d=16, effect=1.5):
    """Cells of a CRISPR screen: per (guide, replicate) 1-14 cells around their gene's shift;
    "NT" guides are the controls; "ambiguous" cells sit on the controls with a random guide."""
    rng = np.random.default_rng(seed)
    shift = {f"G{i}": rng.normal(0, effect, d) for i in range(n_genes)} | {"NT": np.zeros(d)}
    rows = []
    for gene in [*shift]:
        for g in range(guides + (2 if gene == "NT" else 0)):
            for r in range(reps):
                rows += [(gene, f"{gene}_g{g}", f"rep_{r}")] * int(rng.integers(1, 15))
    rows += [("ambiguous", f"G{int(rng.integers(n_genes))}_g0", f"rep_{int(rng.integers(reps))}")
             for _ in range(40)]
    obs = pd.DataFrame(rows, columns=["gene", "guide", "rep"])
    obs = obs.iloc[rng.permutation(len(obs))].reset_index(drop=True)
    obs.index = [f"c{i}" for i in range(len(obs))]
    x = np.stack([rng.normal(size=d) * 2 + shift.get(g, 0) for g in obs["gene"]])
    return x, obs


def groupby_profiles(x, obs, keys, exclude=(), min_size=1, control="NT"):
    """Reference: pandas' groupby mean of the kept rows, small groups and perturbations with
    fewer than 2 profiles dropped."""
    frame = pd.DataFrame(x.astype(np.float64)).assign(**{k: obs[k].astype(str).to_numpy()
                                                         for k in keys})
    frame = frame[~frame[keys[0]].isin(exclude)]
    grouped = frame.groupby(keys)
    means, sizes = grouped.mean(), grouped.size()
    means = means[sizes >= min_size]
    per = means.index.get_level_values(0).value_counts()
    means = means[~means.index.get_level_values(0).isin(per[(per < 2) &
                                                            (per.index != control)].index)]
    return means, sizes


OPTIONS = {"perturbation_key": "gene", "control": "NT", "exclude": ("ambiguous",),
           "profile_keys": ("guide", "rep"), "null_size": 300}


def test_pseudo_bulk_profiles_equal_a_groupby_mean_fed_to_the_pure_functions():
    x, obs = cell_screen()
    task = get_task("replicate_retrieval", **OPTIONS, min_profile_size=3)
    means, sizes = groupby_profiles(x, obs, ["gene", "guide", "rep"], ("ambiguous",), 3)
    plan = task.plan(obs)
    assert list(map(tuple, plan.keys.to_numpy())) == list(means.index)  # sorted key order
    np.testing.assert_allclose(task.profiles(x, obs), means.to_numpy(), rtol=0, atol=1e-12)
    assert plan.sizes.tolist() == sizes[sizes >= 3].tolist()
    labels = means.index.get_level_values(0).to_numpy()
    table = mean_average_precision(average_precision(means.to_numpy(), labels, "NT"),
                                   null_size=300, seed=5)
    run = task.evaluate(x, obs, context=RunContext(seed=5))
    values = _values(run.results)
    for p, m in zip(table.perturbation, table.mean_average_precision, strict=True):
        assert values[("mean_average_precision", p)] == pytest.approx(m, abs=1e-12)
    assert values[("fraction_retrieved", None)] == table.retrieved.mean()
    assert run.resolved["corrected_p_value"] == pytest.approx(
        dict(zip(table.perturbation, table.corrected_p_value, strict=True)), abs=1e-12)
    assert run.resolved["profile"] == "mean of rows per (gene, guide, rep)"
    assert run.resolved["n_profiles"] == len(means)
    assert run.resolved["n_rows_used"] == int(sizes[sizes >= 3].sum())
    assert run.resolved["n_profiles_dropped_small"] == int((sizes < 3).sum())
    assert run.resolved["n_rows_excluded"] == int((obs["gene"] == "ambiguous").sum())
    assert run.resolved["n_controls"] == int((labels == "NT").sum())
    # float32 input: the float64 mean, cast back
    x32 = x.astype(np.float32)
    profiles32 = task.profiles(x32, obs)
    assert profiles32.dtype == np.float32
    np.testing.assert_allclose(profiles32, groupby_profiles(x32, obs, ["gene", "guide", "rep"],
                                                            ("ambiguous",), 3)[0], rtol=1e-6)


def test_exclude_removes_a_perturbation_from_scores_and_controls():
    x, obs = cell_screen(seed=1)
    obs = obs.assign(gene=obs["gene"].where(obs["gene"] != "ambiguous", "NT_like"))
    rows = obs["gene"] == "NT_like"
    task = get_task("replicate_retrieval", **{**OPTIONS, "exclude": "NT_like"})
    assert task.exclude == ("NT_like",)
    run = task.evaluate(x, obs, context=RunContext(seed=0))
    assert "NT_like" not in {r.params.get("perturbation") for r in run.results}
    # the same as never having had those cells: they are neither queries nor controls
    alone = get_task("replicate_retrieval", **{**OPTIONS, "exclude": ()}).evaluate(
        x[~rows.to_numpy()], obs[~rows], context=RunContext(seed=0))
    assert run.results == alone.results
    assert run.resolved["n_controls"] == alone.resolved["n_controls"]
    kept = get_task("replicate_retrieval", **{**OPTIONS, "exclude": ()}).evaluate(
        x, obs, context=RunContext(seed=0))
    assert ("mean_average_precision", "NT_like") in _values(kept.results)
    # a treated perturbation excluded: its row is gone, the others' mAP unchanged
    no_g0 = get_task("replicate_retrieval", **{**OPTIONS, "exclude": ["NT_like", "G0"]})
    fewer = _values(no_g0.run(x, obs, context=RunContext(seed=0)))
    assert ("mean_average_precision", "G0") not in fewer
    assert all(fewer[k] == v for k, v in _values(run.results).items()
               if k[1] not in (None, "G0"))


def test_min_profile_size_drops_small_groups_and_then_thin_perturbations():
    x, obs = cell_screen(seed=2)
    obs = obs[~((obs["gene"] == "G1") & (obs.groupby(["guide", "rep"]).cumcount() >= 4))]
    x = x[[int(i[1:]) for i in obs.index]]  # G1: every group has <= 4 cells
    task = get_task("replicate_retrieval", **OPTIONS, min_profile_size=5)
    sizes = obs[obs["gene"] != "ambiguous"].groupby(["gene", "guide", "rep"]).size()
    with pytest.warns(CZBenchWarning, match="G1 \\(0\\)"):
        run = task.evaluate(x, obs, context=RunContext(seed=0))
    assert run.resolved["n_profiles_dropped_small"] == int((sizes < 5).sum())
    assert run.resolved["perturbations_dropped"] == {"G1": 0}
    assert ("mean_average_precision", "G1") not in _values(run.results)
    assert run.resolved["n_profiles"] == int((sizes >= 5).sum())
    assert (task.plan(obs).sizes >= 5).all()


@pytest.mark.parametrize(("options", "obs_change", "message"), [
    ({"profile_keys": ("guide", "plate")}, None,
     "profile_keys: task 'replicate_retrieval' needs obs column 'plate', which is missing"),
    ({}, "nan_guide", "profile_keys: obs column 'guide' has 1 missing values"),
    ({}, "one_profile_each", "gene: no perturbation has 2 or more profiles"),
    ({"exclude": ("ambiguous", "typo")}, None, "exclude: obs column 'gene' has no 'typo' rows"),
    ({}, "few_controls", "control: no 'NT' profile left"),
])
def test_grouping_errors_are_one_line(options, obs_change, message):
    x, obs = cell_screen()
    if obs_change == "nan_guide":
        obs.iloc[3, obs.columns.get_loc("guide")] = np.nan
    if obs_change == "one_profile_each":
        treated = ~obs["gene"].isin(["NT", "ambiguous"])
        obs.loc[treated, "guide"] = obs.loc[treated, "gene"] + "_g0"
        obs.loc[treated, "rep"] = "rep_0"
    if obs_change == "few_controls":
        options = {"min_profile_size": 14}
        obs.loc[obs["gene"] == "NT", "rep"] = [f"r{i}" for i in range((obs["gene"] == "NT").sum())]
    task = get_task("replicate_retrieval", **{**OPTIONS, **options})
    with pytest.raises(InputError, match=message) as err:
        task.check_inputs(obs, len(obs))  # before any embedding is read
    assert "\n" not in str(err.value)
    with pytest.raises(InputError, match=message):
        task.run(x, obs)


@pytest.mark.parametrize(("options", "message"), [
    ({"exclude": ("ambiguous", "NT")}, "exclude: contains the control 'NT'"),
    ({"exclude": 3}, "exclude: expected a list of names"),
    ({"exclude": "a,,b"}, "exclude: expected a non-empty name"),
    ({"profile_keys": ["guide", "guide"]}, "profile_keys: each name once"),
    ({"profile_keys": ("gene",)}, "profile_keys: contains perturbation_key 'gene'"),
    ({"min_profile_size": 0}, "min_profile_size: expected an integer >= 1, got 0"),
    ({"min_profile_size": 2.5}, "min_profile_size: expected an integer >= 1"),
    ({"profile_keys": (), "min_profile_size": 3}, "min_profile_size: 3 needs profile_keys"),
])
def test_bad_options_are_one_line_errors(options, message):
    with pytest.raises(InputError, match=message):
        get_task("replicate_retrieval", **{**OPTIONS, **options})


def test_options_defaults_and_comma_separated_names():
    task = get_task("replicate_retrieval", exclude="ambiguous", profile_keys="guide, rep")
    assert task.perturbation_key == "condition" and task.control == "DMSO"
    assert task.exclude == ("ambiguous",) and task.profile_keys == ("guide", "rep")
    assert task.required_columns == ["condition", "guide", "rep"]
    assert task.options()["min_profile_size"] == 1
    assert task.clone().options() == task.options()
    assert get_task("replicate_retrieval").profile_definition == "row"


def test_pseudo_bulk_seed_is_bit_exact_and_torch_equals_numpy():
    x, obs = cell_screen(seed=3)
    x32 = x.astype(np.float32)
    task = get_task("replicate_retrieval", **OPTIONS)
    first = task.evaluate(x32, obs, context=RunContext(seed=11))
    again = task.evaluate(x32.copy(), obs.copy(), context=RunContext(seed=11))
    assert first.results == again.results and first.resolved == again.resolved
    on_torch = task.evaluate(torch.from_numpy(x32), obs, context=RunContext(seed=11))
    assert on_torch.results == first.results and on_torch.resolved == first.resolved
    np.testing.assert_array_equal(task.profiles(torch.from_numpy(x32), obs),
                                  task.profiles(x32, obs))


def test_rows_as_profiles_drop_single_replicate_perturbations_with_a_warning():
    x, obs = screen()
    obs = obs.copy()
    obs["compound"] = obs["compound"].astype(str)
    obs.iloc[-3:, 0] = ["solo", "cpd11", "cpd11"]
    task = get_task("replicate_retrieval", perturbation_key="compound", null_size=200)
    with pytest.warns(CZBenchWarning, match="solo \\(1\\)"):
        run = task.evaluate(x, obs)
    assert run.resolved["perturbations_dropped"] == {"solo": 1}
    assert run.resolved["profile"] == "row" and "n_profiles_dropped_small" not in run.resolved
    assert run.resolved["n_profiles"] == len(obs) - 1
    keep = (obs["compound"] != "solo").to_numpy()
    ap = average_precision(x[keep], obs["compound"][keep], "DMSO")
    assert _values(run.results)[("mean_average_precision", "cpd11")] == pytest.approx(
        ap.ap[ap.perturbation == "cpd11"].mean(), abs=1e-15)


def test_command_line_with_pseudo_bulk_options(tmp_path, capsys):
    x, obs = cell_screen()
    path = tmp_path / "cells.h5ad"
    ad.AnnData(X=x.astype(np.float32), obs=obs).write_h5ad(path)
    out = tmp_path / "r.json"
    options = ["perturbation_key=gene", "control=NT", "exclude=ambiguous",
               "profile_keys=guide,rep", "min_profile_size=2", "null_size=200"]
    code = main(["run", "--dataset", str(path), "--embedding", "baseline:raw", "--task",
                 "replicate_retrieval", *[a for o in options for a in
                                          ("--option", f"replicate_retrieval.{o}")],
                 "--output", str(out), "--quiet"])
    assert code == 0, capsys.readouterr().err
    doc = json.loads(out.read_text())
    recorded = doc["tasks"]["replicate_retrieval"]
    assert recorded["profile_keys"] == ["guide", "rep"] and recorded["exclude"] == ["ambiguous"]
    assert len([r for r in doc["results"] if r["params"]]) == 6
