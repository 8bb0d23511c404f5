"""Replicate retrieval: copairs' mean average precision (mAP), "phenotypic activity" setting.

Definition: docs/spec.md#mean_average_precision (copairs 0.5, Kalinin et al. 2024).

Each non-control profile ``q`` is a query. Its ranked list holds the *other* profiles of its
perturbation (positives) and every control profile (negatives), by cosine similarity to ``q``,
highest first; profiles of other perturbations are not in the list. ``AP(q)`` is the mean,
over the positives, of the precision at each positive's rank. A perturbation's mAP is the mean
AP of its queries; its p-value comes from a permutation null of random rankings, corrected
across perturbations with Benjamini-Hochberg. A positive whose similarity equals a
negative's counts with its expected precision over the orders of its tie group (copairs' stable
sort would place the positive first, so identical profiles would score mAP near 1; see
docs/differences.md); similarities are rounded to 1e-12 first, so rounding noise does not
break a tie. Many such ties warn (a degenerate embedding).
"""

from __future__ import annotations

import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from czbench.errors import CZBenchWarning, InputError
from czbench.utils.arrays import as_codes, as_numpy_2d
from czbench.utils.checks import DEFAULT_SEED

#: default number of random rankings per null distribution (copairs has no default; its
#: examples use 1,000,000): the smallest p-value reachable is ``1 / (null_size + 1)``
NULL_SIZE = 10_000
#: corrected p-value below which a perturbation counts as retrieved (copairs' examples)
THRESHOLD = 0.05
#: similarities to the controls computed at once (queries x controls), 32 MiB in float64
_BLOCK = 1 << 22
#: permutation entries drawn at once for a null distribution (uint16: 32 MiB)
_NULL_BLOCK = 1 << 24
#: similarities are compared rounded to this many decimals (equal unit vectors' dot products
#: differ by ~1e-16); above DEGENERATE_TIES of replicate similarities tied with a control's: a
#: warning (a degenerate embedding)
TIE_DECIMALS, DEGENERATE_TIES = 12, 0.01


@dataclass(frozen=True)
class APTable:
    """Per-query average precision, one entry per non-control profile, in profile order."""

    query: np.ndarray  #: row of the query in ``x`` (int64)
    perturbation: np.ndarray  #: the query's perturbation label
    n_pos: np.ndarray  #: positives in its list: replicates of the perturbation - 1 (int64)
    n_total: np.ndarray  #: list length: ``n_pos`` + number of controls (int64)
    ap: np.ndarray  #: average precision (float64)

    def __len__(self) -> int:
        return len(self.ap)


@dataclass(frozen=True)
class MAPTable:
    """Per-perturbation mAP and significance, perturbations sorted (as copairs' groupby)."""

    perturbation: np.ndarray
    n_queries: np.ndarray  #: queries (= replicates) averaged into the mAP (int64)
    mean_average_precision: np.ndarray  #: float64
    p_value: np.ndarray  #: ``(#{null mAP > mAP} + 1) / (null_size + 1)``
    corrected_p_value: np.ndarray  #: Benjamini-Hochberg over the perturbations
    retrieved: np.ndarray  #: ``corrected_p_value < threshold`` (copairs' ``below_corrected_p``)
    null_size: int
    threshold: float
    seed: int

    def __len__(self) -> int:
        return len(self.perturbation)

    def to_frame(self) -> pd.DataFrame:
        """The table with copairs' column names (``below_corrected_p`` = ``retrieved``)."""
        return pd.DataFrame({
            "perturbation": self.perturbation, "n_queries": self.n_queries,
            "mean_average_precision": self.mean_average_precision, "p_value": self.p_value,
            "corrected_p_value": self.corrected_p_value,
            "below_p": self.p_value < self.threshold, "below_corrected_p": self.retrieved})


# --------------------------------------------------------------------------------------------
# average precision per query
# --------------------------------------------------------------------------------------------

def _unit_rows(x: Any) -> np.ndarray:
    arr = as_numpy_2d(x, "x", dtype=np.float64, rescale=True)  # NaN / inf refused there
    norms = np.linalg.norm(arr, axis=1)
    zero = np.flatnonzero(norms == 0)
    if zero.size:
        raise InputError(f"x: {zero.size} profiles have zero norm (first: row {zero[0]}); "
                         "cosine similarity is undefined")
    return arr / norms[:, None]


def _groups(perturbations: Any, n: int, control: Any) -> tuple[np.ndarray, np.ndarray, int]:
    """Label codes, the label of each code, and the control's code; checks the labels."""
    codes = as_codes(perturbations, n, name="perturbations")
    labels = np.asarray(perturbations)
    _, first = np.unique(codes, return_index=True)
    uniques = labels[first]
    is_ctrl = np.asarray(uniques == control, dtype=bool)
    if is_ctrl.shape != uniques.shape or not is_ctrl.any():
        raise InputError(f"control: label {control!r} not found in perturbations "
                         "(no control profiles to rank against)")
    ctrl_code = int(np.flatnonzero(is_ctrl)[0])
    if len(uniques) == 1:
        raise InputError(f"perturbations: every profile is a control ({control!r}); "
                         "no perturbation to retrieve")
    sizes = np.bincount(codes, minlength=len(uniques))
    single = np.flatnonzero((sizes == 1) & ~is_ctrl)
    if single.size:
        raise InputError(f"perturbations: {single.size} perturbations have a single profile "
                         f"(e.g. {uniques[single[0]]!r}); each needs >= 2 replicates "
                         "(copairs drops them silently: drop them before calling)")
    return codes, uniques, ctrl_code


def _ap_rows(pos: np.ndarray, neg: np.ndarray, ties: list[int] | None = None) -> np.ndarray:
    """AP per row from its positives' similarities (descending) and its negatives' (ascending);
    a positive tied with a negative gets its expected precision over its tie group's orders
    (McSherry & Najork 2008). ``ties`` gets the number of such positives."""
    n_ctrl, n_pos = neg.shape[1], pos.shape[1]
    # negatives ranked above each positive: strictly greater similarity
    above = np.empty(pos.shape, dtype=np.float64)
    tied = np.empty(pos.shape, dtype=np.int64)
    for r in range(len(pos)):
        right = np.searchsorted(neg[r], pos[r], side="right")
        above[r] = n_ctrl - right
        tied[r] = right - np.searchsorted(neg[r], pos[r], side="left")
    hits = np.arange(1, n_pos + 1, dtype=np.float64)  # positives up to and including this one
    precision = hits / (hits + above)
    rows, cols = np.nonzero(tied)
    if rows.size:
        precision[rows, cols] = _tied_precision(pos, rows, cols, above, tied)
        if ties is not None:
            ties.append(int(rows.size))
    return precision.sum(axis=1) / n_pos


def _tied_precision(pos: np.ndarray, rows: np.ndarray, cols: np.ndarray, above: np.ndarray,
                    tied: np.ndarray) -> np.ndarray:
    """Expected precision of the positives at (rows, cols), each in a group of ``t`` equal
    similarities (``p`` positives) after ``a`` profiles (``c`` positives): the group's order
    uniformly random, ``(1/t) sum_j (c + 1 + (j-1)(p-1)/(t-1)) / (a + j)``."""
    from scipy.special import digamma

    desc = pos[rows]  # each row's positives, descending
    value = desc[np.arange(len(rows)), cols]
    c = (desc > value[:, None]).sum(axis=1).astype(np.float64)
    p = (desc == value[:, None]).sum(axis=1).astype(np.float64)
    t = p + tied[rows, cols]
    a = c + above[rows, cols]
    s0 = digamma(a + t + 1) - digamma(a + 1)  # sum_j 1 / (a + j)
    s1 = t - (a + 1) * s0  # sum_j (j - 1) / (a + j)
    return ((c + 1) * s0 + (p - 1) / (t - 1) * s1) / t


def _without_self(sims: np.ndarray, self_col: np.ndarray) -> np.ndarray:
    """Each row's similarities to the other replicates, highest first (the query dropped)."""
    sims[np.arange(len(sims)), self_col] = np.inf  # sorted last, then dropped
    sims.sort(axis=1)
    return sims[:, -2::-1]


def _rounded(sims: np.ndarray) -> np.ndarray:
    return np.round(sims, TIE_DECIMALS, out=sims)  # in place: equal profiles tie exactly


def _negatives(q: np.ndarray, uc: np.ndarray) -> np.ndarray:
    neg = _rounded(q @ uc.T)
    neg.sort(axis=1)
    return neg


def _fill_ap(ap: np.ndarray, u: np.ndarray, uc: np.ndarray, members: list[np.ndarray],
             ties: list[int]) -> None:
    """Write the AP of every profile in ``members`` (one index array per perturbation);
    ``ties`` gets the counts of positives tied with a negative.

    Several small perturbations share one block (one product with the controls and one Gram
    matrix, whose diagonal blocks are the positives): BLAS works on large matrices only.
    """
    max_rows = int(min(2048, max(1, _BLOCK // len(uc))))
    pending: list[np.ndarray] = []

    def flush() -> None:
        if not pending:
            return
        q = u[np.concatenate(pending)]
        neg, gram, off = _negatives(q, uc), _rounded(q @ q.T), 0
        for idx in pending:
            s = len(idx)
            pos = _without_self(gram[off:off + s, off:off + s].copy(), np.arange(s))
            ap[idx] = _ap_rows(pos, neg[off:off + s], ties)
            off += s
        pending.clear()

    for idx in members:
        if len(idx) > max_rows:  # a large perturbation alone, in row chunks
            flush()
            up = u[idx]
            for start in range(0, len(idx), max_rows):
                rows = np.arange(start, min(start + max_rows, len(idx)))
                pos = _without_self(_rounded(up[rows] @ up.T), rows)
                ap[idx[rows]] = _ap_rows(pos, _negatives(up[rows], uc), ties)
            continue
        if sum(map(len, pending)) + len(idx) > max_rows:
            flush()
        pending.append(idx)
    flush()


def average_precision(x: Any, perturbations: Any, control: Any) -> APTable:
    """Average precision of every non-control profile retrieving its replicates.

    For query ``q`` of perturbation ``p``: rank the other profiles of ``p`` (``n_pos``
    positives) and all controls (negatives) by cosine similarity to ``q``, descending (a
    positive tied with negatives gets its expected precision over the tie's orders; plainly
    ranked otherwise); ``AP(q) = (1/n_pos) sum_k hits(k) / k`` over the
    ranks ``k`` of the positives (``hits(k)``: positives at ranks <= k). Profiles of other
    perturbations are ignored. Similarities are float64 (copairs stores them in float32, so it
    can tie what differs below float32 resolution). Raises InputError for NaN/inf, a zero-norm
    profile, a missing control label, no non-control profile, or a single-profile perturbation.

    Definition: docs/spec.md#mean_average_precision
    """
    u = _unit_rows(x)
    codes, uniques, ctrl_code = _groups(perturbations, u.shape[0], control)
    uc = u[codes == ctrl_code]
    ap = np.full(u.shape[0], np.nan)
    members = np.split(np.argsort(codes, kind="stable"),
                       np.cumsum(np.bincount(codes, minlength=len(uniques)))[:-1])
    ties: list[int] = []
    _fill_ap(ap, u, uc, [m for code, m in enumerate(members) if code != ctrl_code], ties)
    query = np.flatnonzero(codes != ctrl_code)
    n_pos = np.bincount(codes)[codes[query]] - 1
    n_tied, n_pairs = sum(ties), int(n_pos.sum())
    if n_tied > DEGENERATE_TIES * n_pairs:
        warnings.warn(f"average_precision: {n_tied} of {n_pairs} replicate similarities "
                      f"equal a control's (identical or collinear profiles?); the embedding "
                      f"barely separates profiles, and tied ranks are averaged",
                      CZBenchWarning, stacklevel=2)
    return APTable(query=query, perturbation=np.asarray(perturbations)[query],
                   n_pos=n_pos.astype(np.int64), n_total=(n_pos + len(uc)).astype(np.int64),
                   ap=ap[query])


# --------------------------------------------------------------------------------------------
# null distributions, p-values, Benjamini-Hochberg
# --------------------------------------------------------------------------------------------

def _null_ap(n_pos: int, n_total: int, null_size: int, seed: int) -> np.ndarray:
    """``null_size`` APs of random rankings: copairs' ``random_ap``, drawn in row chunks.

    Each draw shuffles ``arange(n_total)`` with ``default_rng(seed).permuted`` (row by row, so
    chunking draws the same numbers) and takes the first ``n_pos`` entries as the positives'
    0-based ranks; AP in float32 as copairs computes it.
    """
    rng = np.random.default_rng(seed)
    base = np.arange(n_total, dtype=np.uint16 if n_total < 2**16 else np.uint32)
    numer = np.arange(1, n_pos + 1, dtype=np.float32)
    out = np.empty(null_size, dtype=np.float32)
    step = max(1, _NULL_BLOCK // n_total)
    for start in range(0, null_size, step):
        draw = np.tile(base, (min(step, null_size - start), 1))
        rng.permuted(draw, axis=1, out=draw)
        ranks = np.sort(draw[:, :n_pos], axis=1)
        out[start:start + len(draw)] = ((numer / (ranks + 1)).sum(axis=1) / n_pos)
    return out


def _null_ap_of(key: tuple[int, int, int, int], cache: Any) -> np.ndarray:
    """``_null_ap(*key)``, read-only; kept in ``cache`` (a run's
    :class:`~czbench.context.RunCache`: a second embedding of the same dataset and seed reuses
    the draws) when given."""
    def draw() -> np.ndarray:
        value = _null_ap(*key)
        value.flags.writeable = False
        return value

    return draw() if cache is None else cache.get(None, ("retrieval_null", *key), draw)


def null_distributions(confs: np.ndarray, null_size: int, seed: int, *,
                       cache: Any = None) -> np.ndarray:
    """Null AP samples, one row per ``(n_pos, n_total)`` row of ``confs`` (sorted, unique).

    As copairs' ``get_null_dists`` with an empty cache: configuration ``i`` is drawn from
    ``default_rng(s_i)`` with ``s = default_rng(seed).integers(8096, size=len(confs))``, so the
    draws equal copairs' for the same seed and the same set of configurations (copairs reuses
    draws cached on disk by earlier runs, which can differ).
    """
    seeds = np.random.default_rng(seed).integers(8096, size=len(confs))
    jobs = [(int(p), int(t), int(null_size), int(s)) for (p, t), s in zip(confs, seeds,
                                                                          strict=True)]
    workers = max(1, min(len(jobs), os.cpu_count() or 1))
    with ThreadPoolExecutor(workers) as pool:  # numpy's shuffle releases the GIL
        rows = list(pool.map(lambda job: _null_ap_of(job, cache), jobs))
    return np.stack(rows) if rows else np.empty((0, null_size), dtype=np.float32)


def benjamini_hochberg(p: np.ndarray) -> np.ndarray:
    """BH-adjusted p-values, arithmetic of statsmodels' ``multipletests(method="fdr_bh")``."""
    p = np.asarray(p, dtype=np.float64)
    order = np.argsort(p)
    raw = p[order] / (np.arange(1, len(p) + 1) / float(len(p)))
    adjusted = np.minimum.accumulate(raw[::-1])[::-1]
    adjusted[adjusted > 1] = 1
    out = np.empty_like(adjusted)
    out[order] = adjusted
    return out


def mean_average_precision(ap: APTable, *, null_size: int = NULL_SIZE,
                           threshold: float = THRESHOLD, seed: int = DEFAULT_SEED,
                           cache: Any = None) -> MAPTable:
    """Per-perturbation mAP, permutation p-value, BH-corrected p-value and retrieved flag.

    copairs' ``mean_average_precision(ap, sameby, null_size, threshold, seed)``: ``mAP_p`` =
    mean AP of p's queries. Null: for every distinct ``(n_pos, n_total)``, ``null_size`` APs of
    random rankings (:func:`null_distributions`, float32); p's null mAP sample ``j`` is the
    mean over its queries of their configuration's sample ``j`` (queries sharing a
    configuration share draws). ``p_value = (#{j: null_j > mAP_p} + 1) / (null_size + 1)``,
    the comparison in float32 as in copairs; ``corrected_p_value`` = Benjamini-Hochberg over
    the perturbations; ``retrieved = corrected_p_value < threshold``. Same seed, same
    p-values, and the null draws equal copairs' for that seed (its cold cache). Rows: the
    perturbations, sorted.

    Definition: docs/spec.md#mean_average_precision
    """
    if not isinstance(ap, APTable):
        raise InputError(f"ap: expected the APTable of average_precision, got {type(ap).__name__}")
    if len(ap) == 0:
        raise InputError("ap: no queries (the table is empty)")
    if not np.isfinite(ap.ap).all() or (ap.n_pos < 1).any():
        raise InputError("ap: every query needs a finite AP and at least one positive")
    check_null_size(null_size, threshold)
    codes = as_codes(ap.perturbation, name="ap.perturbation")
    _, first = np.unique(codes, return_index=True)
    counts = np.bincount(codes)
    map_scores = np.bincount(codes, weights=ap.ap) / counts
    confs, conf_ix = np.unique(np.stack([ap.n_pos, ap.n_total], axis=1), axis=0,
                               return_inverse=True)
    nulls = null_distributions(confs, int(null_size), int(seed), cache=cache)
    order = np.argsort(codes, kind="stable")  # each perturbation's queries in table order
    per_group = np.split(conf_ix.ravel()[order], np.cumsum(counts)[:-1])
    null_maps: dict[tuple[int, ...], np.ndarray] = {}
    p_value = np.empty(len(counts))
    for g, rows in enumerate(per_group):
        key = tuple(rows.tolist())
        if key not in null_maps:  # copairs: null_dists[rev_ix[indices]].mean(axis=0)
            null_maps[key] = nulls[rows].mean(axis=0)
        # copairs compares in float32: its mAP reaches numpy as a Python float (weak type)
        above = int((null_maps[key] > np.float32(map_scores[g])).sum())
        p_value[g] = (above + 1) / (int(null_size) + 1)
    corrected = benjamini_hochberg(p_value)
    return MAPTable(perturbation=np.asarray(ap.perturbation)[first],
                    n_queries=counts.astype(np.int64), mean_average_precision=map_scores,
                    p_value=p_value, corrected_p_value=corrected,
                    retrieved=corrected < threshold, null_size=int(null_size),
                    threshold=float(threshold), seed=int(seed))


def check_null_size(null_size: Any, threshold: Any) -> None:
    """One-line errors for a null size or threshold that make retrieval impossible: the
    smallest p-value, ``1 / (null_size + 1)``, must be below ``threshold``."""
    if isinstance(null_size, bool) or int(null_size) != null_size or null_size < 1:
        raise InputError(f"null_size: expected a positive integer, got {null_size!r}")
    if not 0 < threshold <= 1:
        raise InputError(f"threshold: expected a value in (0, 1], got {threshold!r}")
    if 1 / (int(null_size) + 1) >= threshold:
        raise InputError(f"null_size: {null_size} random rankings give p-values >= 1/"
                         f"{int(null_size) + 1}, never below threshold {threshold}: expected "
                         f"null_size > 1/threshold - 1 (>= {int(np.floor(1 / threshold))})")


def fraction_retrieved(result: MAPTable | Any) -> float:
    """Share of perturbations retrieved (BH-corrected p-value below the threshold).

    ``result``: a :class:`MAPTable` or its boolean ``retrieved`` vector.

    Definition: docs/spec.md#fraction_retrieved
    """
    flags = np.asarray(result.retrieved if isinstance(result, MAPTable) else result)
    if flags.ndim != 1 or flags.size == 0 or flags.dtype != bool:
        raise InputError("retrieved: expected a non-empty 1-D boolean vector")
    return float(flags.mean())
