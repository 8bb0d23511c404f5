"""The conformance kit (czbench.testing): every built-in asset passes its contract, and
deliberately broken assets fail with the failing checks named (every one, not just the first)."""

from __future__ import annotations

import random
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

import czbench.datasets as ds
from czbench.context import RunContext
from czbench.datasets.catalog import BUILTIN_DATASETS
from czbench.errors import InputError
from czbench.metrics import MetricInfo, get_metric, list_metrics, silhouette_score
from czbench.models import list_models
from czbench.models.base import Model
from czbench.tasks import get_task
from czbench.tasks.base import MetricResult, MetricSpec, Task, TaskRun
from czbench.tasks.perturbation.baselines import baseline_observed
from czbench.testing import (
    ConformanceError,
    ConformanceReport,
    check_dataset,
    check_metric,
    check_model,
    check_task,
    example_data,
)
from czbench.utils.sampling import stratified_subset

TASK_CHECKS = ["declarations", "clone", "prepare", "results", "leaves_inputs_alone",
               "deterministic",
               "rewards_structure", "rewards_mixing", "missing_columns", "picklable",
               "lightning_callback"]
@pytest.fixture(scope="module")
def example():
    return example_data(0)


def _assert_passes(report: ConformanceReport, expected: list[str]) -> None:
    assert report.ok, str(report)
    assert sorted([*report.passed, *report.skipped]) == sorted(expected)
    assert all(reason.strip() for reason in report.skipped.values())


# -- the synthetic data ------------------------------------------------------------------------
def test_example_data_is_deterministic_and_has_what_the_tasks_read(example):
    assert example.shape == (300, 200)
    assert {"cell_type", "batch", "time", "condition"} <= set(example.obs.columns)
    assert example.obs["time"].dtype.kind == "f"
    assert example.obs["cell_type"].nunique() == 5 and example.obs["batch"].nunique() == 3
    sizes = example.obs["condition"].value_counts()
    assert sizes["DMSO"] == 252 and len(sizes) == 9 and (sizes.drop("DMSO") == 6).all()
    counts = example.X.toarray()
    assert (counts >= 0).all() and (counts == np.round(counts)).all()
    again = example_data(0)
    assert (again.X != example.X).nnz == 0
    pd.testing.assert_frame_equal(again.obs, example.obs)
    assert (example_data(1).X != example.X).nnz > 0


# -- every built-in asset passes ---------------------------------------------------------------
@pytest.mark.parametrize("metric", list_metrics())
def test_every_registered_metric_passes(metric):
    report = check_metric(metric)
    structure = "rewards_structure" if get_metric(metric).rewards_structure else \
        "rewards_mixing"
    assert report.passed == ["fields", "finite_value", "deterministic", structure,
                             "input_errors", "picklable"], str(report)


@pytest.mark.parametrize(("task", "options"), [
    ("clustering", {}),
    ("embedding", {}),
    ("label_prediction", {}),
    ("batch_integration", {}),
    ("sequential_organization", {}),
    ("replicate_retrieval", {"perturbation_key": "condition", "control": "DMSO"}),
], ids=["clustering", "embedding", "label_prediction", "batch_integration",
        "sequential_organization", "replicate_retrieval"])
def test_builtin_embedding_tasks_pass_on_the_example_data(example, task, options):
    report = check_task(get_task(task, **options), example)
    _assert_passes(report, TASK_CHECKS)
    assert {"results", "deterministic", "rewards_structure", "lightning_callback"} <= \
        set(report.passed)


def test_batch_integration_scores_pcr_comparison_through_the_callback(example):
    """The kit's finding on a built-in: the callback scored cells under fresh row numbers, so
    batch_integration could not match them to its prepared unintegrated PCA and left
    pcr_comparison out of every callback run; it now names them as the dataset does."""
    report = check_task("batch_integration", example)
    assert {"rewards_structure", "rewards_mixing", "lightning_callback"} <= set(report.passed)


@pytest.fixture(scope="module")
def pancreas():
    adata = ds.load("pancreas_baron_human_mouse")
    strata = (adata.obs["species"].astype(str) + "/" + adata.obs["cell_type"].astype(str))
    keep = np.sort(stratified_subset(pd.factorize(strata)[0], 600, 0))
    return adata[keep].copy()


def test_cross_species_integration_passes(pancreas):
    report = check_task("cross_species_integration", pancreas)
    _assert_passes(report, TASK_CHECKS)
    assert "rewards_mixing" in report.passed  # species mixed beats species pulled apart
    assert "rewards_structure=True" in report.skipped["rewards_structure"]


def test_cross_species_label_prediction_passes(pancreas):
    task = get_task("cross_species_label_prediction", classifiers=("knn",))
    report = check_task(task, pancreas)
    _assert_passes(report, TASK_CHECKS)
    assert "rewards_structure" in report.passed


@pytest.fixture(scope="module")
def screen():
    """Controls and three knockouts with effects (STAT1, IFNGR1, JAK2) of the THP-1 screen."""
    adata = ds.load("thp1_crispr_papalexi_lowmoi_sceptre")
    rng = np.random.default_rng(0)
    labels = adata.obs["condition"].astype(str).to_numpy()
    rows = [rng.choice(np.flatnonzero(labels == c), n, replace=False)
            for c, n in (("non-targeting", 600), ("IFNGR1", 250), ("STAT1", 250),
                         ("JAK2", 250))]
    return adata[np.sort(np.concatenate(rows))].copy()


def test_perturbation_task_passes_with_the_observed_expression_as_perfect(screen):
    # min_logfc=0.5: at the default 1.0 no condition of this subset has 10 DE genes
    task = get_task("perturbation_expression_prediction", min_logfc=0.5)
    report = check_task(task, screen, perfect=baseline_observed(screen))
    _assert_passes(report, TASK_CHECKS)
    assert "rewards_structure" in report.passed
    assert "embeddings" in report.skipped["lightning_callback"]
    without = check_task(task, screen)
    assert without.ok and "perfect=" in without.skipped["rewards_structure"]


@pytest.mark.parametrize("dataset", [info.name for info in BUILTIN_DATASETS])
def test_every_shipped_dataset_passes(dataset):
    report = check_dataset(dataset)
    checks = ["fields", "file", "loads", "shape", "columns", "default_tasks", "picklable",
              "provenance_page"]
    _assert_passes(report, checks)
    if dataset != "pbmc68k_reduced":  # its file is scanpy's: no page beside it
        assert report.passed == checks


def test_a_dataset_info_is_checked_from_its_file_and_broken_fields_are_named():
    info = replace(ds.get_info("lung_celllines_mixology"), name="lung_copy")
    report = check_dataset(info)  # not registered: read from its file with its columns
    assert report.skipped == {} and "provenance_page" in report.passed  # its .md is there
    broken = replace(info, licence="", sha256="abc", n_cells=5, tasks=("no_such_task",))
    report = check_dataset(broken, raise_on_failure=False)
    assert list(report.failed) == ["fields", "file", "shape", "default_tasks"]
    assert "licence is empty" in report.failed["fields"]
    assert "sha256 'abc'" in report.failed["fields"]
    assert "no_such_task" in report.failed["fields"]
    assert "the registry says abc" in report.failed["file"]
    assert "(1021, 3000)" in report.failed["shape"]
    assert "no_such_task: InputError" in report.failed["default_tasks"]
    assert report.skipped == {}


MODEL_CHECKS = ["identity", "output", "deterministic", "picklable", "global_random_state"]


def test_a_plugin_dataset_is_held_to_its_sha256_and_needs_a_provenance_page(tmp_path):
    """A dataset in another package ("pkg:path") is strict unless it is a built-in entry for
    a third party's file (scanpy's pbmc68k_reduced)."""
    import shutil

    source = ds.get_info("lung_celllines_mixology")
    shutil.copy(source.path(), tmp_path / "copy.h5ad")
    info = replace(source, name="lung_copy", file=str(tmp_path / "copy.h5ad"))
    report = check_dataset(replace(info, sha256="0" * 64), raise_on_failure=False)
    assert "file" in report.failed and "provenance_page" in report.failed
    assert "copy.md is missing" in report.failed["provenance_page"]
    assert check_dataset("pbmc68k_reduced").skipped["provenance_page"].startswith(
        "the file is shipped by another package")


@pytest.mark.parametrize("model", ["harmony", "combat", "scanorama"])
def test_builtin_models_pass(model):
    assert model in list_models()
    report = check_model(model)
    assert report.passed == MODEL_CHECKS, str(report)


@pytest.mark.slow
def test_scvi_passes_with_the_smallest_training():
    from czbench.models import get_model

    model = get_model("scvi", max_epochs=1, n_hidden=8, n_latent=2)
    assert check_model(model).passed == MODEL_CHECKS


# -- broken tasks fail with the check named ----------------------------------------------------
class _Silhouette(Task):
    """A correct task: the silhouette of the cell types."""

    name = "toy_silhouette"
    description = "Cell-type silhouette (a correct toy task)"
    metrics = (MetricSpec("score", "Cell-type silhouette, (asw + 1) / 2"),)

    def _value(self, values, obs, context):
        return silhouette_score(values, obs[self.label_key].astype(str).to_numpy())

    def _run(self, values, obs, knn, context: RunContext) -> TaskRun:
        return self._output([self._result("score", self._value(values, obs, context))])


class _Unseeded(_Silhouette):
    name = "toy_unseeded"

    def _value(self, values, obs, context):
        return super()._value(values, obs, context) + np.random.default_rng().uniform(0, 1e-3)


class _Undeclared(_Silhouette):
    name = "toy_undeclared"

    def _run(self, values, obs, knn, context):
        return TaskRun(self.name, [MetricResult(self.name, "score", float("nan")),
                                   MetricResult(self.name, "not_declared", 0.5)])


class _NoInputChecks(_Silhouette):
    name = "toy_keyerror"

    def check_inputs(self, obs, n_cells=None):  # skips the base class's validation
        return None


class _Constant(_Silhouette):
    name = "toy_constant"

    def _value(self, values, obs, context):
        return 0.5


class _HoldsLambda(_Silhouette):
    name = "toy_lambda"

    def __init__(self, *, label_key: str = "cell_type") -> None:
        super().__init__(label_key=label_key)
        self.transform = lambda x: x


class _BadState(_Silhouette):
    name = "toy_bad_state"

    def __getstate__(self):
        raise RuntimeError("cannot ship this task\nsecond line of the message")


class _WritesObs(_Silhouette):
    name = "toy_writes_obs"

    def _value(self, values, obs, context):
        obs[self.label_key] = obs[self.label_key].iloc[::-1].to_numpy()  # a plugin's bug
        return super()._value(values, obs, context)


class _WritesValues(_Silhouette):
    name = "toy_writes_values"

    def _value(self, values, obs, context):
        values -= values.mean(axis=0)  # centring in place
        return super()._value(values, obs, context)


@pytest.mark.parametrize(("task", "failing", "words"), [
    (_WritesObs, "leaves_inputs_alone", "wrote to obs"),
    (_WritesValues, "leaves_inputs_alone", "wrote to its input values"),
    (_Unseeded, "deterministic", "two runs with seed=0 differ"),
    (_Undeclared, "results", "undeclared metric 'not_declared'"),
    (_NoInputChecks, "missing_columns", "KeyError"),
    (_Constant, "rewards_structure", "0.5 vs 0.5"),
    (_HoldsLambda, "picklable", "lambda"),
], ids=["writes-obs", "writes-values", "unseeded", "undeclared-or-nan", "keyerror", "constant",
        "lambda"])
def test_broken_tasks_fail_with_the_check_named(example, task, failing, words):
    report = check_task(task, example, raise_on_failure=False)
    assert failing in report.failed, str(report)
    assert words in report.failed[failing]
    assert "; fix: " in report.failed[failing]
    with pytest.raises(ConformanceError) as info:
        check_task(task(), example)
    lines = str(info.value).splitlines()
    assert lines[0].startswith(f"task '{task.name}': ")
    assert f"- {failing}: " in str(info.value)
    assert [line.split(":")[0] for line in lines[1:]] == [f"- {c}" for c in report.failed]
    assert all("; fix: " in line for line in lines[1:])
    assert list(info.value.report.failed) == list(report.failed)


def test_the_broken_tasks_pass_everything_else(example):
    report = check_task(_Silhouette, example, raise_on_failure=False)
    _assert_passes(report, TASK_CHECKS)
    undeclared = check_task(_Undeclared, example, raise_on_failure=False)
    assert "nan" in undeclared.failed["results"]
    constant = check_task(_Constant, example, raise_on_failure=False)
    assert list(constant.failed) == ["rewards_structure"]


def test_every_failure_is_reported_and_an_unexpected_error_is_one_line(example):
    class _SeveralBugs(_NoInputChecks, _HoldsLambda, _Constant):
        name = "toy_several"

    report = check_task(_SeveralBugs, example, raise_on_failure=False)
    assert {"missing_columns", "picklable", "rewards_structure"} <= set(report.failed)
    assert "clone" in report.passed and "results" in report.passed
    bad_state = check_task(_BadState, example, raise_on_failure=False)
    assert list(bad_state.failed) == ["picklable"]
    assert bad_state.failed["picklable"].startswith("RuntimeError: cannot ship this task; fix:")
    assert "second line" not in bad_state.failed["picklable"]


# -- a broken metric and broken models ---------------------------------------------------------
def returns_a_tuple(embedding, labels):
    return (0.1, 0.2)


def unseeded_random(embedding, labels):
    return float(np.random.default_rng().random())


@pytest.mark.parametrize(("function", "failing", "words"), [
    (returns_a_tuple, "finite_value", "returned tuple"),
    (unseeded_random, "deterministic", "three calls with seed=0 gave"),
])
def test_broken_metrics_fail_with_the_check_named(function, failing, words):
    info = MetricInfo(function.__name__, function, ("embedding", "labels"), "A broken metric")
    report = check_metric(info, raise_on_failure=False)
    assert failing in report.failed and words in report.failed[failing], str(report)
    assert {"fields", "input_errors", "picklable"} <= set(report.passed)
    assert set(report.failed) <= {failing, "rewards_structure"}
    with pytest.raises(ConformanceError, match=f"- {failing}: "):
        check_metric(info)


def test_a_metric_that_cannot_pickle_fails_picklable():
    info = MetricInfo("local", lambda e, labels: 0.5 + 0.0 * float(e[0, 0]),
                      ("embedding", "labels"), "A lambda", rewards_structure=False)
    report = check_metric(info, raise_on_failure=False)
    assert list(report.failed) == ["rewards_mixing", "picklable"]
    # a constant declared rewards_structure=False reads no batch: nothing vouches for it
    assert "reads no batch" in report.failed["rewards_mixing"]


class _Rows(Model):
    """A toy model: the first ``dims`` columns of X (or a broken variant)."""

    name = "toy_rows"
    seeded = True

    def __init__(self, dims: int = 4, bug: str | None = None) -> None:
        self.dims = dims
        self.bug = bug

    def _embed(self, adata, seed):
        x = np.asarray(adata.X[:, : self.dims].toarray(), dtype=np.float32)
        if self.bug == "rows":
            return x[:-1]
        if self.bug == "global_rng":
            np.random.seed(seed)  # noqa: NPY002 - the bug under test
        if self.bug == "unseeded":
            return x + np.random.default_rng().normal(size=x.shape).astype(np.float32)
        return x + np.random.default_rng(seed).normal(size=x.shape).astype(np.float32)


@pytest.mark.parametrize(("bug", "failing", "words"), [
    ("rows", "output", "rows but the dataset has 300 cells"),
    ("global_rng", "global_random_state", "numpy.random"),
    ("unseeded", "deterministic", "two calls with seed=0 differ"),
])
def test_broken_models_fail_with_the_check_named(example, bug, failing, words):
    state = random.getstate(), np.random.get_state()  # noqa: NPY002
    report = check_model(_Rows(bug=bug), example, raise_on_failure=False)
    with pytest.raises(ConformanceError, match=f"- {failing}: "):
        check_model(_Rows(bug=bug), example)
    # the kit puts the global generators back, whatever the model did
    assert random.getstate() == state[0]
    assert np.array_equal(np.random.get_state()[1], state[1][1])  # noqa: NPY002
    assert list(report.failed) == [failing], str(report)
    assert words in report.failed[failing]
    if bug == "rows":
        assert "deterministic" in report.skipped
    assert check_model(_Rows(), example).passed == MODEL_CHECKS


def test_unknown_assets_are_input_errors():
    with pytest.raises(InputError):
        check_task("no_such_task")
    with pytest.raises(InputError):
        check_dataset("no_such_dataset")
