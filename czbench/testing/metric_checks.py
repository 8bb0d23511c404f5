"""``check_metric``: the contract of a registered metric (:class:`~czbench.metrics.MetricInfo`).

Checks, each reported by name: ``fields``, ``finite_value``, ``deterministic``,
``rewards_structure`` (perfect beats shuffled) or ``rewards_mixing`` (batch-mixed beats
batch-separated), ``input_errors`` and ``picklable``.
"""

from __future__ import annotations

import inspect
import math
import pickle
from typing import Any

import numpy as np

from czbench.errors import InputError
from czbench.metrics.registry import METRIC_INPUTS, MetricInfo, compute, get_metric, metric_function
from czbench.testing.data import batch_separated, metric_data, shuffled
from czbench.testing.report import Checks, ConformanceReport, Failed, one_line


def better(a: float, b: float, higher_is_better: bool) -> bool:
    """``a`` is strictly better than ``b``."""
    return a > b if higher_is_better else a < b


def _inputs(data: dict[str, np.ndarray], embedding: np.ndarray) -> dict[str, Any]:
    return {"embedding": embedding, "labels": data["labels"], "batch": data["batch"],
            "time": data["time"]}


def _value(info: MetricInfo, inputs: dict[str, Any], seed: int) -> float:
    return compute(info, inputs["embedding"], labels=inputs["labels"], batch=inputs["batch"],
                   time=inputs["time"], seed=seed)


def _check_fields(info: MetricInfo) -> None:
    problems = []
    if not isinstance(info.description, str) or not info.description.strip():
        problems.append("description is empty")
    for flag in ("higher_is_better", "rewards_structure", "seeded"):
        if not isinstance(getattr(info, flag), bool):
            problems.append(f"{flag} is {getattr(info, flag)!r}, not a bool")
    if "knn" not in info.inputs and info.k is not None:
        problems.append(f"k={info.k} but 'knn' is not an input")
    unknown = [i for i in info.inputs if i not in METRIC_INPUTS]
    if unknown:
        problems.append(f"unknown inputs {unknown}")
    function = metric_function(info)
    if not callable(function):
        problems.append(f"function is a {type(function).__name__}, not callable")
    elif info.seeded:
        try:
            params = inspect.signature(function).parameters
        except (TypeError, ValueError):
            params = {}
        if params and "seed" not in params and \
                not any(p.kind is p.VAR_KEYWORD for p in params.values()):
            problems.append("seeded=True but the function takes no 'seed' argument")
    if problems:
        raise Failed("; ".join(problems))


def _check_finite(info: MetricInfo, inputs: dict[str, Any], seed: int) -> float:
    value = _value(info, inputs, seed)
    if not isinstance(value, float) or not math.isfinite(value):
        raise Failed(f"returned {value!r} on well-formed inputs")
    return value


def _check_deterministic(info: MetricInfo, inputs: dict[str, Any], seed: int,
                         first: float) -> None:
    values = [first, _value(info, inputs, seed), _value(info, inputs, seed)]
    if not all(v == values[0] for v in values):
        raise Failed(f"three calls with seed={seed} gave {values}")


def _check_structure(info: MetricInfo, data: dict[str, np.ndarray], seed: int,
                     perfect_value: float) -> None:
    shuffled_value = _value(info, _inputs(data, shuffled(data["perfect"], seed)), seed)
    if not better(perfect_value, shuffled_value, info.higher_is_better):
        direction = "higher" if info.higher_is_better else "lower"
        raise Failed(f"an embedding with a cluster per label scored {perfect_value:.4g}, the "
                     f"same rows shuffled {shuffled_value:.4g} ({direction} is better)")


def _check_mixing(info: MetricInfo, data: dict[str, np.ndarray], seed: int,
                  mixed_value: float) -> None:
    if "batch" not in info.inputs:
        raise Failed("rewards_structure=False, yet the metric reads no batch: no input is "
                     "known to score better, so nothing checks its direction (declare "
                     "rewards_structure=True if it rewards the labels or time)")
    separated = batch_separated(data["perfect"], data["batch"], seed)
    separated_value = _value(info, _inputs(data, separated), seed)
    if not better(mixed_value, separated_value, info.higher_is_better):
        direction = "higher" if info.higher_is_better else "lower"
        raise Failed(f"a batch-mixed embedding scored {mixed_value:.4g}, the same embedding "
                     f"with batches pulled apart {separated_value:.4g} ({direction} is better)")


def _check_input_errors(info: MetricInfo, inputs: dict[str, Any], seed: int) -> None:
    problems = []
    n = inputs["embedding"].shape[0]
    roles = [r for r in info.inputs if r != "knn"]
    if "knn" in info.inputs and "embedding" not in roles:
        roles.insert(0, "embedding")
    for role in roles:
        missing = {**inputs, role: None}
        cut = {**inputs, role: inputs[role][: n - 1]}
        for case, given in ((f"missing {role}", missing), (f"{role} with {n - 1} of {n} rows",
                                                            cut)):
            try:
                _value(info, given, seed)
            except InputError as err:
                if "\n" in str(err).strip():
                    problems.append(f"{case}: the InputError has several lines")
            except Exception as err:  # noqa: BLE001 - the wrong error type is the finding
                problems.append(f"{case}: raised {type(err).__name__}: {one_line(err, 120)}")
            else:
                problems.append(f"{case}: no error")
    if problems:
        raise Failed("; ".join(problems))


def _not_a_metric(obj: Any) -> None:
    raise Failed(f"expected a czbench.metrics.MetricInfo, got {type(obj).__name__}")


def _check_pickle(info: MetricInfo, inputs: dict[str, Any], seed: int,
                  first: float | None) -> None:
    copy = pickle.loads(pickle.dumps(info))
    if copy != info:
        raise Failed("the unpickled MetricInfo differs from the original")
    if first is None:  # no value to compare (not finite, or not deterministic)
        return
    again = _value(copy, inputs, seed)
    if again != first:
        raise Failed(f"the unpickled metric gave {again!r}, the original {first!r}")


def check_metric(metric: str | MetricInfo, *, seed: int = 0,
                 raise_on_failure: bool = True) -> ConformanceReport:
    """Check a metric against czbench's contract on deterministic synthetic data (300 cells,
    5 labels, 3 batches at random, a numeric time); raises :class:`ConformanceError` listing
    every failed check (or, with ``raise_on_failure=False``, returns the report)."""
    info = get_metric(metric) if isinstance(metric, str) else metric
    checks = Checks("metric", getattr(info, "name", repr(info)))
    if not isinstance(info, MetricInfo):
        checks.run("fields", lambda: _not_a_metric(info),
                   "describe the metric with czbench.metrics.MetricInfo")
        return checks.finish(raise_on_failure)
    data = metric_data(seed)
    perfect = _inputs(data, data["perfect"])
    checks.run("fields", lambda: _check_fields(info),
               "give a description, bool flags, k only with 'knn', a callable function "
               "(module level) taking seed= when seeded")
    first = checks.run("finite_value", lambda: _check_finite(info, perfect, seed),
                       "return one finite float (a Python or numpy number) for valid inputs")
    checks.run("deterministic", lambda: _check_deterministic(info, perfect, seed, first),
               "take every random choice from the seed argument (declare seeded=True)",
               needs=("finite_value",))
    if info.rewards_structure:
        checks.run("rewards_structure", lambda: _check_structure(info, data, seed, first),
                   "make the metric reward embeddings that reflect the labels or time, or "
                   "declare rewards_structure=False (batch mixing, counts)",
                   needs=("finite_value",))
    else:
        checks.run("rewards_mixing", lambda: _check_mixing(info, data, seed, first),
                   "a batch-mixing metric must score mixed batches better than separated "
                   "ones; check its direction (higher_is_better) and rewards_structure",
                   needs=("finite_value",))
    checks.run("input_errors", lambda: _check_input_errors(info, perfect, seed),
               "validate inputs (czbench.metrics.compute does) and raise a one-line "
               "czbench.errors.InputError naming the input")
    comparable = first if "deterministic" in checks.report.passed else None
    checks.run("picklable", lambda: _check_pickle(info, perfect, seed, comparable),
               "use a module-level function (or a 'module:attr' string), no lambda or "
               "closure, so the metric pickles for Dask workers")
    return checks.finish(raise_on_failure)
