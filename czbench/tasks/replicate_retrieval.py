"""Task ``replicate_retrieval``: do a perturbation's replicate profiles find each other ahead of
the controls? (copairs' mean average precision, "phenotypic activity" setting).

Definitions: docs/spec.md#task-replicate_retrieval, #mean_average_precision and
#fraction_retrieved. A profile is one row of the input (a well of an image-based screen) or,
with ``profile_keys``, a pseudo-bulk: the mean of the rows of one (perturbation, *profile_keys)
group (e.g. the cells of one guide in one replicate of a CRISPR screen).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from czbench.context import RunContext
from czbench.errors import CZBenchWarning, InputError
from czbench.metrics.retrieval import (
    NULL_SIZE,
    THRESHOLD,
    average_precision,
    check_null_size,
    fraction_retrieved,
    mean_average_precision,
)
from czbench.neighbors import KNNGraph
from czbench.tasks.base import MetricSpec, Task, TaskRun
from czbench.utils.checks import check_int, check_number, check_text


def check_names(value: Any, field: str) -> tuple[str, ...]:
    """Distinct non-empty names from a list/tuple of strings or a comma-separated string
    (``""``: none), or a one-line InputError naming ``field``."""
    if isinstance(value, str):
        items: list[Any] = [v.strip() for v in value.split(",")] if value.strip() else []
    elif isinstance(value, list | tuple):
        items = list(value)
    else:
        raise InputError(f"{field}: expected a list of names or a comma-separated string, "
                         f"got {value!r}")
    for item in items:
        check_text(item, field)
    if len(set(items)) != len(items):
        raise InputError(f"{field}: each name once, got {value!r}")
    return tuple(items)


@dataclass(frozen=True)
class ProfilePlan:
    """Which input rows make which profile (from obs alone, before any embedding is read)."""

    rows: np.ndarray  #: input row positions, grouped by profile, profiles in order (int64)
    sizes: np.ndarray  #: rows per profile (int64)
    keys: pd.DataFrame  #: one row per profile: its perturbation (as str) and profile_keys
    n_rows_excluded: int  #: rows whose perturbation is in ``exclude``
    n_profiles_dropped_small: int  #: groups with fewer than ``min_profile_size`` rows
    perturbations_dropped: dict[str, int]  #: perturbation -> profiles (< 2), not scored

    @property
    def labels(self) -> np.ndarray:
        """The perturbation (str) of each profile."""
        return self.keys.iloc[:, 0].to_numpy()


class ReplicateRetrievalTask(Task):
    """Per perturbation, the mean over its profiles of the average precision of ranking its
    other profiles above the controls' by cosine similarity; a seeded permutation p-value,
    Benjamini-Hochberg across perturbations, and the share retrieved at ``threshold``.

    Reports ``mean_average_precision`` (the mean over perturbations, no params; and one row
    per perturbation with params ``{"perturbation": ...}``) and ``fraction_retrieved``; the
    p-values, corrected p-values and profile counts are recorded with the run (``resolved``).

    Options: ``perturbation_key`` (obs column), ``control`` (its control value), ``exclude``
    (values neither scored nor used as controls), ``profile_keys`` (obs columns: average the
    rows of each (perturbation, *profile_keys) group into one profile; empty: one profile per
    row), ``min_profile_size`` (smaller groups dropped), ``null_size``, ``threshold``.
    Perturbations left with fewer than 2 profiles are not scored (recorded, with a warning).
    """

    name = "replicate_retrieval"
    description = "Replicate retrieval: mAP of a perturbation's replicates against controls"
    metrics = (
        MetricSpec("mean_average_precision",
                   "Mean average precision of retrieving replicates over controls (cosine)"),
        MetricSpec("fraction_retrieved",
                   "Share of perturbations with BH-corrected p < threshold"),
    )
    column_options = ("perturbation_key",)

    def __init__(self, *, perturbation_key: str = "condition", control: str = "DMSO",
                 exclude: tuple[str, ...] = (), profile_keys: tuple[str, ...] = (),
                 min_profile_size: int = 1, null_size: int = NULL_SIZE,
                 threshold: float = THRESHOLD) -> None:
        self.perturbation_key = check_text(perturbation_key, "perturbation_key")
        self.control = check_text(control, "control")
        self.exclude = check_names(exclude, "exclude")
        if self.control in self.exclude:
            raise InputError(f"exclude: contains the control {self.control!r}; the controls "
                             "are the negatives of every ranking and cannot be excluded")
        self.profile_keys = check_names(profile_keys, "profile_keys")
        if self.perturbation_key in self.profile_keys:
            raise InputError(f"profile_keys: contains perturbation_key "
                             f"'{self.perturbation_key}', which always groups the profiles")
        self.min_profile_size = check_int(min_profile_size, "min_profile_size", 1)
        if self.min_profile_size > 1 and not self.profile_keys:
            raise InputError(f"min_profile_size: {self.min_profile_size} needs profile_keys "
                             "(without them every profile is one row)")
        self.null_size = check_int(null_size, "null_size", 1)
        self.threshold = check_number(threshold, "threshold", 0.0, 1.0, open_minimum=True)
        check_null_size(self.null_size, self.threshold)

    @property
    def required_columns(self) -> list[str]:
        """``perturbation_key`` and the ``profile_keys`` columns."""
        return [self.perturbation_key, *self.profile_keys]

    @property
    def profile_definition(self) -> str:
        """What one profile is, as recorded: ``"row"`` or ``"mean of rows per (...)"``."""
        if not self.profile_keys:
            return "row"
        return f"mean of rows per ({', '.join([self.perturbation_key, *self.profile_keys])})"

    def check_inputs(self, obs: pd.DataFrame, n_cells: int | None = None) -> None:
        super().check_inputs(obs, n_cells)
        for column in self.profile_keys:
            if column not in obs.columns:
                raise InputError(
                    f"profile_keys: task '{self.name}' needs obs column '{column}', which is "
                    f"missing; columns are: {', '.join(map(str, obs.columns)) or '(none)'}")
            missing = int(obs[column].isna().sum())
            if missing:
                raise InputError(f"profile_keys: obs column '{column}' has {missing} missing "
                                 "values")
        values = obs[self.perturbation_key].astype(str)
        if not (values == self.control).any():
            shown = ", ".join(map(str, values.value_counts().index[:5]))
            raise InputError(f"control: obs column '{self.perturbation_key}' has no "
                             f"'{self.control}' profiles; its most frequent values: {shown}")
        self.plan(obs)  # the grouping's errors before any embedding is computed

    # -- profiles ----------------------------------------------------------------------------
    def plan(self, obs: pd.DataFrame) -> ProfilePlan:
        """The profiles: rows minus ``exclude``, grouped by (perturbation, *profile_keys) in
        sorted key order (each row its own profile, in row order, without profile_keys),
        groups under ``min_profile_size`` dropped, then perturbations with < 2 profiles."""
        key = self.perturbation_key
        labels = obs[key].astype(str).to_numpy()
        absent = [v for v in self.exclude if not (labels == v).any()]
        if absent:
            raise InputError(f"exclude: obs column '{key}' has no {absent[0]!r} rows "
                             f"(values to exclude must exist: {', '.join(self.exclude)})")
        keep = np.flatnonzero(~np.isin(labels, list(self.exclude))) if self.exclude \
            else np.arange(len(labels))
        if self.profile_keys:
            frame = obs[list(self.profile_keys)].iloc[keep].reset_index(drop=True)
            frame.insert(0, key, labels[keep])
            grouped = frame.groupby(list(frame.columns), sort=True, observed=True)
            codes = grouped.ngroup().to_numpy()
            counts = grouped.size()
            keys = counts.index.to_frame(index=False)
            sizes = counts.to_numpy().astype(np.int64)
            rows = keep[np.argsort(codes, kind="stable")].astype(np.int64)
        else:
            keys = pd.DataFrame({key: labels[keep]})
            sizes = np.ones(len(keep), dtype=np.int64)
            rows = keep.astype(np.int64)
        large = sizes >= self.min_profile_size
        per_label = pd.Series(large, dtype=np.int64).groupby(keys[key].to_numpy(),
                                                             sort=True).sum()
        few = per_label[(per_label < 2) & (per_label.index != self.control)]
        if int(per_label.get(self.control, 0)) == 0:
            raise InputError(f"control: no '{self.control}' profile left "
                             f"({self._filters_text()})")
        if len(few) == len(per_label) - 1:
            raise InputError(f"{key}: no perturbation has 2 or more profiles "
                             f"({self._filters_text()}); nothing to retrieve")
        final = large & ~keys[key].isin(few.index).to_numpy()
        return ProfilePlan(
            rows=rows[np.repeat(final, sizes)], sizes=sizes[final],
            keys=keys[final].reset_index(drop=True),
            n_rows_excluded=int(len(labels) - len(keep)),
            n_profiles_dropped_small=int((~large).sum()),
            perturbations_dropped={str(p): int(n) for p, n in few.items()})

    def _filters_text(self) -> str:
        parts = [f"profile: {self.profile_definition}"]
        if self.exclude:
            parts.append(f"exclude={list(self.exclude)}")
        if self.min_profile_size > 1:
            parts.append(f"min_profile_size={self.min_profile_size}")
        return ", ".join(parts)

    def profiles(self, embedding: Any, obs: pd.DataFrame,
                 plan: ProfilePlan | None = None) -> np.ndarray:
        """The profile matrix (profiles x dims, the input's float dtype) of :meth:`plan`: the
        rows themselves, or each group's mean computed in float64."""
        x = embedding.detach().cpu().numpy() if hasattr(embedding, "detach") else \
            np.asarray(embedding)
        plan = self.plan(obs) if plan is None else plan
        if not self.profile_keys:
            return x[plan.rows]
        starts = np.concatenate([[0], np.cumsum(plan.sizes)[:-1]])
        sums = np.add.reduceat(x[plan.rows], starts, axis=0, dtype=np.float64)
        dtype = x.dtype if x.dtype.kind == "f" else np.float64
        return (sums / plan.sizes[:, None]).astype(dtype, copy=False)

    # -- running -----------------------------------------------------------------------------
    def _run(self, embedding: Any, obs: pd.DataFrame, knn: KNNGraph | None,
             context: RunContext) -> TaskRun:
        plan = self.plan(obs)
        if plan.perturbations_dropped:
            shown = ", ".join(f"{p} ({n})" for p, n in list(plan.perturbations_dropped.items())
                              [:5])
            more = len(plan.perturbations_dropped) - 5
            warnings.warn(f"{self.name}: {len(plan.perturbations_dropped)} perturbation(s) "
                          f"with fewer than 2 profiles not scored: {shown}"
                          f"{f' and {more} more' if more > 0 else ''}", CZBenchWarning,
                          stacklevel=2)
        labels = plan.labels
        ap = average_precision(self.profiles(embedding, obs, plan), labels, self.control)
        table = mean_average_precision(ap, null_size=self.null_size, threshold=self.threshold,
                                       seed=context.seed, cache=context.cache)
        results = [self._result("mean_average_precision",
                                float(np.mean(table.mean_average_precision))),
                   self._result("fraction_retrieved", fraction_retrieved(table))]
        results += [self._result("mean_average_precision", float(value), perturbation=str(p))
                    for p, value in zip(table.perturbation, table.mean_average_precision,
                                        strict=True)]
        resolved: dict[str, Any] = {
            "profile": self.profile_definition, "n_profiles": len(labels),
            "n_rows_used": int(plan.sizes.sum()), "n_rows_excluded": plan.n_rows_excluded,
        }
        if self.profile_keys:
            resolved["n_profiles_dropped_small"] = plan.n_profiles_dropped_small
        resolved.update({
            "perturbations_dropped": plan.perturbations_dropped,
            "n_perturbations": len(table), "n_controls": int((labels == self.control).sum()),
            "p_value": {str(p): float(v) for p, v in zip(table.perturbation, table.p_value,
                                                         strict=True)},
            "corrected_p_value": {str(p): float(v) for p, v in
                                  zip(table.perturbation, table.corrected_p_value, strict=True)},
        })
        return self._output(results, **resolved)
