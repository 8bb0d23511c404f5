"""``check_task``: the contract of a task (:class:`~czbench.tasks.Task`).

Checks, each reported by name: ``declarations``, ``clone``, ``prepare``, ``results``,
``deterministic``, ``rewards_structure``, ``rewards_mixing``, ``missing_columns``,
``picklable`` and ``lightning_callback``. Inputs: a "perfect" embedding that clusters the cells
by the task's first column option (a cluster per category; a numeric column ordered along an
axis), the same rows shuffled, and the perfect embedding with a large offset per batch.
"""

from __future__ import annotations

import math
import pickle
from typing import Any

import numpy as np
import pandas as pd

from czbench.context import RunContext
from czbench.errors import InputError
from czbench.tasks import get_task
from czbench.tasks.base import MetricResult, Task
from czbench.testing.data import batch_separated, example_data, is_numeric, perfect_embedding
from czbench.testing.data import shuffled as shuffle_rows
from czbench.testing.metric_checks import better
from czbench.testing.report import Checks, ConformanceReport, Failed, Skipped, one_line
from czbench.testing.task_contract import as_dicts, check_clone, check_declarations, difference, key

#: options naming the groups a batch-mixing metric wants mixed (beside a task's mixing_option)
MIXING_OPTIONS = ("batch_key", "species_key")
#: relative tolerance between the callback's values and the task's own
CALLBACK_RTOL = 1e-6


def structure_column(task: Task) -> str | None:
    """The obs column the task scores against: its first column option that is set."""
    for option in task.column_options:
        value = getattr(task, option, None)
        if isinstance(value, str):
            return value
    return None


def mixing_column(task: Task) -> str | None:
    """The obs column whose groups the task's batch-mixing metrics want mixed, if any."""
    options = [getattr(task, "mixing_option", None), *MIXING_OPTIONS]
    first = structure_column(task)
    for option in options:
        if option in task.option_names():
            value = getattr(task, option, None)
            if isinstance(value, str) and value != first:
                return value
    return None


class TaskChecker:
    """Runs the checks of one task on one dataset, sharing the runs between checks."""

    def __init__(self, task: Task, adata: Any, seed: int, perfect: Any) -> None:
        self.task, self.adata, self.seed = task, adata, seed
        self.context = RunContext(seed=seed, device="cpu")
        self.checks = Checks("task", str(getattr(task, "name", type(task).__name__)))
        self.given_perfect = perfect
        self.prepared: Task | None = None
        #: what the task's ``prepare`` returned for the dataset and seed
        self.state: Any = None
        self.runs: dict[str, list[MetricResult]] = {}
        self.inputs: dict[str, Any] = {}

    # -- inputs and runs -----------------------------------------------------------------------
    @property
    def obs(self) -> pd.DataFrame:
        """The dataset's obs, restricted to the columns the task declares it reads."""
        columns = list(dict.fromkeys(self.task.required_columns))
        return self.adata.obs[[c for c in columns if c in self.adata.obs.columns]]

    def evaluate(self, which: str, task: Task | None = None,
                 obs: pd.DataFrame | None = None) -> list[MetricResult]:
        task = task if task is not None else self.prepared
        assert task is not None
        obs = self.obs if obs is None else obs
        return list(task.evaluate(self.inputs[which], obs, context=self.context,
                                  prepared=self.state).results)

    def build_inputs(self) -> None:
        expression = self.task.input_kind == "expression"
        if expression:
            perfect = self.given_perfect if self.given_perfect is not None else self.adata.X
        elif self.given_perfect is not None:
            perfect = self.given_perfect
        else:
            column = structure_column(self.task)
            if column is None:
                raise InputError("the task declares no obs column to build a perfect "
                                 "embedding from")
            values = self.adata.obs[column]
            numeric = is_numeric(values) and \
                not any(getattr(self.task, o, None) == column for o in self.task.category_options)
            perfect = perfect_embedding(values, self.seed, numeric=numeric)
        self.inputs = {"perfect": perfect, "shuffled": shuffle_rows(perfect, self.seed)}

    # -- checks --------------------------------------------------------------------------------
    def prepare(self) -> None:
        task = self.task.clone()
        task.check_inputs(self.adata.obs, self.adata.n_obs)
        self.state = task.prepare(self.adata, self.context)
        self.prepared = task
        self.build_inputs()

    def results(self) -> None:
        results = self.runs["perfect"] = self.evaluate("perfect")
        declared = {m.name for m in type(self.task).metrics}
        problems = []
        if not results:
            problems.append("no result")
        for r in results:
            if not isinstance(r, MetricResult):
                problems.append(f"returned a {type(r).__name__}, not a MetricResult")
                continue
            if r.task != self.task.name:
                problems.append(f"result names task '{r.task}', not '{self.task.name}'")
            if r.metric not in declared:
                problems.append(f"reports undeclared metric '{r.metric}'")
            if not isinstance(r.value, float) or not math.isfinite(r.value):
                problems.append(f"{r.metric}{r.params or ''} = {r.value!r}")
        if problems:
            raise Failed("; ".join(dict.fromkeys(problems)))

    def leaves_inputs_alone(self) -> None:
        """The task's ``_run`` must not write to the values or obs it is given (a run gives
        it copies; a task that writes would still differ between a run and the callback)."""
        task = self.prepared
        assert task is not None
        original = task._run
        changed: list[str] = []

        def spy(values: Any, obs: pd.DataFrame, knn: Any, context: RunContext,
                **prepared: Any) -> Any:
            obs_before = obs.copy()
            values_before = values.clone() if hasattr(values, "clone") else \
                values.copy() if hasattr(values, "copy") else values
            out = original(values, obs, knn, context, **prepared)
            if not obs.equals(obs_before) or list(obs.columns) != list(obs_before.columns):
                changed.append("obs")
            if not _same_values(values, values_before):
                changed.append("its input values")
            return out

        task._run = spy  # type: ignore[method-assign]
        try:
            self.evaluate("perfect")
        finally:
            del task._run
        if changed:
            raise Failed(f"the task wrote to {' and '.join(dict.fromkeys(changed))}")

    def deterministic(self) -> None:
        first = self.runs["shuffled"] = self.evaluate("shuffled")
        second = self.evaluate("shuffled")
        if as_dicts(first) != as_dicts(second):
            raise Failed(f"two runs with seed={self.seed} differ: {difference(first, second)}")

    def compare(self, better_input: str, worse_input: str, metrics: set[str],
                what: str) -> None:
        good = {key(r): r for r in self.runs[better_input] if r.metric in metrics}
        bad = {key(r): r for r in self.runs[worse_input] if r.metric in metrics}
        shared = [k for k in good if k in bad]
        if not shared:
            raise Skipped(f"the task produced none of {sorted(metrics)} on both inputs")
        problems = [f"{k[0]}{good[k].params or ''}: {good[k].value:.4g} vs {bad[k].value:.4g}"
                    for k in shared
                    if not better(good[k].value, bad[k].value, good[k].higher_is_better)]
        if problems:
            shown = "; ".join(problems[:4]) + (f"; and {len(problems) - 4} more"
                                               if len(problems) > 4 else "")
            raise Failed(f"{what} did not score better: {shown}")

    def rewards_structure(self) -> None:
        metrics = {m.name for m in type(self.task).metrics if m.rewards_structure}
        if not metrics:
            raise Skipped("no metric declares rewards_structure=True")
        if self.task.input_kind == "expression" and self.given_perfect is None:
            raise Skipped("input_kind 'expression': pass perfect= (a prediction matching the "
                          "data, e.g. the observed expression) to compare it with its rows "
                          "shuffled")
        if "shuffled" not in self.runs:  # the determinism check stopped before its first run
            self.runs["shuffled"] = self.evaluate("shuffled")
        self.compare("perfect", "shuffled", metrics,
                     f"an input clustered by '{structure_column(self.task)}' (perfect vs "
                     f"shuffled)")

    def rewards_mixing(self) -> None:
        metrics = {m.name for m in type(self.task).metrics if not m.rewards_structure}
        if not metrics:
            raise Skipped("no metric declares rewards_structure=False")
        if self.task.input_kind != "embedding":
            raise Skipped(f"input_kind '{self.task.input_kind}': no embedding to separate")
        column = mixing_column(self.task)
        if column is None:
            raise Skipped("no batch-like column option (batch_key, species_key, "
                          "mixing_option) to separate an embedding by")
        self.inputs["separated"] = batch_separated(self.inputs["perfect"],
                                                   self.adata.obs[column], self.seed)
        self.runs["separated"] = self.evaluate("separated")
        self.compare("perfect", "separated", metrics,
                     f"a '{column}'-mixed embedding (vs the same pulled apart by '{column}')")

    def missing_columns(self) -> None:
        problems = []
        options = {getattr(self.task, o, None): o for o in self.task.column_options}
        for column in dict.fromkeys(self.task.required_columns):
            option = options.get(column, "required_columns")
            obs = self.obs.drop(columns=[column], errors="ignore")
            try:
                self.evaluate("perfect", obs=obs)
            except InputError as err:
                text = str(err).strip()
                if column not in text and option not in text:
                    problems.append(f"without '{column}': the error names neither '{option}' "
                                    f"nor '{column}': {one_line(text, 120)}")
                elif "\n" in text:
                    problems.append(f"without '{column}': the InputError has several lines")
            except Exception as err:  # noqa: BLE001 - the wrong error type is the finding
                problems.append(f"without '{column}': {type(err).__name__}: "
                                f"{one_line(err, 120)}")
            else:
                problems.append(f"without '{column}': no error")
        if problems:
            raise Failed("; ".join(problems))

    def picklable(self) -> None:
        copy, state = pickle.loads(pickle.dumps((self.prepared, self.state)))
        if repr(copy.options()) != repr(self.task.options()):
            raise Failed(f"options changed: {copy.options()} vs {self.task.options()}")
        if "deterministic" not in self.checks.report.passed:
            return  # values that change from run to run cannot be compared
        again = list(copy.evaluate(self.inputs["perfect"], self.obs, context=self.context,
                                   prepared=state).results)
        if as_dicts(again) != as_dicts(self.runs["perfect"]):
            raise Failed(f"the unpickled task scores differently: "
                         f"{difference(self.runs['perfect'], again)}")

    def lightning_callback(self) -> None:
        if self.task.input_kind != "embedding":
            raise Skipped(f"the callback scores embeddings; this task scores "
                          f"{self.task.input_kind} predictions")
        from czbench.testing.callback_check import callback_results

        logged = callback_results(self.task, self.adata, self.inputs["perfect"], self.seed)
        direct = {key(r): r for r in self.runs["perfect"]}
        through = {key(r): r for r in logged}
        problems = [f"{k[0]}{r.params or ''}: missing through the callback"
                    for k, r in direct.items() if k not in through]
        problems += [f"{k[0]}{r.params or ''}: only through the callback"
                     for k, r in through.items() if k not in direct]
        problems += [f"{k[0]}{r.params or ''}: {through[k].value!r} through the callback vs "
                     f"{r.value!r} directly" for k, r in direct.items()
                     if k in through and not math.isclose(through[k].value, r.value,
                                                          rel_tol=CALLBACK_RTOL, abs_tol=1e-12)]
        if problems:
            raise Failed("; ".join(problems[:5]) + (f"; and {len(problems) - 5} more"
                                                   if len(problems) > 5 else ""))


def _same_values(a: Any, b: Any) -> bool:
    """Whether two inputs (numpy, torch, scipy sparse, DataFrame, AnnData) hold the same
    values; True for kinds it cannot compare."""
    if isinstance(a, pd.DataFrame):
        return a.equals(b)
    if hasattr(a, "obs_names") and hasattr(a, "X"):
        return _same_values(a.X, b.X)
    if hasattr(a, "nnz"):
        return a.shape == b.shape and (a != b).nnz == 0
    if hasattr(a, "clone"):
        return bool(a.shape == b.shape and (a == b).all().item())
    if isinstance(a, np.ndarray):
        return a.shape == b.shape and bool(np.array_equal(a, b, equal_nan=a.dtype.kind == "f"))
    return True


def _instance(task: str | Task | type[Task]) -> Task:
    if isinstance(task, str):
        return get_task(task)
    if isinstance(task, type) and issubclass(task, Task):
        try:
            return task()
        except TypeError as err:
            raise InputError(f"task: {task.__name__}() needs arguments ({err}); pass an "
                             f"instance") from err
    if isinstance(task, Task):
        return task
    raise InputError(f"task: expected a name, a Task subclass or instance, got "
                     f"{type(task).__name__}")


def check_task(task: str | Task | type[Task], adata: Any = None, *, seed: int = 0,
               perfect: Any = None, raise_on_failure: bool = True) -> ConformanceReport:
    """Check a task against czbench's contract on ``adata`` (default: :func:`example_data`),
    prepared as a run prepares it; raises :class:`ConformanceError` listing every failed
    check (or, with ``raise_on_failure=False``, returns the report). ``perfect``: the input
    that matches the data best (default for embedding tasks: a cluster per value of the
    task's first column option); needed to compare an expression task with shuffled rows."""
    instance = _instance(task)
    adata = example_data(seed) if adata is None else adata
    checker = TaskChecker(instance, adata, seed, perfect)
    run = checker.checks.run
    run("declarations", lambda: check_declarations(instance),
        "declare name, description, metrics (MetricSpec, unique names), input_kind and "
        "column_options naming __init__ options")
    run("clone", lambda: check_clone(instance),
        "store every __init__ option under its own name so clone() rebuilds the task")
    run("prepare", checker.prepare,
        "prepare(adata, context) must accept a dataset the task's check_inputs accepts")
    need = ("prepare",)
    run("results", checker.results,
        "report only declared metrics, as finite floats (Task._result), reading only the "
        "obs columns named by column_options", needs=need)
    run("leaves_inputs_alone", checker.leaves_inputs_alone,
        "never write to the values or obs it is given (copy them first)", needs=need)
    run("deterministic", checker.deterministic,
        "take every random choice from the RunContext's seed (context.seed)", needs=need)
    run("rewards_structure", checker.rewards_structure,
        "score structure (labels, time, perturbations) better than the same rows shuffled, "
        "or declare MetricSpec(rewards_structure=False)", needs=("results",))
    run("rewards_mixing", checker.rewards_mixing,
        "score mixed batches better than separated ones, or set the metric's direction "
        "(higher_is_better) and rewards_structure right", needs=("results",))
    run("missing_columns", checker.missing_columns,
        "check obs in check_inputs and raise a one-line czbench.errors.InputError naming "
        "the option or column (the base Task.check_inputs does)", needs=need)
    run("picklable", checker.picklable,
        "hold no lambda, open file or lock, and keep prepared state picklable (Dask ships "
        "tasks to workers)", needs=("results",))
    run("lightning_callback", checker.lightning_callback,
        "read obs only through column_options (the callback gathers just those, the rows "
        "named as in the dataset) and take randomness from the context",
        needs=("results", "deterministic"))
    return checker.checks.finish(raise_on_failure)
