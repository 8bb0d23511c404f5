"""``pcr_comparison``: how much of the variance explained by batch integration removed.

Definition: docs/spec.md#pcr_comparison (scib-metrics 0.5.10 ``scib_metrics.pcr_comparison`` and
``scib_metrics.utils.principal_component_regression``; Büttner et al. 2019).

``principal_component_regression``: PCA of the column-centred ``x`` (all ``min(n, d)``
components by default, as scib-metrics' Benchmarker uses it); each PC's coordinates are
regressed on the centred covariate (one-hot of the categories when ``categorical``, else the
numeric column), without intercept; ``R²_j = max(0, 1 - RSS_j / TSS_j)``; the score is
``sum_j R²_j var_j / sum_j var_j``. ``pcr_comparison`` = ``(pcr_pre - pcr_post) / pcr_pre``,
set to 0 (with a warning) when negative; unscaled it is ``pcr_post - pcr_pre``.

How: with ``V`` the PCA axes, ``R²_j var_j (n - 1) = V_j' B V_j`` where ``B`` is the
between-category scatter of ``x`` (or ``x' c c' x / c'c`` for a numeric covariate ``c``), so
the score is ``tr(V' B V) / tr(Λ)`` over the chosen components: one d x d eigendecomposition,
no regression per component. Components of zero variance carry zero weight.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from czbench.errors import CZBenchWarning, InputError
from czbench.utils.arrays import as_codes, as_numpy_2d


def _covariate_scatter(xc: np.ndarray, covariate: Any, categorical: bool) -> np.ndarray:
    """(d, d) scatter of the fitted values of the no-intercept regression of ``xc`` on the
    centred covariate (``xc`` is column-centred)."""
    n = xc.shape[0]
    if categorical:
        codes = as_codes(covariate, n, name="covariate")
        counts = np.bincount(codes).astype(np.float64)
        sums = np.zeros((counts.size, xc.shape[1]))
        np.add.at(sums, codes, xc)
        return sums.T @ (sums / counts[:, None])  # sum_g n_g m_g m_g'
    c = np.asarray(covariate, dtype=np.float64).reshape(-1)
    if c.shape[0] != n or not np.isfinite(c).all():
        raise InputError(f"covariate: expected {n} finite numbers, got shape {c.shape}")
    c = c - c.mean()
    cc = float(c @ c)
    if cc == 0.0:
        return np.zeros((xc.shape[1], xc.shape[1]))
    proj = xc.T @ c
    return np.outer(proj, proj) / cc


def principal_component_regression(x: Any, covariate: Any, *, categorical: bool = False,
                                   n_comps: int | None = None) -> float:
    """Variance-weighted mean R² of the covariate over the first ``n_comps`` PCs of ``x``
    (``None``: all ``min(n, d)``), in [0, 1]."""
    xc = as_numpy_2d(x, name="x", dtype=np.float64)
    n, d = xc.shape
    max_comps = min(n, d)
    if n_comps is not None and not 1 <= n_comps <= max_comps:
        raise InputError(f"n_comps: expected 1..min(n_cells, n_dims) = {max_comps}, got {n_comps}")
    xc = xc - xc.mean(axis=0)
    scatter = _covariate_scatter(xc, covariate, categorical)
    evals, evecs = np.linalg.eigh(xc.T @ xc)
    order = np.argsort(evals)[::-1][: n_comps or max_comps]
    evals, evecs = np.clip(evals[order], 0.0, None), evecs[:, order]
    total = float(evals.sum())
    if total <= 0.0:
        raise InputError("x: has zero variance, so principal_component_regression is undefined")
    explained = np.einsum("ij,ij->j", evecs, scatter @ evecs)
    explained = np.clip(explained, 0.0, evals)  # R² in [0, 1] per component
    return float(explained.sum() / total)


def pcr_comparison(x_pre: Any, x_post: Any, covariate: Any, *, scale: bool = True,
                   categorical: bool = True, n_comps: int | None = None) -> float:
    """Relative drop of the covariate's PCR from ``x_pre`` to ``x_post``; higher = more batch
    variance removed. Defaults as scib-metrics' Benchmarker calls it (categorical, all PCs)."""
    x_pre = as_numpy_2d(x_pre, name="x_pre", dtype=np.float64)
    x_post = as_numpy_2d(x_post, name="x_post", dtype=np.float64)
    if x_pre.shape[0] != x_post.shape[0]:
        raise InputError(f"x_post: has {x_post.shape[0]} cells but x_pre has {x_pre.shape[0]}")
    pcr_pre = principal_component_regression(x_pre, covariate, categorical=categorical,
                                             n_comps=n_comps)
    pcr_post = principal_component_regression(x_post, covariate, categorical=categorical,
                                              n_comps=n_comps)
    if not scale:
        return pcr_post - pcr_pre
    if pcr_pre == 0.0:
        raise InputError("covariate: explains no variance of x_pre, so the scaled "
                         "pcr_comparison is undefined")
    score = (pcr_pre - pcr_post) / pcr_pre
    if score < 0:
        warnings.warn("pcr_comparison: the covariate explains more variance after integration "
                      "than before; score set to 0", CZBenchWarning, stacklevel=2)
        return 0.0
    return score
