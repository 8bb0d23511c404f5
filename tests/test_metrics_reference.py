"""czbench's metric functions against independent references (scikit-learn, brute-force numpy).

Definitions: docs/spec.md (sections #silhouette_score, #batch_silhouette, #adjusted_rand_index,
#normalized_mutual_info, #entropy_per_cell, #shared-neighbourhood-graph). Every comparison here
uses a reference computed without czbench code (scikit-learn, or numpy written out in the test).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import (
    adjusted_rand_score,
    normalized_mutual_info_score,
)
from sklearn.metrics import silhouette_samples as sk_silhouette_samples
from sklearn.metrics import silhouette_score as sk_silhouette_score
from sklearn.neighbors import NearestNeighbors

import czbench.datasets as ds
from czbench.errors import InputError
from czbench.metrics import (
    adjusted_rand_index,
    batch_silhouette,
    entropy_per_cell,
    entropy_per_cell_values,
    normalized_mutual_info,
    silhouette_samples,
    silhouette_score,
)
from czbench.neighbors import knn_graph, refine_distances


@pytest.fixture(scope="module")
def pbmc():
    return ds.load("pbmc68k_reduced")


def _blobs(seed: int, n: int = 900, d: int = 12, n_groups: int = 5, spread: float = 0.6,
           offset: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """float64 Gaussian groups whose centres overlap partly (silhouettes of both signs)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, n_groups, n)
    centres = rng.normal(0.0, spread, (n_groups, d))
    x = centres[labels] + rng.normal(size=(n, d)) + offset
    return x, labels


def _silhouette_case() -> tuple[np.ndarray, np.ndarray]:
    """Groups incl. one with a single cell, data centred at +100 (exercises the centring)."""
    x, labels = _blobs(3, n=800, d=10, n_groups=4, spread=1.2, offset=100.0)
    labels = labels.astype(object)
    labels[17] = "alone"  # a group of one cell: s = 0 by scikit-learn's convention
    return x, labels.astype(str)


# --------------------------------------------------------------------------------------------
# silhouette
# --------------------------------------------------------------------------------------------

def test_silhouette_samples_float64_numpy_matches_sklearn():
    # float64 path: docs/spec.md#silhouette_score promises ~1e-12 agreement with
    # dtype=torch.float64. The input is a float64 numpy array, exactly what users pass.
    x, labels = _silhouette_case()
    ref = sk_silhouette_samples(x, labels)
    got = silhouette_samples(x, labels, dtype=torch.float64)
    assert got.dtype == np.float64 and got.shape == (len(x),)
    assert got[17] == 0.0
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-10)


def test_silhouette_samples_float64_torch_matches_sklearn():
    # same data handed over as a float64 tensor
    x, labels = _silhouette_case()
    ref = sk_silhouette_samples(x, labels)
    got = silhouette_samples(torch.from_numpy(x), labels, dtype=torch.float64)
    assert got[17] == 0.0
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-10)


def test_silhouette_samples_float32_default_matches_sklearn():
    x, labels = _silhouette_case()
    ref = sk_silhouette_samples(x, labels)
    got = silhouette_samples(x, labels)
    assert got[17] == 0.0
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-5)
    # the silhouettes really vary (positive and negative), so the comparison is not trivial
    assert ref.min() < -0.05 and ref.max() > 0.2


@pytest.mark.parametrize("dtype,atol", [(torch.float32, 1e-5), (torch.float64, 1e-12)])
def test_silhouette_samples_block_size_invariant(dtype, atol):
    x, labels = _silhouette_case()
    default = silhouette_samples(x, labels, dtype=dtype)
    small = silhouette_samples(x, labels, dtype=dtype, block_size=7)  # 800 = 114*7 + 2
    np.testing.assert_allclose(small, default, rtol=0, atol=atol)


def test_silhouette_samples_one_group_raises():
    x, _ = _blobs(0, n=30)
    with pytest.raises(InputError):
        silhouette_samples(x, np.zeros(30, dtype=int))


def test_silhouette_score_rescaled_sklearn_on_pbmc(pbmc):
    x = pbmc.obsm["X_pca"]
    labels = pbmc.obs["cell_type"].to_numpy()
    ref = (sk_silhouette_score(np.asarray(x, dtype=np.float64), labels) + 1.0) / 2.0
    assert silhouette_score(x, labels) == pytest.approx(ref, abs=1e-6)


def _batch_silhouette_reference(x: np.ndarray, labels: np.ndarray, batch: np.ndarray) -> float:
    """docs/spec.md#batch_silhouette: per cell type, s(i) with groups = batch inside the type,
    1 - |s|, mean in the type; mean over types; types with one batch or all-singleton batches
    skipped."""
    per_type = []
    for c in np.unique(labels):
        mask = labels == c
        b = batch[mask]
        n_b = len(np.unique(b))
        if n_b == 1 or n_b == mask.sum():
            continue
        s = sk_silhouette_samples(x[mask], b)
        per_type.append(np.mean(1.0 - np.abs(s)))
    return float(np.mean(per_type))


def test_batch_silhouette_matches_bruteforce():
    rng = np.random.default_rng(11)
    n = 900
    labels = rng.choice(np.array(["T", "B", "NK", "Mono"]), n)
    batch = rng.choice(np.array(["b1", "b2", "b3"]), n)
    # "NK": a single batch -> skipped
    batch[labels == "NK"] = "b2"
    # "Solo": 5 cells each in its own batch -> skipped
    labels[:5] = "Solo"
    batch[:5] = ["s1", "s2", "s3", "s4", "s5"]
    # "Pair": one batch with one cell and one with several (a singleton group inside a type)
    labels[5:12] = "Pair"
    batch[5:12] = ["b1", "b3", "b3", "b3", "b3", "b3", "b3"]
    centres = {c: rng.normal(0, 3, 8) for c in np.unique(labels)}
    shifts = {b: rng.normal(0, 0.7, 8) for b in np.unique(batch)}
    x = np.stack([centres[c] + shifts[b] for c, b in zip(labels, batch, strict=True)])
    x = x + rng.normal(size=x.shape)
    ref = _batch_silhouette_reference(x, labels, batch)
    assert batch_silhouette(x, labels, batch) == pytest.approx(ref, abs=1e-6)
    # on float64 tensors it is exact
    got64 = batch_silhouette(torch.from_numpy(x), labels, batch, dtype=torch.float64)
    assert got64 == pytest.approx(ref, abs=1e-10)


def test_batch_silhouette_no_mixed_type_raises():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3))
    labels = np.repeat(["a", "b"], 20)
    batch = np.repeat(["x", "y"], 20)  # every type lies in a single batch
    with pytest.raises(InputError):
        batch_silhouette(x, labels, batch)


# --------------------------------------------------------------------------------------------
# ARI / NMI
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_ari_nmi_random_labelings_match_sklearn(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(50, 3000))
    a = rng.integers(0, int(rng.integers(2, 30)), n)
    # partially agreeing second labeling
    b = np.where(rng.random(n) < 0.5, a, rng.integers(0, int(rng.integers(2, 30)), n))
    assert adjusted_rand_index(a, b) == pytest.approx(adjusted_rand_score(a, b), abs=1e-12)
    assert normalized_mutual_info(a, b) == pytest.approx(normalized_mutual_info_score(a, b),
                                                         abs=1e-12)
    # independent labelings (near zero, can be negative)
    c = rng.integers(0, 7, n)
    assert adjusted_rand_index(a, c) == pytest.approx(adjusted_rand_score(a, c), abs=1e-12)
    assert normalized_mutual_info(a, c) == pytest.approx(normalized_mutual_info_score(a, c),
                                                         abs=1e-12)


@pytest.mark.parametrize("seed", [5, 6])
def test_ari_nmi_string_labels_match_sklearn(seed):
    rng = np.random.default_rng(seed)
    names = np.array(["T cell", "B cell", "NK", "Mono", "DC", "pDC"])
    clusters = np.array([f"c{i}" for i in range(9)])
    n = 1200
    a = rng.choice(names, n)
    b = rng.choice(clusters, n)
    b[:600] = np.char.add("c", (np.searchsorted(np.sort(names), a[:600])).astype(str))
    assert adjusted_rand_index(a, b) == pytest.approx(adjusted_rand_score(a, b), abs=1e-12)
    assert normalized_mutual_info(a, b) == pytest.approx(normalized_mutual_info_score(a, b),
                                                         abs=1e-12)
    # a relabelled (permuted names) copy is perfect agreement
    mapping = dict(zip(names, names[::-1], strict=True))
    a2 = np.array([mapping[v] + "_x" for v in a])
    assert adjusted_rand_index(a, a2) == pytest.approx(1.0, abs=1e-12)
    assert normalized_mutual_info(a, a2) == pytest.approx(1.0, abs=1e-12)


def _trivial_cases():
    n = 40
    rng = np.random.default_rng(9)
    one = np.zeros(n, dtype=int)
    single = np.arange(n)
    rand = rng.integers(0, 4, n)
    return {
        "one-one": (one, one.copy() + 7),
        "singletons-singletons": (single, single[::-1].copy()),
        "one-singletons": (one, single),
        "singletons-one": (single, one),
        "one-random": (one, rand),
        "random-one": (rand, one),
        "singletons-random": (single, rand),
        "identical": (rand, rand.copy()),
        "one-cell": (np.array([3]), np.array([5])),
        "two-cells-split": (np.array([0, 0]), np.array([0, 1])),
    }


@pytest.mark.parametrize("case", list(_trivial_cases()))
def test_ari_nmi_trivial_cases_match_sklearn(case):
    a, b = _trivial_cases()[case]
    assert adjusted_rand_index(a, b) == pytest.approx(adjusted_rand_score(a, b), abs=1e-12)
    assert normalized_mutual_info(a, b) == pytest.approx(normalized_mutual_info_score(a, b),
                                                         abs=1e-12)


def _ari_exact(a: np.ndarray, b: np.ndarray) -> float:
    """docs/spec.md#adjusted_rand_index written out with Python integers (no overflow)."""
    _, ca = np.unique(a, return_inverse=True)
    _, cb = np.unique(b, return_inverse=True)
    table = np.bincount(ca * (cb.max() + 1) + cb).tolist()
    rows = np.bincount(ca).tolist()
    cols = np.bincount(cb).tolist()

    def pairs(m: int) -> int:
        return m * (m - 1) // 2

    index = sum(pairs(int(v)) for v in table)
    sum_a = sum(pairs(int(v)) for v in rows)
    sum_b = sum(pairs(int(v)) for v in cols)
    expected = sum_a * sum_b / pairs(len(a))
    maximum = (sum_a + sum_b) / 2
    return (index - expected) / (maximum - expected)


def test_ari_nmi_200k_cells_exact():
    # torchmetrics 1.9.0's AdjustedRandScore overflows its integer pair counts around 1e5 cells
    # (-12.4 at 100,000 cells; docs/spec.md#adjusted_rand_index and the traps of the clustering
    # task): any pair-counting score must be tested at >= 100k cells. czbench now wraps
    # scikit-learn (exact integer pair counts); this guards against a regression to a
    # hand-written overflowing version. Pair counts here reach n^2/2 = 2e10, far beyond int32.
    rng = np.random.default_rng(123)
    n = 200_000
    a = rng.integers(0, 15, n)
    b = np.where(rng.random(n) < 0.7, a, rng.integers(0, 15, n))
    ari = adjusted_rand_index(a, b)
    nmi = normalized_mutual_info(a, b)
    assert ari == pytest.approx(adjusted_rand_score(a, b), abs=1e-12)
    assert nmi == pytest.approx(normalized_mutual_info_score(a, b), abs=1e-12)
    assert ari == pytest.approx(_ari_exact(a, b), abs=1e-12)
    assert 0.3 < ari < 1.0 and 0.3 < nmi < 1.0
    # few large clusters: the largest pair counts
    c = (a < 3).astype(int)
    d = (b < 3).astype(int)
    assert adjusted_rand_index(c, d) == pytest.approx(adjusted_rand_score(c, d), abs=1e-12)
    assert adjusted_rand_index(c, d) == pytest.approx(_ari_exact(c, d), abs=1e-12)
    assert normalized_mutual_info(c, d) == pytest.approx(normalized_mutual_info_score(c, d),
                                                         abs=1e-12)
    assert adjusted_rand_index(a, a) == 1.0


def test_ari_length_mismatch_raises():
    with pytest.raises(InputError):
        adjusted_rand_index([0, 1, 1], [0, 1])
    with pytest.raises(InputError):
        normalized_mutual_info([0, 1, 1], [0, 1])


# --------------------------------------------------------------------------------------------
# entropy_per_cell
# --------------------------------------------------------------------------------------------

def _entropy_reference(x: np.ndarray, batch: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-cell normalised batch entropy in the k-NN (self included), brute force; and the
    neighbour index sets used."""
    k = min(k, len(x))
    nn = NearestNeighbors(n_neighbors=k, algorithm="brute").fit(x)
    _, idx = nn.kneighbors(x)
    _, codes = np.unique(batch, return_inverse=True)
    n_b = codes.max() + 1
    values = np.empty(len(x))
    for i in range(len(x)):
        p = np.bincount(codes[idx[i]], minlength=n_b) / k
        p = p[p > 0]
        values[i] = -(p * np.log(p)).sum() / np.log(n_b)
    return values, idx


def test_entropy_per_cell_matches_bruteforce():
    rng = np.random.default_rng(21)
    n = 1000
    batch = rng.choice(np.array(["p", "q", "r"]), n, p=[0.5, 0.3, 0.2])
    shift = {"p": 0.0, "q": 0.8, "r": 1.6}
    x = rng.normal(size=(n, 6))
    x[:, 0] += np.array([shift[b] for b in batch])
    ref_values, ref_idx = _entropy_reference(x, batch, 200)
    knn = knn_graph(x, 200)
    got_values = entropy_per_cell_values(knn, batch)
    same = np.array([set(knn.indices[i]) == set(ref_idx[i]) for i in range(n)])
    # float32 ranking may swap the 200th/201st neighbour on a few rows at most
    assert same.mean() >= 0.995
    np.testing.assert_allclose(got_values[same], ref_values[same], rtol=0, atol=1e-12)
    mean = entropy_per_cell(x, batch)
    assert mean == pytest.approx(got_values.mean(), abs=1e-15)
    assert mean == pytest.approx(ref_values.mean(), abs=1e-12 + (~same).mean())
    # real structure: not all cells are equally mixed
    assert ref_values.std() > 0.01
    # a precomputed larger graph gives the same value
    assert entropy_per_cell(x, batch, knn=knn_graph(x, 250)) == pytest.approx(mean, abs=1e-15)


def test_entropy_per_cell_k_capped_at_n():
    rng = np.random.default_rng(2)
    n = 50
    x = rng.normal(size=(n, 4))
    batch = np.array(["a"] * 10 + ["b"] * 15 + ["c"] * 25)
    p = np.array([10, 15, 25]) / n
    expected = -(p * np.log(p)).sum() / np.log(3)  # every cell sees all 50 cells
    ref_values, _ = _entropy_reference(x, batch, 200)
    np.testing.assert_allclose(ref_values, expected, rtol=0, atol=1e-12)
    assert entropy_per_cell(x, batch) == pytest.approx(expected, abs=1e-12)
    assert entropy_per_cell(x, batch, k=200) == pytest.approx(expected, abs=1e-12)


def test_entropy_per_cell_one_batch_raises():
    x = np.random.default_rng(0).normal(size=(60, 3))
    with pytest.raises(InputError):
        entropy_per_cell(x, np.array(["only"] * 60))


# --------------------------------------------------------------------------------------------
# kNN graph
# --------------------------------------------------------------------------------------------

def test_knn_graph_matches_sklearn_brute():
    rng = np.random.default_rng(31)
    n, d, k = 3000, 16, 15
    x = rng.normal(size=(n, d)) * rng.uniform(0.5, 2.0, d) + 5.0
    knn = knn_graph(x, k)
    assert knn.indices.shape == (n, k) and knn.distances.shape == (n, k)
    assert knn.indices.dtype == np.int64 and knn.distances.dtype == np.float64
    np.testing.assert_array_equal(knn.indices[:, 0], np.arange(n))
    assert np.all(knn.distances[:, 0] == 0.0)
    assert np.all(np.diff(knn.distances, axis=1) >= 0)

    ref_dist, ref_idx = NearestNeighbors(n_neighbors=k, algorithm="brute").fit(x).kneighbors(x)
    same = np.array([set(knn.indices[i]) == set(ref_idx[i]) for i in range(n)])
    assert same.mean() >= 0.999

    refined = refine_distances(knn, x)
    np.testing.assert_array_equal(refined.indices[:, 0], np.arange(n))
    assert np.all(refined.distances[:, 0] == 0.0)
    # column 0 (self) is checked above: sklearn's own self-distance is not exactly 0 (its
    # |x|^2 + |y|^2 - 2xy form leaves ~1e-7 there), so compare the true neighbours only
    np.testing.assert_allclose(refined.distances[same, 1:], ref_dist[same, 1:], rtol=0,
                               atol=1e-9)
    np.testing.assert_array_equal(ref_idx[:, 0], np.arange(n))
    # refined distances are the float64 distances of the listed neighbours, sorted
    direct = np.linalg.norm(x[refined.indices] - x[:, None, :], axis=2)
    np.testing.assert_allclose(refined.distances, direct, rtol=0, atol=1e-12)
    assert np.all(np.diff(refined.distances, axis=1) >= 0)
    # refining keeps the neighbour sets
    assert all(set(a) == set(b) for a, b in zip(refined.indices, knn.indices, strict=True))
    # float32 distances of the raw graph are close
    np.testing.assert_allclose(knn.distances, np.sort(
        np.linalg.norm(x[knn.indices] - x[:, None, :], axis=2), axis=1), atol=1e-3)


def test_knn_graph_block_size_invariant():
    rng = np.random.default_rng(32)
    x = rng.normal(size=(500, 8))
    full = knn_graph(x, 10)
    blocked = knn_graph(x, 10, block_size=7)
    same = np.array([set(a) == set(b) for a, b in
                     zip(full.indices, blocked.indices, strict=True)])
    assert same.mean() >= 0.99
    np.testing.assert_array_equal(blocked.indices[:, 0], np.arange(500))


def test_knn_graph_duplicates_keep_self_first():
    rng = np.random.default_rng(33)
    base = rng.normal(size=(300, 5)) + 50.0
    # 100 points duplicated once, 20 points present three times
    x = np.concatenate([base, base[:100], base[200:220], base[200:220]])
    n = len(x)
    knn = knn_graph(x, 6)
    np.testing.assert_array_equal(knn.indices[:, 0], np.arange(n))
    refined = refine_distances(knn, x)
    np.testing.assert_array_equal(refined.indices[:, 0], np.arange(n))
    assert np.all(refined.distances[:, 0] == 0.0)
    # every copy of a point lists the other copies right after itself, at distance 0
    groups = {}
    for i, row in enumerate(x):
        groups.setdefault(row.tobytes(), []).append(i)
    for members in groups.values():
        for i in members:
            twins = set(members) - {i}
            m = len(twins)
            assert set(refined.indices[i, 1:1 + m]) == twins
            assert np.all(refined.distances[i, 1:1 + m] == 0.0)
            if m:
                assert refined.distances[i, 1 + m] > 0


def test_knn_graph_k_capped_and_invalid():
    x = np.random.default_rng(0).normal(size=(12, 3))
    knn = knn_graph(x, 50)
    assert knn.k == 12
    assert all(set(row) == set(range(12)) for row in knn.indices)
    with pytest.raises(InputError):
        knn_graph(x, 0)
    with pytest.raises(InputError):
        knn.head(13)


def test_batch_silhouette_ignores_unused_categories_of_a_categorical_batch():
    """docs/differences.md: scib-metrics / cz-benchmarks encode each type's batches with
    ``pd.Categorical(batch).codes``, so a batch category absent from a type stays a zero-cell
    group and that type scores exactly 1.0. czbench keeps the definition: the categories a type
    lacks do not exist for it, and the value equals scikit-learn's on the cells present."""
    import pandas as pd

    rng = np.random.default_rng(4)
    labels = np.array(["A"] * 60 + ["B"] * 60 + ["HSC"] * 3)
    batch = np.array(list(rng.choice(["b1", "b2", "b3"], 120)) + ["b1", "b1", "b2"])
    x = rng.normal(size=(123, 6)) + (batch == "b1")[:, None] * 0.8
    categorical = pd.Categorical(batch, categories=["b1", "b2", "b3"])
    ref = _batch_silhouette_reference(x, labels, batch)
    assert batch_silhouette(x, labels, categorical) == pytest.approx(ref, abs=1e-6)
    assert batch_silhouette(x, labels, batch) == pytest.approx(ref, abs=1e-6)
    hsc = sk_silhouette_samples(x[labels == "HSC"], batch[labels == "HSC"])
    assert np.mean(1 - np.abs(hsc)) < 1.0  # the reference's value for HSC would be 1.0
