"""``Baseline``: an input computed from the dataset alone, that every model is compared with."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from czbench.datasets.modalities import refuse_counts
from czbench.errors import InputError

#: what a baseline produces, matching a task's ``input_kind``
BASELINE_KINDS = ("embedding", "expression")


@dataclass(frozen=True)
class Baseline:
    """A named baseline: ``fn(adata, seed) -> matrix`` (cells in the dataset's order).

    Attributes:
        name: used as ``baseline:<name>``.
        fn: computes it; every random choice takes ``seed``.
        kind: ``embedding`` (cells x dims) or ``expression`` (a cells x genes prediction);
            only tasks whose ``input_kind`` matches score it.
        description: one line for ``czbench list baselines``.
        options: names of options of the task that brings this baseline which ``fn`` takes
            as keyword arguments (e.g. the perturbation task's ``control``); a run passes the
            values of its task, so the baseline matches how the task reads the data.
        needs_counts: computed from raw transcript counts: on data of a modality without
            counts (e.g. morphology) it is a one-line error saying so, before any work.
    """

    name: str
    fn: Callable[..., Any]
    kind: str = "embedding"
    description: str = ""
    options: tuple[str, ...] = ()
    needs_counts: bool = False

    def __post_init__(self) -> None:
        if self.kind not in BASELINE_KINDS:
            raise InputError(f"baseline {self.name}: kind must be one of "
                             f"{', '.join(BASELINE_KINDS)}, got {self.kind!r}")

    def __call__(self, adata: Any, seed: int, **options: Any) -> Any:
        if self.needs_counts:
            refuse_counts(adata, f"baseline:{self.name}")
        return self.fn(adata, seed, **{k: v for k, v in options.items() if k in self.options})
