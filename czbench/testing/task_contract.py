"""The static part of the task contract (what a task declares, how it clones) and how two
runs' results are compared."""

from __future__ import annotations

from typing import Any

from czbench.tasks.base import INPUT_KINDS, MetricResult, MetricSpec, Task
from czbench.testing.report import Failed


def _text(value: object) -> bool:
    return isinstance(value, str) and bool(value.strip())


def check_declarations(task: Task) -> None:
    """Name, description, metrics, input kind, column options and options, as declared."""
    cls = type(task)
    problems = []
    if not _text(getattr(cls, "name", None)):
        problems.append("name is not a non-empty string")
    if not _text(getattr(cls, "description", None)):
        problems.append("description is empty")
    metrics = getattr(cls, "metrics", None)
    if not isinstance(metrics, tuple | list) or not metrics:
        problems.append("metrics is not a non-empty tuple of MetricSpec")
        metrics = ()
    names = []
    for spec in metrics:
        if not isinstance(spec, MetricSpec):
            problems.append(f"metrics holds a {type(spec).__name__}, not a MetricSpec")
            continue
        names.append(spec.name)
        if not _text(spec.name) or not _text(spec.description):
            problems.append(f"metric {spec.name!r}: name and description must be non-empty")
        if not isinstance(spec.higher_is_better, bool) or \
                not isinstance(spec.rewards_structure, bool):
            problems.append(f"metric {spec.name!r}: higher_is_better and rewards_structure "
                            f"must be bools")
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        problems.append(f"metrics declared twice: {', '.join(map(str, twice))}")
    if getattr(cls, "input_kind", None) not in INPUT_KINDS:
        problems.append(f"input_kind {getattr(cls, 'input_kind', None)!r} is not one of "
                        f"{', '.join(INPUT_KINDS)}")
    options = cls.option_names()
    column_options = getattr(cls, "column_options", ())
    if not isinstance(column_options, tuple | list):
        problems.append("column_options is not a tuple of option names")
        column_options = ()
    unknown = [o for o in column_options if o not in options]
    if unknown:
        problems.append(f"column_options {unknown} are not __init__ options "
                        f"({', '.join(options) or 'none'})")
    if "seed" in options:
        problems.append("'seed' is an option; the seed comes from the RunContext")
    missing = [o for o in options if not hasattr(task, o)]
    if missing:
        problems.append(f"options {missing} are not stored as attributes of the same name")
    knn_k = getattr(task, "knn_k", 0)
    if isinstance(knn_k, bool) or not isinstance(knn_k, int) or knn_k < 0:
        problems.append(f"knn_k is {knn_k!r}, not an int >= 0")
    if problems:
        raise Failed("; ".join(problems))


def check_clone(task: Task) -> None:
    """``clone()`` gives a new instance of the same class with the same options."""
    copy = task.clone()
    if copy is task or type(copy) is not type(task):
        raise Failed(f"clone() returned {'the task itself' if copy is task else type(copy)}")
    if repr(copy.options()) != repr(task.options()):
        raise Failed(f"clone() changed the options: {copy.options()} vs {task.options()}")


def key(result: MetricResult) -> tuple[str, str]:
    """(metric, params) of a result, comparable across runs."""
    return result.metric, repr(sorted(result.params.items(), key=lambda item: item[0]))


def as_dicts(results: list[MetricResult]) -> list[dict[str, Any]]:
    """The results as dicts, values by ``repr`` (exact for floats, and NaN equals NaN)."""
    return [{**r.to_dict(), "value": repr(r.value)} for r in results]


def difference(a: list[MetricResult], b: list[MetricResult]) -> str:
    """The first difference between two runs' results, for messages."""
    if len(a) != len(b):
        return f"{len(a)} vs {len(b)} results"
    for x, y in zip(a, b, strict=True):
        if as_dicts([x]) != as_dicts([y]):
            return f"{x.metric}{x.params or ''}: {x.value!r} vs {y.value!r}"
    return "no difference"
