"""scib-metrics' metric set (iLISI, cLISI, kBET per label, graph connectivity, PCR comparison,
BRAS, isolated labels) against independent brute-force references and hand-computed cases.

Definitions: docs/spec.md (sections #ilisi_knn, #clisi_knn, #kbet_per_label,
#graph_connectivity, #pcr_comparison, #bras, #isolated_labels). Every reference here is
written out in the test (per-cell loops, BFS, dense eigendecompositions) or taken from
scikit-learn / scipy; none calls the czbench function it checks.
"""

from __future__ import annotations

import warnings
from collections import deque

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist
from scipy.stats import chi2
from sklearn.decomposition import PCA
from sklearn.linear_model import LinearRegression
from sklearn.metrics import silhouette_samples as sk_silhouette_samples

from czbench.errors import CZBenchWarning, InputError
from czbench.metrics.bras import bras
from czbench.metrics.graph_connectivity import GRAPH_CONNECTIVITY_K, graph_connectivity
from czbench.metrics.isolated_labels import isolated_labels
from czbench.metrics.kbet import KBET_K, kbet, kbet_label_scores, kbet_per_label
from czbench.metrics.lisi import LISI_K, clisi_knn, ilisi_knn, lisi_values, neighbour_probabilities
from czbench.metrics.pcr import pcr_comparison, principal_component_regression
from czbench.neighbors import KNNGraph


def _data(seed: int, n: int = 360, d: int = 8, n_labels: int = 3, n_batches: int = 3,
          label_sep: float = 4.0, batch_shift: float = 0.5) -> tuple[np.ndarray, ...]:
    """Gaussian cell types plus a per-batch shift; returns (x, labels, batches)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, n_labels, n)
    batches = rng.integers(0, n_batches, n)
    x = (rng.normal(0.0, label_sep, (n_labels, d))[labels]
         + rng.normal(0.0, batch_shift, (n_batches, d))[batches] + rng.normal(size=(n, d)))
    return x, labels, batches


def _graph(x: np.ndarray, k: int) -> KNNGraph:
    """Brute-force float64 kNN (self first) built here, not by czbench."""
    dist = cdist(x, x)
    np.fill_diagonal(dist, -1.0)
    idx = np.argsort(dist, axis=1, kind="stable")[:, :k]
    np.fill_diagonal(dist, 0.0)
    return KNNGraph(idx, np.take_along_axis(dist, idx, axis=1))


@pytest.fixture(scope="module")
def mixed():
    x, labels, batches = _data(0)
    return x, labels, batches, _graph(x, LISI_K)


@pytest.fixture(scope="module")
def batchy():
    x, labels, batches = _data(1, batch_shift=6.0)
    return x, labels, batches, _graph(x, LISI_K)


# --------------------------------------------------------------------------------------------
# LISI
# --------------------------------------------------------------------------------------------
def _ref_lisi(knn: KNNGraph, labels: np.ndarray, perplexity: float) -> np.ndarray:
    """Korsunsky et al.'s per-cell search, one cell at a time: beta from 1, double/halve until
    bracketed then bisect, |H - log perplexity| < 1e-5 or 50 steps; self weight 0."""
    out = np.empty(knn.n_cells)
    for i in range(knn.n_cells):
        others = knn.indices[i] != i
        d = knn.distances[i][others]
        labs = labels[knn.indices[i][others]]

        def kernel(beta, d=d):
            w = np.exp(-beta * d)
            total = w.sum()
            if total == 0:
                return 0.0, np.zeros_like(w)
            p = w / total
            return float(np.log(total) + beta * (d * w).sum() / total), p

        beta, lo, hi = 1.0, None, None
        h, p = kernel(beta)
        steps = 0
        while abs(h - np.log(perplexity)) >= 1e-5 and steps < 50:
            if h > np.log(perplexity):
                lo = beta
                beta = beta * 2 if hi is None else (beta + hi) / 2
            else:
                hi = beta
                beta = beta / 2 if lo is None else (beta + lo) / 2
            h, p = kernel(beta)
            steps += 1
        if h == 0:
            out[i] = -1.0
            continue
        simpson = sum(p[labs == g].sum() ** 2 for g in np.unique(labels))
        out[i] = 1.0 / simpson
    return out


@pytest.mark.parametrize("perplexity", [None, 10.0])
def test_lisi_matches_per_cell_reference(mixed, perplexity):
    x, labels, batches, knn = mixed
    perp = perplexity or LISI_K // 3
    for groups in (labels, batches):
        ref = _ref_lisi(knn, groups, perp)
        got = lisi_values(knn, groups, perplexity)
        np.testing.assert_allclose(got, ref, rtol=0, atol=1e-9)
    ref_i = (np.median(_ref_lisi(knn, batches, perp)) - 1) / 2
    ref_c = (3 - np.median(_ref_lisi(knn, labels, perp))) / 2
    assert ilisi_knn(knn, batches, perplexity=perplexity) == pytest.approx(ref_i, abs=1e-9)
    assert clisi_knn(knn, labels, perplexity=perplexity) == pytest.approx(ref_c, abs=1e-9)
    assert ilisi_knn(knn, batches, perplexity=perplexity, scale=False) == pytest.approx(
        ref_i * 2 + 1, abs=1e-9)


def test_lisi_hand_computed():
    # each cell: itself, two neighbours at distance 0 and one at distance 40. At beta = 1 the
    # kernel is (1/2, 1/2, ~4e-18) with entropy log 2 = log(perplexity 2): no search step.
    idx = np.array([[0, 1, 2, 3], [1, 0, 2, 3], [2, 3, 0, 1], [3, 2, 0, 1]])
    dist = np.tile([0.0, 0.0, 0.0, 40.0], (4, 1))
    knn = KNNGraph(idx, dist)
    labels = np.array(["a", "b", "a", "a"])
    # cell 0 weighs (b, a): Simpson 1/2; cell 1 (a, a): 1; cell 2 (a, a): 1; cell 3 (a, a): 1
    np.testing.assert_allclose(lisi_values(knn, labels, perplexity=2.0), [2, 1, 1, 1],
                               atol=1e-12)
    assert clisi_knn(knn, labels, perplexity=2.0) == pytest.approx(1.0)
    assert ilisi_knn(knn, labels, perplexity=2.0, scale=False) == pytest.approx(1.0)
    # scib-metrics' quirk: equal distances and perplexity 1 drive beta up until the kernel
    # underflows to zero, which stops the search (H = 0 = log 1) and yields LISI -1
    flat = KNNGraph(idx, np.where(idx == np.arange(4)[:, None], 0.0, 1.0))
    with pytest.warns(CZBenchWarning, match="all-zero"):
        np.testing.assert_array_equal(lisi_values(flat, labels), -1.0)


def test_lisi_kernel_entropy_hits_perplexity(mixed):
    *_, knn = mixed
    keep = knn.indices != np.arange(knn.n_cells)[:, None]
    h, p = neighbour_probabilities(knn.distances, keep, 30.0)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-12)
    assert (p[~keep] == 0).all()
    with np.errstate(divide="ignore", invalid="ignore"):
        entropy = -np.where(p > 0, p * np.log(p), 0.0).sum(axis=1)
    np.testing.assert_allclose(entropy, np.log(30.0), atol=1e-5)
    np.testing.assert_allclose(h, entropy, atol=1e-9)


def test_lisi_properties(mixed, batchy):
    x, labels, batches, knn = mixed
    # labels far apart: every neighbourhood pure -> cLISI exactly 1
    assert clisi_knn(knn, labels) == 1.0
    xm, _, bm = _data(5, batch_shift=0.0)  # batches drawn at random: perfectly mixed
    good = ilisi_knn(_graph(xm, LISI_K), bm)
    bad = ilisi_knn(batchy[3], batchy[2])
    assert 0.0 <= bad < 0.05 and 0.8 < good <= 1.0
    assert bad < ilisi_knn(knn, batches) < good  # a mild batch shift sits in between
    # randomly permuted labels: far from pure
    perm = np.random.default_rng(0).permutation(labels)
    assert clisi_knn(knn, perm) < 0.3


def test_lisi_errors(mixed):
    *_, knn = mixed
    with pytest.raises(InputError, match="batches"):
        ilisi_knn(knn, np.zeros(knn.n_cells, dtype=int))
    with pytest.raises(InputError, match="perplexity"):
        lisi_values(knn.head(2), np.arange(knn.n_cells) % 2)
    with pytest.raises(InputError, match="labels"):
        lisi_values(knn, np.zeros(3))


# --------------------------------------------------------------------------------------------
# graph connectivity
# --------------------------------------------------------------------------------------------
def _ref_graph_connectivity(knn: KNNGraph, labels: np.ndarray) -> float:
    """Per label: reachability by BFS from every cell along directed kNN edges inside the label;
    strongly connected component of i = cells reachable from i that also reach i."""
    shares = []
    for lab in np.unique(labels):
        cells = [int(c) for c in np.flatnonzero(labels == lab)]
        inside = set(cells)
        out_edges = {c: [int(j) for j in knn.indices[c] if int(j) in inside] for c in cells}
        reach = {}
        for start in cells:
            seen, queue = {start}, deque([start])
            while queue:
                for j in out_edges[queue.popleft()]:
                    if j not in seen:
                        seen.add(j)
                        queue.append(j)
            reach[start] = seen
        largest = max(sum(1 for j in reach[i] if i in reach[j]) for i in cells)
        shares.append(largest / len(cells))
    return float(np.mean(shares))


def test_graph_connectivity_matches_bfs(mixed, batchy):
    for _x, labels, batches, knn in (mixed, batchy):
        graph = knn.head(GRAPH_CONNECTIVITY_K)
        for groups in (labels, batches, (labels + batches) % 4):
            ref = _ref_graph_connectivity(graph, groups)
            assert graph_connectivity(graph, groups) == pytest.approx(ref, abs=1e-12)
        # few neighbours: broken-up labels
        small = knn.head(3)
        assert graph_connectivity(small, batches) == pytest.approx(
            _ref_graph_connectivity(small, batches), abs=1e-12)


def test_graph_connectivity_hand_computed():
    # label A = cells 0,1,2: 0 <-> 1 mutual, 2 -> 0 only (one-way: not strongly connected)
    # label B = cells 3,4: 3 <-> 4 mutual.  Shares: A 2/3, B 1 -> mean 5/6
    idx = np.array([[0, 1], [1, 0], [2, 0], [3, 4], [4, 3]])
    knn = KNNGraph(idx, np.zeros(idx.shape))  # zero distances still count as edges
    labels = np.array(["A", "A", "A", "B", "B"])
    assert graph_connectivity(knn, labels) == pytest.approx(5 / 6)
    # edges to other labels do not connect: B's cells pointing only at A -> 1/2
    idx2 = np.array([[0, 1], [1, 0], [2, 0], [3, 0], [4, 0]])
    assert graph_connectivity(KNNGraph(idx2, np.zeros(idx2.shape)), labels) == pytest.approx(
        (2 / 3 + 1 / 2) / 2)


def test_graph_connectivity_separated_is_one():
    # 8 labels of 15 cells, far apart: each cell's 15-NN is exactly its label -> 1
    rng = np.random.default_rng(6)
    labels = np.repeat(np.arange(8), 15)
    x = rng.normal(0.0, 50.0, (8, 5))[labels] + rng.normal(size=(120, 5))
    knn = _graph(x, GRAPH_CONNECTIVITY_K)
    assert graph_connectivity(knn, labels) == 1.0
    # a directed kNN graph is not strongly connected where some cell is nobody's neighbour:
    # with 5 neighbours that already happens inside well-separated labels
    small = knn.head(5)
    assert graph_connectivity(small, labels) == pytest.approx(
        _ref_graph_connectivity(small, labels), abs=1e-12)
    assert graph_connectivity(small, labels) < 1.0


# --------------------------------------------------------------------------------------------
# kBET
# --------------------------------------------------------------------------------------------
def test_kbet_chi_square_hand_computed():
    # 8 cells, batches 0 (cells 0-3) and 1 (cells 4-7), 4 neighbours per row (self first).
    # Cells 0-3 see only batch 0: observed (4, 0), expected (2, 2), statistic 4,
    # p = chi2.sf(4, 1) = 0.0455 < 0.05, rejected. Cells 4-7 see two of each: statistic 0, p = 1.
    idx = np.array([[0, 1, 2, 3], [1, 0, 2, 3], [2, 0, 1, 3], [3, 0, 1, 2],
                    [4, 5, 0, 1], [5, 4, 0, 1], [6, 7, 2, 3], [7, 6, 2, 3]])
    knn = KNNGraph(idx, np.ones(idx.shape))
    rate, stats, p = kbet(knn, np.array([0, 0, 0, 0, 1, 1, 1, 1]))
    np.testing.assert_allclose(stats, [4, 4, 4, 4, 0, 0, 0, 0], atol=1e-12)
    np.testing.assert_allclose(p, chi2.sf(stats, 1), rtol=1e-12)
    assert rate == 0.5
    assert kbet(knn, np.array([0, 0, 0, 0, 1, 1, 1, 1]), alpha=0.04)[0] == 1.0


def _ref_fuzzy(knn: KNNGraph) -> np.ndarray:
    """UMAP fuzzy union (McInnes et al.), per cell: rho = nearest non-zero distance; sigma by
    bisection so that sum_j exp(-max(0, d - rho) / sigma) = log2(k) over the k - 1 others;
    floor 1e-3 * mean distance; dense (n, n)."""
    n, k = knn.indices.shape
    dist = knn.distances.astype(np.float32).astype(np.float64)
    mean_all = dist.mean()
    w = np.zeros((n, n))
    for i in range(n):
        d = dist[i]
        positive = d[d > 0]
        rho = positive.min() if positive.size else 0.0
        lo, hi, mid = 0.0, np.inf, 1.0
        for _ in range(64):
            gap = d[1:] - rho
            psum = np.sum(np.where(gap > 0, np.exp(-gap / mid), 1.0))
            if abs(psum - np.log2(k)) < 1e-5:
                break
            if psum > np.log2(k):
                hi = mid
                mid = (lo + hi) / 2
            else:
                lo = mid
                mid = mid * 2 if hi == np.inf else (lo + hi) / 2
        sigma = max(mid, 1e-3 * (d.mean() if rho > 0 else mean_all))
        for j, dj in zip(knn.indices[i], d, strict=True):
            if j != i:
                w[i, j] = 1.0 if dj - rho <= 0 else np.exp(-(dj - rho) / sigma)
    w = w.astype(np.float32).astype(np.float64)
    return w + w.T - w * w.T


def _ref_kbet_per_label(knn: KNNGraph, batches: np.ndarray, labels: np.ndarray,
                        n_comps: int = 100) -> list[float]:
    """scib-metrics' protocol written out with dense linear algebra and brute-force kNN."""
    conn = _ref_fuzzy(knn)
    scores = []
    for lab in np.unique(labels):
        cells = np.flatnonzero(labels == lab)
        b = batches[cells]
        if len(cells) < 10 or len(np.unique(b)) == 1:
            scores.append(np.nan)
            continue
        k0 = min(70, max(10, int(np.floor(np.mean(np.unique(b, return_counts=True)[1]) / 4))))
        c = conn[np.ix_(cells, cells)]
        # components by BFS on the symmetric graph
        comp = -np.ones(len(cells), dtype=int)
        for s in range(len(cells)):
            if comp[s] < 0:
                comp[s], queue = s, deque([s])
                while queue:
                    u = queue.popleft()
                    for v in np.flatnonzero(c[u] > 0):
                        if comp[v] < 0:
                            comp[v] = s
                            queue.append(v)
        if len(np.unique(comp)) > 1:
            sizes = {g: int((comp == g).sum()) for g in np.unique(comp)}
            keep = np.array([sizes[g] >= 3 * k0 for g in comp])
            if keep.mean() < 0.75:
                scores.append(0.0)
                continue
            c, b = c[np.ix_(keep, keep)], b[keep]
        n_comps = min(n_comps, len(b) - 1)  # scib-metrics' running cap
        c32 = c.astype(np.float32)
        q = c32.sum(axis=0)
        kern = c32 / np.outer(q, q)
        z = np.sqrt(kern.sum(axis=0))
        trans = (kern / np.outer(z, z)).astype(np.float64)
        evals, evecs = np.linalg.eigh(trans)
        top = np.argsort(-np.abs(evals), kind="stable")[:n_comps]
        e32 = evals[top].astype(np.float32) + np.float32(1e-8)
        scale = np.array([e if e == 1 else e / (np.float32(1) - e) for e in e32])
        emb = evecs[:, top].astype(np.float32) * scale
        dd = cdist(emb.astype(np.float64), emb.astype(np.float64))
        np.fill_diagonal(dd, -1.0)
        nn = np.argsort(dd, axis=1, kind="stable")[:, : k0 + 1]
        if nn.shape[1] < k0 + 1:  # pynndescent's missing neighbours (-1) read as the last cell
            nn = np.hstack([nn, np.full((len(b), k0 + 1 - nn.shape[1]), len(b) - 1)])
        _, b_codes = np.unique(b, return_inverse=True)
        expected = np.bincount(b_codes) / len(b_codes) * (k0 + 1)
        accepted = 0
        for row in nn:
            observed = np.bincount(b_codes[row], minlength=len(expected))
            stat = np.sum((observed - expected) ** 2 / expected)
            accepted += chi2.sf(stat, len(expected) - 1) >= 0.05
        scores.append(accepted / len(b))
    return scores


@pytest.fixture(scope="module")
def kbet_cases():
    """Three Gaussian types (mixed, or batch-separated) plus the special paths: label 7 has
    10 cells (k0 + 1 = 11 neighbours > 10 cells; caps later labels at 9 diffusion components),
    label 8 is three tight 20-cell groups inside the other types (components < 3 k0: score 0),
    label 9 is two far groups of 120 plus a 4-cell satellite between types (dropped)."""
    out = {}
    for name, shift in (("mixed", 0.3), ("batchy", 5.0)):
        x, labels, batches = _data(2, n=420, batch_shift=shift)
        centres = np.stack([x[labels == g].mean(axis=0) for g in range(3)])
        rng = np.random.default_rng(3)
        extra = np.vstack([rng.normal(size=(10, 8)) + 30]
                          + [c + 0.05 * rng.normal(size=(20, 8)) for c in centres]
                          + [rng.normal(size=(120, 8)) - 30, rng.normal(size=(120, 8)) + 60,
                             (centres[0] + centres[1]) / 2 + 0.05 * rng.normal(size=(4, 8))])
        x = np.vstack([x, extra])
        labels = np.concatenate([labels, [7] * 10, [8] * 60, [9] * 244])
        batches = np.concatenate([batches, rng.integers(0, 3, 314)])
        out[name] = (x, labels, batches, _graph(x, KBET_K))
    return out


@pytest.mark.parametrize(("name", "n_comps"), [("mixed", 100), ("batchy", 30)])
def test_kbet_per_label_matches_reference(kbet_cases, name, n_comps):
    x, labels, batches, knn = kbet_cases[name]
    ref = _ref_kbet_per_label(knn, batches, labels, n_comps)
    got = kbet_label_scores(knn, batches, labels, diffusion_n_comps=n_comps)
    np.testing.assert_allclose(got, ref, atol=0.01)
    assert got[4] == 0.0  # label 8: too many small components


def test_kbet_properties_and_seed(kbet_cases):
    x, labels, batches, knn = kbet_cases["mixed"]
    first = kbet_per_label(knn, batches, labels, diffusion_n_comps=30, seed=1)
    assert first == kbet_per_label(knn, batches, labels, diffusion_n_comps=30, seed=1)
    assert first == pytest.approx(
        kbet_per_label(knn, batches, labels, diffusion_n_comps=30, seed=2), abs=1e-9)
    xb, lb, bb, knn_b = kbet_cases["batchy"]
    # the three Gaussian types (label codes 0-2), batch-separated within each
    assert np.nanmean(kbet_label_scores(knn_b, bb, lb, diffusion_n_comps=30)[:3]) < 0.05 < first


def test_kbet_errors():
    x, labels, batches = _data(4, n=60)
    knn = _graph(x, 20)
    with pytest.raises(InputError, match="labels"):
        kbet_per_label(knn, np.zeros(60, dtype=int), labels)


# --------------------------------------------------------------------------------------------
# PCR
# --------------------------------------------------------------------------------------------
def _ref_pcr(x: np.ndarray, covariate: np.ndarray, categorical: bool,
             n_comps: int | None) -> float:
    pca = PCA(n_components=n_comps or min(x.shape), svd_solver="full").fit(x)
    scores = pca.transform(x)
    if categorical:
        design = (covariate[:, None] == np.unique(covariate)[None, :]).astype(float)
    else:
        design = covariate.reshape(-1, 1).astype(float)
    r2 = np.array([LinearRegression().fit(design, scores[:, j]).score(design, scores[:, j])
                   for j in range(scores.shape[1])])
    var = pca.explained_variance_
    return float(np.sum(np.maximum(r2, 0) * var) / np.sum(var))


@pytest.mark.parametrize("n_comps", [None, 3])
def test_pcr_matches_sklearn(batchy, n_comps):
    x, labels, batches, _ = batchy
    for cov, categorical in ((batches, True), (labels, True), (x[:, 0] * 0.3 + batches, False)):
        ref = _ref_pcr(x, cov, categorical, n_comps)
        got = principal_component_regression(x, cov, categorical=categorical, n_comps=n_comps)
        assert got == pytest.approx(ref, abs=1e-9)
    post = x - np.stack([x[batches == b].mean(axis=0) for b in range(3)])[batches] * 0.8
    ref_cmp = (_ref_pcr(x, batches, True, n_comps) - _ref_pcr(post, batches, True, n_comps)) \
        / _ref_pcr(x, batches, True, n_comps)
    assert pcr_comparison(x, post, batches, n_comps=n_comps) == pytest.approx(ref_cmp, abs=1e-9)


def test_pcr_hand_computed_and_scaling():
    # one dimension: batch means 1 and 11 around 6 -> between SS 100 of total SS 104
    x = np.array([[0.0], [2.0], [10.0], [12.0]])
    batches = np.array(["a", "a", "b", "b"])
    assert principal_component_regression(x, batches, categorical=True) == pytest.approx(100 / 104)
    integrated = np.array([[0.0], [12.0], [10.0], [2.0]])  # means 6 and 6: nothing explained
    assert pcr_comparison(x, integrated, batches) == pytest.approx(1.0)
    assert pcr_comparison(x, integrated, batches, scale=False) == pytest.approx(-100 / 104)
    with pytest.warns(CZBenchWarning, match="more variance"):
        assert pcr_comparison(integrated + [[0.0], [0.0], [0.0], [1e-3]], x, batches) == 0.0
    with pytest.raises(InputError, match="covariate"):
        pcr_comparison(integrated, x, batches)
    with pytest.raises(InputError, match="n_comps"):
        principal_component_regression(x, batches, n_comps=2)


# --------------------------------------------------------------------------------------------
# BRAS
# --------------------------------------------------------------------------------------------
def _ref_bras(x: np.ndarray, labels: np.ndarray, batches: np.ndarray, metric: str,
              mode: str) -> float:
    per_label = []
    for lab in np.unique(labels):
        cells = np.flatnonzero(labels == lab)
        b = batches[cells]
        if len(np.unique(b)) in (1, len(cells)):
            continue
        dist = cdist(x[cells], x[cells], metric=metric)
        vals = []
        for i in range(len(cells)):
            own = b == b[i]
            if own.sum() == 1:
                vals.append(1.0)
                continue
            a = dist[i, own].sum() / (own.sum() - 1)
            if mode == "mean_other":
                bi = dist[i, ~own].mean()
            else:
                bi = max(dist[i, b == g].mean() for g in np.unique(b) if g != b[i])
            s = 0.0 if max(a, bi) == 0 else (bi - a) / max(a, bi)
            vals.append(1 - abs(s))
        per_label.append(np.mean(vals))
    return float(np.mean(per_label))


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
@pytest.mark.parametrize("mode", ["mean_other", "furthest"])
def test_bras_matches_bruteforce(mixed, batchy, metric, mode):
    for x, labels, batches, _ in (mixed, batchy):
        x = x + 1.0  # off-centre, so that cosine differs from a plain angle around 0
        batches = batches.copy()
        batches[np.flatnonzero(labels == 0)[0]] = 7  # a one-cell batch inside a label
        ref = _ref_bras(x, labels, batches, metric, mode)
        got = bras(x, labels, batches, metric=metric, between_cluster_distances=mode)
        assert got == pytest.approx(ref, abs=1e-9)


def test_bras_hand_computed():
    # one label, 1-D, Euclidean: batch a at 0 and 1, batch b at 3 and 5 (mean_other):
    # s = 3/4, 2/3, 1/5, 5/9 -> 1 - s averaged
    x = np.array([[0.0], [1.0], [3.0], [5.0], [7.0], [8.0]])
    labels = np.array([0, 0, 0, 0, 1, 1])
    batches = np.array(["a", "a", "b", "b", "a", "a"])  # label 1: one batch, skipped
    expected = np.mean([1 - 3 / 4, 1 - 2 / 3, 1 - 1 / 5, 1 - 5 / 9])
    assert bras(x, labels, batches, metric="euclidean") == pytest.approx(expected)
    with pytest.raises(InputError, match="batch"):
        bras(x, np.zeros(6), np.arange(6), metric="euclidean")
    with pytest.raises(InputError, match="all-zero"):
        bras(np.zeros((6, 2)), labels, batches)


def test_bras_properties(mixed, batchy):
    good = bras(mixed[0], mixed[1], mixed[2])
    bad = bras(batchy[0], batchy[1], batchy[2])
    assert 0.0 <= bad < good <= 1.0


# --------------------------------------------------------------------------------------------
# isolated labels
# --------------------------------------------------------------------------------------------
def test_isolated_labels_matches_sklearn(mixed):
    x, labels, batches, _ = mixed
    labels = labels.copy()
    batches = batches.copy()
    labels[:15] = 5
    batches[:15] = 0  # label 5 lives in one batch: the only isolated label
    labels[15:30] = 6
    batches[15:30] = 1  # and label 6 too
    s = (sk_silhouette_samples(x, labels) + 1) / 2
    ref = np.mean([s[labels == 5].mean(), s[labels == 6].mean()])
    assert isolated_labels(x, labels, batches, dtype=torch.float64) == pytest.approx(ref, abs=1e-9)
    assert isolated_labels(x, labels, batches) == pytest.approx(ref, abs=1e-6)
    # threshold 3: every label counts
    ref_all = np.mean([s[labels == g].mean() for g in np.unique(labels)])
    assert isolated_labels(x, labels, batches, iso_threshold=3) == pytest.approx(ref_all, abs=1e-6)
    raw = sk_silhouette_samples(x, labels)
    assert isolated_labels(x, labels, batches, rescale=False) == pytest.approx(
        np.mean([raw[labels == 5].mean(), raw[labels == 6].mean()]), abs=1e-6)
    with pytest.raises(InputError, match="iso_threshold"):
        isolated_labels(x, labels, batches, iso_threshold=0)


def test_isolated_labels_hand_selection():
    # labels A (batches 1, 2), B (batch 1), C (batch 2): B and C are isolated.  1-D points far
    # apart per label -> silhouettes close to 1 for all.
    x = np.array([[0.0], [0.1], [10.0], [10.1], [20.0], [20.1]])
    labels = np.array(["A", "A", "B", "B", "C", "C"])
    batches = np.array([1, 2, 1, 1, 2, 2])
    s = (sk_silhouette_samples(x, labels) + 1) / 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = isolated_labels(x, labels, batches)
    assert got == pytest.approx(np.mean([s[2:4].mean(), s[4:].mean()]), abs=1e-6)
