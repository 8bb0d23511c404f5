"""perturbation_expression_prediction: ground truth vs scanpy, metric vs scipy, the reference's
target rule (re-implemented with legacy numpy) and its switch from the log ratio to the
difference, seeds (the DE step once per dataset, the seeded draws per run), cache, input forms,
errors, the baselines' order on the shipped THP-1 CRISPR dataset, and the run with its default
expression inputs."""

from __future__ import annotations

import warnings
import zlib

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from scipy.stats import spearmanr

import czbench.tasks.perturbation.task as pert
from czbench.context import RunContext
from czbench.datasets.counts import normalize_counts
from czbench.errors import InputError
from czbench.metrics.correlation import spearman
from czbench.tasks import get_task
from czbench.tasks.perturbation import (
    BASELINES,
    PerturbationExpressionPredictionTask,
    baseline_mean_effect,
    baseline_no_change,
    baseline_observed,
)
from czbench.tasks.perturbation.truth import differential_expression, draw_truth

NAME = "perturbation_expression_prediction"
REAL = "thp1_crispr_papalexi_lowmoi_sceptre"


# -- synthetic data ----------------------------------------------------------------------------
def synthetic(seed: int = 0) -> ad.AnnData:
    """40 genes; control 150 cells; A (100 cells, 12 genes changed), B (90 cells, 8 genes),
    C (10 cells: too few), D (60 cells, no effect: too few DE genes), E (80 cells, 10 genes).
    The reference rule scores A and E (int(n_DE / 2) >= 5), the "min5" rule A, B and E."""
    rng = np.random.default_rng(seed)
    sizes = {"ctrl": 150, "A": 100, "B": 90, "C": 10, "D": 60, "E": 80}
    base = rng.uniform(3, 12, size=40)
    rows, labels = [], []
    for condition, n in sizes.items():
        mean = base.copy()
        if condition == "A":
            mean[:6] *= 5
            mean[6:12] /= 6
        if condition == "B":
            mean[10:14] *= 4
            mean[20:24] /= 5
        if condition == "E":
            mean[25:30] *= 4
            mean[30:35] /= 5
        rows.append(rng.poisson(mean, size=(n, 40)))
        labels += [condition] * n
    adata = ad.AnnData(X=sp.csr_matrix(np.vstack(rows).astype(np.float32)),
                       obs=pd.DataFrame({"condition": labels},
                                        index=[f"cell{i}" for i in range(len(labels))]),
                       var=pd.DataFrame(index=[f"g{j}" for j in range(40)]))
    return adata


@pytest.fixture(autouse=True)
def fresh_cache(monkeypatch):
    monkeypatch.setattr(pert, "_DE_CACHE", {})


@pytest.fixture(scope="module")
def syn() -> ad.AnnData:
    return synthetic()


class Prepared:
    """A task and the ground truth its ``prepare`` returned for one dataset and seed."""

    def __init__(self, task: PerturbationExpressionPredictionTask, adata, seed: int) -> None:
        self.task, self.seed = task, seed
        self.state = task.prepare(adata, RunContext(seed=seed))
        self.evaluated_, self.skipped_ = self.state.evaluated, self.state.skipped
        self.truth_, self.matched_controls_ = self.state.table, self.state.matched_controls

    def truth(self, seed: int) -> dict:
        assert seed == self.seed
        return self.state.truth

    def evaluate(self, values, obs=None):
        return self.task.evaluate(values, obs, context=RunContext(seed=self.seed),
                                  prepared=self.state)

    def run(self, values, obs=None):
        return self.evaluate(values, obs).results


def prepared(adata, seed=42, **options) -> Prepared:
    return Prepared(get_task(NAME, control="ctrl", **options), adata, seed)


# -- references --------------------------------------------------------------------------------
def test_normalize_by_hand(syn):
    counts = syn.X.toarray().astype(np.float64)
    totals = counts.sum(axis=1, keepdims=True)
    expected = counts / totals * np.median(totals)
    np.testing.assert_allclose(normalize_counts(syn.X).toarray(), expected, rtol=1e-12)
    np.testing.assert_allclose(normalize_counts(counts), expected, rtol=1e-12)


def test_spearman_matches_scipy():
    rng = np.random.default_rng(1)
    for n in (2, 5, 9, 50):
        x = rng.integers(0, 4, size=n).astype(float)   # ties
        y = rng.normal(size=n)
        expected = spearmanr(x, y).statistic
        assert spearman(x, y) == pytest.approx(0.0 if np.isnan(expected) else expected, abs=1e-12)
    assert spearman(np.ones(6), np.arange(6.0)) == 0.0    # NaN -> 0
    assert spearman([1.0, 2.0, 3.0], [3.0, 2.0, 1.0]) == pytest.approx(-1.0)


@pytest.mark.parametrize("rule, evaluated", [("reference", ["A", "E"]),
                                              ("min5", ["A", "B", "E"])])
def test_metric_by_hand_and_skips(syn, rule, evaluated):
    task = prepared(syn, target_rule=rule)
    assert task.evaluated_ == evaluated
    assert set(task.skipped_) == {"A", "B", "C", "D", "E"} - set(evaluated)
    assert "min_cells" in task.skipped_["C"] and "min_de_genes" in task.skipped_["D"]
    if rule == "reference":   # B: 8 DE genes -> int(0.5 x 8) = 4 targets < 5
        assert task.skipped_["B"] == ("8 DE genes give int(0.5 x 8) = 4 targets < "
                                      "min_de_genes=5")
    truth = task.truth_
    rng = np.random.default_rng(5)
    prediction = pd.DataFrame(rng.gamma(2.0, 3.0, size=syn.shape), index=syn.obs_names,
                              columns=syn.var_names)
    run = task.evaluate(prediction, syn.obs)
    assert run.resolved["difference_conditions"] == []   # every mean > 0: the log ratio
    results = run.results
    by_condition = {r.params["condition"]: r.value for r in results
                    if r.metric == "spearman_correlation_calculation"}
    assert list(by_condition) == evaluated
    for condition in evaluated:
        targets = truth[(truth.condition == condition) & truth.is_target]
        n_de = int((truth.condition == condition).sum())
        assert len(targets) == (n_de // 2 if rule == "reference" else max(5, n_de // 2))
        cells = syn.obs_names[syn.obs["condition"] == condition]
        controls = task.matched_controls_[condition]
        assert len(controls) == len(cells) == len(set(controls))          # 1:1, no repeats
        assert set(syn.obs.loc[controls, "condition"]) == {"ctrl"}
        genes = list(targets.gene)
        effect = np.log((prediction.loc[cells, genes].mean().to_numpy() + 1e-8)
                        / (prediction.loc[controls, genes].mean().to_numpy() + 1e-8))
        expected = spearmanr(effect, targets.logfoldchange).statistic
        assert by_condition[condition] == pytest.approx(expected, abs=1e-12)
    values = list(by_condition.values())
    summary = {r.metric: r.value for r in results if not r.params}
    assert set(summary) == {"mean_spearman_correlation", "median_spearman_correlation"}
    assert summary["mean_spearman_correlation"] == pytest.approx(np.mean(values))
    assert summary["median_spearman_correlation"] == pytest.approx(np.median(values))


# -- the reference's target rule and predicted effect -----------------------------------------
@pytest.fixture
def legacy_numpy():
    """The global legacy numpy generator, restored after the test (the reference seeds it)."""
    state = np.random.get_state()  # noqa: NPY002 (the legacy global generator on purpose)
    yield
    np.random.set_state(state)  # noqa: NPY002


def reference_targets(de_table: pd.DataFrame, seed: int, fraction: float = 0.5,
                      minimum: int = 5) -> dict[str, list[str]]:
    """cz-benchmarks 0.15.1's rule, written out: one legacy sequence seeded once, conditions in
    the order of the DE table, genes in table order, scored when int(fraction x n_DE) >= 5."""
    np.random.seed(seed)  # noqa: NPY002 (the reference's legacy seeding, on purpose)
    out = {}
    for condition in de_table["condition"].unique():
        genes = de_table[de_table["condition"] == condition]["gene_id"].values
        n = int(len(genes) * fraction)
        if n >= minimum:
            out[condition] = np.random.choice(genes, size=n, replace=False).tolist()  # noqa: NPY002
    return out


def de_table(de: dict) -> pd.DataFrame:
    """czbench's DE step as the reference's long DE table (one row per DE gene)."""
    return pd.DataFrame([(c, g) for c, e in de["conditions"].items() for g in e["de_genes"]],
                        columns=["condition", "gene_id"])


def test_reference_rule_draws_the_legacy_numpy_targets(syn, legacy_numpy):
    """Same DE table -> the same targets, gene for gene and in drawn order, as
    np.random.seed(seed) + np.random.choice per condition; a condition with too few DE genes
    draws nothing and so does not shift the sequence. Controls: the condition's own stream."""
    de = differential_expression(syn, condition_key="condition", control="ctrl")
    assert list(de["conditions"]) == ["A", "B", "D", "E"]    # the DE table: name order
    controls = np.asarray(de["control_cells"])
    for seed, fraction in ((42, 0.5), (0, 0.5), (7, 0.8), (2**32 + 7, 0.5)):
        truth = draw_truth(de, seed=seed, target_fraction=fraction)
        expected = reference_targets(de_table(de), seed % 2**32, fraction)
        assert {c: e["targets"] for c, e in truth["conditions"].items()} == expected
        for condition, entry in truth["conditions"].items():
            lfc = dict(zip(de["conditions"][condition]["de_genes"],
                           de["conditions"][condition]["de_logfc"], strict=True))
            assert entry["logfc"] == [lfc[g] for g in entry["targets"]]
            rng = np.random.default_rng([seed & 0xFFFFFFFF, zlib.crc32(condition.encode())])
            matched = rng.choice(len(controls), size=len(entry["cells"]), replace=False)
            assert entry["controls"] == list(controls[matched])
    assert set(draw_truth(de, seed=42)["conditions"]) == {"A", "E"}
    assert set(draw_truth(de, seed=7, target_fraction=0.8)["conditions"]) == {"A", "B", "E"}
    # many conditions, one sequence: a made-up DE table with 3..30 DE genes per condition
    rng = np.random.default_rng(0)
    sizes = rng.integers(3, 31, size=12)
    made_up = {"control_cells": ["c0", "c1"], "skipped": {}, "target_sum": 1.0,
               "conditions": {f"K{i:02d}": {"de_genes": [f"g{j}" for j in rng.permutation(40)[:n]],
                                            "de_logfc": [1.0] * n, "de_pval_adj": [0.0] * n,
                                            "cells": ["t0"]}
                              for i, n in enumerate(sizes)}}
    for seed in (1, 42):
        drawn = draw_truth(made_up, seed=seed)
        assert {c: e["targets"] for c, e in drawn["conditions"].items()} == \
            reference_targets(de_table(made_up), seed)
        assert set(drawn["skipped"]) == {c for c, n in zip(made_up["conditions"], sizes,
                                                            strict=True) if n < 10}
    # the task: same targets as the reference on its own DE table; a subset of conditions is
    # a shorter table, so its sequence starts at its first condition
    task = prepared(syn, seed=3)
    assert {c: e["targets"] for c, e in task.truth(3)["conditions"].items()} == \
        reference_targets(de_table(de), 3)
    only_e = prepared(syn, seed=3, conditions=["E"])
    assert only_e.truth(3)["conditions"]["E"]["targets"] == \
        reference_targets(de_table(de).query("condition == 'E'"), 3)["E"]


def test_log_ratio_switches_to_difference_when_a_mean_is_zero(syn):
    """As the reference: a condition whose predicted treated or control mean is <= 0 for one of
    its targets is scored on T - C for all its targets; the others keep the log ratio; the
    switched conditions are recorded in ``resolved``."""
    task = prepared(syn)                                     # reference rule: A and E
    rng = np.random.default_rng(11)
    prediction = pd.DataFrame(rng.gamma(2.0, 3.0, size=syn.shape), index=syn.obs_names,
                              columns=syn.var_names)
    truth = task.truth(42)["conditions"]
    cells_a = syn.obs_names[syn.obs["condition"] == "A"]
    first, second = truth["A"]["targets"][:2]
    prediction.loc[cells_a, first] = 0.0                      # treated mean 0 in A ...
    prediction.loc[truth["A"]["controls"], first] = 0.5       # ... against a small control
    prediction.loc[cells_a, second] *= 0.1                    # ratio and difference now rank
    run = task.evaluate(prediction, syn.obs)                  # these two genes differently
    assert run.resolved["difference_conditions"] == ["A"]
    got = {r.params["condition"]: r.value for r in run.results if r.params}
    for condition, difference in (("A", True), ("E", False)):
        genes = truth[condition]["targets"]
        cells = syn.obs_names[syn.obs["condition"] == condition]
        t = prediction.loc[cells, genes].mean().to_numpy()
        c = prediction.loc[truth[condition]["controls"], genes].mean().to_numpy()
        effect = t - c if difference else np.log((t + 1e-8) / (c + 1e-8))
        expected = spearmanr(effect, truth[condition]["logfc"]).statistic
        assert got[condition] == pytest.approx(expected, abs=1e-12)
        if difference:   # the switch changes the value
            ratio = spearmanr(np.log((t + 1e-8) / (c + 1e-8)), truth[condition]["logfc"])
            assert abs(got[condition] - ratio.statistic) > 0.05
    # a control mean of 0 switches E too
    prediction.loc[truth["E"]["controls"], truth["E"]["targets"][-1]] = 0.0
    assert task.evaluate(prediction, syn.obs).resolved["difference_conditions"] == ["A", "E"]


def test_input_forms_agree(syn):
    task = prepared(syn)
    values = baseline_observed(syn) * np.random.default_rng(2).uniform(0.5, 1.5, size=syn.shape)
    frame = pd.DataFrame(values, index=syn.obs_names, columns=syn.var_names)
    expected = [r.value for r in task.run(values, syn.obs)]
    shuffled = frame.sample(frac=1.0, random_state=0)[list(reversed(frame.columns))]
    forms = [frame, shuffled, sp.csr_matrix(values),
             ad.AnnData(X=values, obs=pd.DataFrame(index=syn.obs_names),
                        var=pd.DataFrame(index=syn.var_names))]
    for form in forms:
        assert [r.value for r in task.run(form)] == pytest.approx(expected, abs=1e-12)
    # a subset of cells/genes is fine as long as evaluated cells and targets are there
    keep = sorted({c for v in task.matched_controls_.values() for c in v}
                  | set(syn.obs_names[syn.obs.condition.isin(task.evaluated_)]))
    genes = sorted(set(task.truth_.query("is_target").gene))
    assert [r.value for r in task.run(frame.loc[keep, genes])] == pytest.approx(expected)


def test_seeded_reproducibility_subset_and_cache(syn, tmp_path, monkeypatch):
    a = prepared(syn, seed=3)
    monkeypatch.setattr(pert, "_DE_CACHE", {})
    b = prepared(syn, seed=3)
    assert a.truth(3) == b.truth(3) and a.truth(3) is not b.truth(3)
    c = prepared(syn, seed=4)
    assert c.matched_controls_ != a.matched_controls_
    # with the "min5" rule, evaluating a subset of conditions draws the same targets and
    # controls (each condition has its own stream; the reference rule's one sequence does not)
    full = prepared(syn, seed=3, target_rule="min5")
    only_b = prepared(syn, seed=3, conditions=["B"], target_rule="min5")
    assert only_b.truth(3)["conditions"]["B"] == full.truth(3)["conditions"]["B"]
    # file cache (of the DE step): written inside cache_dir only, then read back
    monkeypatch.setattr(pert, "_DE_CACHE", {})
    cache = tmp_path / "cache"
    first = prepared(syn, seed=3, cache_dir=cache)
    files = list(cache.iterdir())
    assert len(files) == 1 and files[0].name.startswith("perturbation_de_")
    assert first.truth(3) == a.truth(3)
    monkeypatch.setattr(pert, "_DE_CACHE", {})
    monkeypatch.setattr(pert, "differential_expression",
                        lambda *a, **k: pytest.fail("not cached"))
    second = prepared(syn, seed=3, cache_dir=cache)
    assert second.truth(3) == first.truth(3)
    assert prepared(syn, seed=4, cache_dir=cache).truth(4) == c.truth(4)  # other seeds too
    # changed data -> different key (never a stale hit)
    other = syn.copy()
    other.X = other.X.copy()
    other.X[0, 0] += 1
    monkeypatch.undo()
    monkeypatch.setattr(pert, "_DE_CACHE", {})
    prepared(other, seed=3, cache_dir=cache)
    assert len(list(cache.iterdir())) == 2


def test_min5_draws_follow_the_per_condition_stream(syn):
    """``target_rule="min5"``: the targets and matched controls of a condition come from its
    own generator, default_rng([seed, crc32(condition)]): first the targets (sorted positions
    among the DE genes), then the controls -- czbench's draws before the reference rule became
    the default, unchanged."""
    de = differential_expression(syn, condition_key="condition", control="ctrl")
    controls = np.asarray(de["control_cells"])
    assert list(controls) == list(syn.obs_names[syn.obs["condition"] == "ctrl"])
    assert set(de["conditions"]) == {"A", "B", "D", "E"} and set(de["skipped"]) == {"C"}
    for seed, fraction in ((3, 0.5), (42, 0.5), (7, 0.25)):
        truth = draw_truth(de, seed=seed, min_de_genes=5, target_fraction=fraction,
                           target_rule="min5")
        assert set(truth["conditions"]) == {"A", "B", "E"}
        assert set(truth["skipped"]) == {"C", "D"}
        for condition, entry in truth["conditions"].items():
            genes = de["conditions"][condition]["de_genes"]
            rng = np.random.default_rng([seed, zlib.crc32(condition.encode())])
            n_targets = min(len(genes), max(5, int(len(genes) * fraction)))
            order = np.sort(rng.choice(len(genes), size=n_targets, replace=False))
            n_cells = int((syn.obs["condition"] == condition).sum())
            matched = rng.choice(len(controls), size=n_cells, replace=False)
            assert entry["targets"] == [genes[i] for i in order]
            assert entry["logfc"] == [de["conditions"][condition]["de_logfc"][i] for i in order]
            assert entry["controls"] == list(controls[matched])
        task = prepared(syn, seed=seed, target_fraction=fraction, target_rule="min5")
        assert task.truth(seed)["conditions"] == truth["conditions"]


def test_de_runs_once_for_every_seed(syn, monkeypatch):
    """Regression: preparing several seeds tests each condition once (the DE step is cached
    across seeds); running a seed that was not prepared is a one-line error."""
    calls = []
    original = pert.differential_expression

    def counting(*args, **kwargs):
        calls.append(kwargs)
        return original(*args, **kwargs)

    pert._DE_CACHE.clear()
    monkeypatch.setattr(pert, "differential_expression", counting)
    task = get_task(NAME, control="ctrl")
    truths = {seed: task.prepare(syn, RunContext(seed=seed)) for seed in (0, 1)}
    assert len(calls) == 1
    assert truths[0].truth != truths[1].truth
    prediction = baseline_observed(syn)
    for seed in (0, 1):  # each seed runs on its own truth, as if prepared alone
        alone = get_task(NAME, control="ctrl")
        state = alone.prepare(syn, RunContext(seed=seed))
        expected = [r.value for r in alone.run(prediction, syn.obs, prepared=state,
                                               context=RunContext(seed=seed))]
        assert [r.value for r in task.run(prediction, syn.obs, prepared=truths[seed],
                                          context=RunContext(seed=seed))] == expected
    assert len(calls) == 1
    with pytest.raises(InputError, match=r"prepared.*seed 0.*seed is 2.*same seed") as info:
        task.run(prediction, syn.obs, context=RunContext(seed=2), prepared=truths[0])
    assert "\n" not in str(info.value)
    with pytest.raises(InputError, match=r"prepared=task.prepare") as info:
        task.run(prediction, syn.obs, context=RunContext(seed=0))
    assert "\n" not in str(info.value)


def test_errors(syn):
    with pytest.raises(InputError, match="control value 'nope'"):
        get_task(NAME, control="nope").prepare(syn)
    no_column = syn.copy()
    del no_column.obs["condition"]
    with pytest.raises(InputError, match="condition_key"):
        prepared(no_column)
    with pytest.raises(InputError, match="control"):       # unregistered dataset, no control
        get_task(NAME).prepare(syn)
    with pytest.raises(InputError, match="conditions: Z"):
        prepared(syn, conditions=["Z"])
    with pytest.raises(InputError, match="prepare"):
        get_task(NAME, control="ctrl").run(np.zeros(syn.shape))
    task = prepared(syn)
    frame = pd.DataFrame(baseline_observed(syn), index=syn.obs_names, columns=syn.var_names)
    target = task.truth_.query("is_target").gene.iloc[0]
    cell = task.matched_controls_["A"][0]
    for bad, pattern in [
        (frame.drop(columns=[target]), f"target genes are missing, e.g. .*{target}"),
        (frame.drop(index=task.matched_controls_["E"][:2]), "evaluated cells are missing"),
        (frame.to_numpy()[:, :10], "dataset's shape"),
        (-frame, "negative values"),
        (frame.mask((frame.index == cell)[:, None] & (frame.columns == target)[None, :]),
         "NaN"),
    ]:
        with pytest.raises(InputError, match=pattern) as info:
            task.run(bad)
        assert "\n" not in str(info.value)
    with pytest.raises(InputError, match="target_fraction"):
        get_task(NAME, target_fraction=0)
    with pytest.raises(InputError, match="^target_rule: expected 'reference' or 'min5'"):
        get_task(NAME, target_rule="max5")
    with pytest.raises(InputError, match="no condition passes the filters"):
        prepared(syn, conditions=["B"])                   # 8 DE genes: 4 targets < 5
    with pytest.raises(InputError, match="^seed: the seed belongs to the run"):
        get_task(NAME, control="ctrl", seed=3)


def test_baselines_on_synthetic(syn):
    task = prepared(syn)
    means = {name: task.run(f(syn, control="ctrl"))[-2].value for name, f in BASELINES.items()}
    assert means["no_change"] == 0.0
    assert means["observed"] > 0.5
    no_change = baseline_no_change(syn, control="ctrl")
    assert np.allclose(no_change, no_change[0])
    mean_effect = baseline_mean_effect(syn, control="ctrl", exclude_conditions=["D"])
    ctrl = no_change[0]
    norm = baseline_observed(syn)
    labels = syn.obs.condition.to_numpy()
    log_effect = {c: np.log((norm[labels == c].mean(0) + 1e-8) / (ctrl + 1e-8))
                  for c in "ABCE"}
    expected_a = ctrl * np.exp((log_effect["B"] + log_effect["C"] + log_effect["E"]) / 3)
    np.testing.assert_allclose(mean_effect[labels == "A"][0], expected_a, rtol=1e-10)
    np.testing.assert_allclose(mean_effect[labels == "D"][0], ctrl)


# -- the shipped dataset -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def real():
    import czbench.datasets as datasets

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        adata = datasets.load(REAL)
    task = get_task(NAME)                          # control/exclusions from the registry
    task.check_inputs(adata.obs, adata.n_obs)
    bound = Prepared(task, adata, 42)
    return adata, bound


@pytest.fixture(scope="module")
def real_de(real):
    """The DE step of ``real`` (the table its targets were drawn from): the task's in-process
    cache entry when still there, else computed again with the same settings."""
    adata, task = real
    cached = pert._DE_CACHE.get(task.state.truth_key)
    return cached or differential_expression(adata, condition_key="condition",
                                             control="non-targeting",
                                             exclude_conditions=("ambiguous",))


def test_de_matches_scanpy_on_real_condition(real):
    import scanpy as sc

    adata, task = real
    reference = ad.AnnData(X=adata.X.astype(np.float64), obs=adata.obs[["condition"]].copy(),
                           var=pd.DataFrame(index=adata.var_names))
    sc.pp.normalize_total(reference)
    sc.pp.log1p(reference)
    sc.tl.rank_genes_groups(reference, "condition", groups=["STAT1"],
                            reference="non-targeting", method="wilcoxon")
    frame = sc.get.rank_genes_groups_df(reference, "STAT1")
    frame = frame[(frame.pvals_adj < 1e-4) & (frame.logfoldchanges.abs() >= 1)]
    ours = task.truth_.query("condition == 'STAT1'").set_index("gene")
    assert set(ours.index) == set(frame.names)
    np.testing.assert_allclose(ours.loc[frame.names, "logfoldchange"],
                               frame.logfoldchanges, atol=1e-6)
    np.testing.assert_allclose(ours.loc[frame.names, "pval_adj"], frame.pvals_adj, rtol=1e-6)


def test_real_dataset_scores_stat1_alone_with_the_reference_targets(real, real_de,
                                                                    legacy_numpy):
    """THP-1, seed 42: with the reference rule only STAT1 (10 DE genes -> 5 targets) is scored;
    IFNGR1, IFNGR2 and JAK2 (9 DE genes -> 4) are not, while the "min5" rule scores all four.
    STAT1's targets are the legacy numpy draw from the same DE table, gene for gene."""
    adata, task = real
    assert task.evaluated_ == ["STAT1"]
    expected = reference_targets(de_table(real_de), 42)
    assert list(expected) == ["STAT1"]
    assert task.truth(42)["conditions"]["STAT1"]["targets"] == expected["STAT1"]
    assert task.skipped_["JAK2"] == "9 DE genes give int(0.5 x 9) = 4 targets < min_de_genes=5"
    loose = draw_truth(real_de, seed=42, target_rule="min5")
    assert list(loose["conditions"]) == ["IFNGR1", "IFNGR2", "JAK2", "STAT1"]


def test_real_dataset_baseline_order(real):
    adata, task = real
    assert "ambiguous" not in task.evaluated_ + list(task.skipped_)
    assert len(task.evaluated_) + len(task.skipped_) == 25
    means = {}
    for name, baseline in BASELINES.items():
        prediction = baseline(adata)
        assert prediction.shape == adata.shape
        run = task.evaluate(prediction, adata.obs)
        assert run.resolved["control"] == "non-targeting"
        assert run.resolved["exclude_conditions"] == ["ambiguous"]
        assert run.resolved["evaluated"] == task.evaluated_
        assert run.resolved["skipped"] == task.skipped_
        assert run.resolved["difference_conditions"] == []
        results = run.results
        assert len(results) == len(task.evaluated_) + 2
        means[name] = results[-2].value
    assert means["observed"] > means["mean_effect"] >= means["no_change"]


def test_benchmark_defaults_to_the_task_expression_baselines(real):
    """Regression: a run of the perturbation dataset with no inputs named scores the task's own
    expression baselines, recorded as expression inputs (and, for the dataset's registered
    replicate-retrieval task, the PCA embedding); an embedding given to the perturbation task
    alone is a one-line error before any work."""
    import czbench

    adata, task = real
    result = czbench.benchmark(REAL)
    frame = result.to_frame()
    baselines = ["baseline:observed", "baseline:mean_effect", "baseline:no_change"]
    assert list(frame["embedding"].unique()) == ["baseline:pca", *baselines]
    assert set(frame["task"]) == {NAME, "replicate_retrieval"}
    assert set(frame[frame["task"] == "replicate_retrieval"]["embedding"]) == {"baseline:pca"}
    frame = frame[frame["task"] == NAME]
    assert len(frame) == 3 * (len(task.evaluated_) + 2)
    entries = result.document["embeddings"][1:]
    assert result.document["embeddings"][0]["kind"] == "embedding"
    assert [e["source"] for e in entries] == baselines
    for entry in entries:
        assert entry["kind"] == "expression"
        assert entry["resolved"][NAME]["control"] == "non-targeting"
        assert entry["resolved"][NAME]["evaluated"] == task.evaluated_
    # the same numbers as the task run by hand with the default seed (42, as in ``real``)
    means = frame[frame["metric"] == "mean_spearman_correlation"].set_index("embedding")["value"]
    for name in ("observed", "mean_effect", "no_change"):
        by_hand = task.run(BASELINES[name](adata), adata.obs)
        assert means[f"baseline:{name}"] == by_hand[-2].value
    with pytest.raises(InputError, match=r"baseline:pca is an embedding.*"
                                         r"perturbation_expression_prediction takes "
                                         r"expressions") as info:
        czbench.benchmark(REAL, ["baseline:pca"], [NAME])
    assert "\n" not in str(info.value)


# -- the estimator and the callback: same numbers as the task ----------------------------------
def _observed_truth_setup():
    import czbench.datasets as ds

    adata = ds.load("thp1_crispr_papalexi_lowmoi_sceptre")
    return adata


def test_estimator_fit_learns_truth_and_score_matches_the_task():
    from sklearn.base import clone

    from czbench.estimators import PerturbationExpressionPredictionBenchmark

    adata = _observed_truth_setup()
    keep = ~adata.obs["condition"].isin(["ambiguous"]).to_numpy()
    counts, labels = adata.X[keep], adata.obs["condition"].to_numpy()[keep]
    est = PerturbationExpressionPredictionBenchmark(control="non-targeting", random_state=0)
    assert est.fit(counts, labels) is est
    assert est.evaluated_ and all(c != "non-targeting" for c in est.evaluated_)
    observed = normalize_counts(counts)
    sub = adata[keep].copy()
    task = Prepared(get_task(NAME), sub, 0)
    expected = {r.metric: r.value for r in task.run(normalize_counts(sub.X)) if not r.params}
    assert est.score(observed) == pytest.approx(expected["mean_spearman_correlation"], abs=1e-12)
    no_change = np.tile(np.asarray(observed[labels == "non-targeting"].mean(axis=0)),
                        (observed.shape[0], 1))
    assert est.score(no_change) == 0.0
    assert clone(est).get_params() == est.get_params()
    with pytest.raises(InputError, match="same cells"):
        est.score(observed[:10])
    with pytest.raises(InputError, match="control"):
        PerturbationExpressionPredictionBenchmark().fit(counts, labels)


def test_callback_refuses_the_task_and_benchmark_scores_predictions_of_every_cell():
    """The Lightning callback scores embeddings only: the perturbation task is refused when the
    callback is built (one line, pointing at ``benchmark(..., predictions=...)``); that front
    door scores a prediction of every cell with the task's numbers."""
    import czbench
    from czbench.callbacks import BenchmarkCallback

    with pytest.raises(InputError, match=r"BenchmarkCallback scores embeddings.*"
                                         r"perturbation_expression_prediction.*"
                                         r"predictions=") as info:
        BenchmarkCallback([NAME], embedding_fn=lambda m, b: b["x"], seed=0)
    assert "\n" not in str(info.value)

    adata = _observed_truth_setup()
    prediction = adata.X.astype(np.float32)
    result = czbench.benchmark(adata, tasks=[NAME], predictions={"counts": prediction}, seed=0)
    assert [e["kind"] for e in result.document["embeddings"]] == ["expression"]
    expected = Prepared(get_task(NAME), adata, 0).run(prediction)
    got = {(r.metric, tuple(r.params.items())): r.value for r in result.results}
    assert len(got) == len(expected)
    for r in expected:
        assert got[(r.metric, tuple(r.params.items()))] == pytest.approx(r.value, abs=1e-9)
