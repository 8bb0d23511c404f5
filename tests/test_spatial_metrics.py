"""Spatial metrics and kernels against brute force (scipy distance matrices, scikit-learn,
SDMBench's definitions written out cell by cell) and on properties that could fail."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial import distance_matrix
from scipy.spatial.distance import jensenshannon
from sklearn.metrics import r2_score

from czbench.errors import InputError
from czbench.metrics.spatial import (
    blocked_folds,
    chaos,
    mean_js_distance,
    mean_r2,
    neighborhood_composition,
    pas,
)
from czbench.neighbors.spatial import check_coordinates, spatial_neighbors, spatial_tiles


@pytest.fixture
def tissue():
    rng = np.random.default_rng(3)
    xy = rng.uniform(0, 500, (300, 2))
    labels = (xy[:, 0] > 250).astype(int) * 2 + (xy[:, 1] > 250) + \
        (rng.random(300) < 0.15) * rng.integers(0, 4, 300)
    return xy, labels % 4


def test_knn_and_radius_neighbours_match_brute_force(tissue):
    xy, _ = tissue
    d = distance_matrix(xy, xy)
    np.fill_diagonal(d, np.inf)
    adjacency = spatial_neighbors(xy, n_neighbors=7)
    for i in range(len(xy)):
        assert set(adjacency[i].indices) == set(np.argsort(d[i])[:7])
    within = spatial_neighbors(xy, radius=40.0)
    for i in range(len(xy)):
        assert set(within[i].indices) == set(np.flatnonzero(d[i] <= 40.0))
    assert adjacency.diagonal().sum() == 0 and within.diagonal().sum() == 0


def test_duplicate_points_never_count_a_cell_as_its_own_neighbour():
    xy = np.array([[0.0, 0.0], [0.0, 0.0], [0.0, 0.0], [5.0, 5.0], [9.0, 1.0]])
    adjacency = spatial_neighbors(xy, n_neighbors=2)
    assert adjacency.diagonal().sum() == 0
    assert all(adjacency[i].nnz == 2 for i in range(5))
    assert set(adjacency[0].indices) == {1, 2}


def test_composition_is_the_neighbours_type_shares(tissue):
    xy, labels = tissue
    adjacency = spatial_neighbors(xy, n_neighbors=10)
    got = neighborhood_composition(adjacency, labels)
    d = distance_matrix(xy, xy)
    np.fill_diagonal(d, np.inf)
    for i in range(0, 300, 17):
        near = labels[np.argsort(d[i])[:10]]
        np.testing.assert_allclose(got[i], np.bincount(near, minlength=4) / 10)
    np.testing.assert_allclose(got.sum(axis=1), 1.0)
    lonely = neighborhood_composition(spatial_neighbors(xy, radius=1e-3), labels)
    assert np.isnan(lonely).all()  # a radius that catches no neighbour: no composition


def test_blocked_folds_keep_tiles_whole_are_seeded_and_cover_every_cell(tissue):
    xy, _ = tissue
    tiles = spatial_tiles(xy, 4)
    assert set(np.unique(tiles)) <= set(range(16))
    folds = blocked_folds(tiles, 5, seed=0)
    tested = np.concatenate([test for _, test in folds])
    assert np.array_equal(np.sort(tested), np.arange(300))
    for train, test in folds:
        assert not set(tiles[train]) & set(tiles[test])
    again = blocked_folds(tiles, 5, seed=0)
    other = blocked_folds(tiles, 5, seed=1)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(folds, again, strict=True))
    assert not all(np.array_equal(a[1], b[1]) for a, b in zip(folds, other, strict=True))
    with pytest.raises(InputError, match="n_tiles: 1 non-empty"):
        blocked_folds(spatial_tiles(xy, 1), 5, seed=0)  # a single tile


def test_mean_r2_and_js_distance_match_scikit_learn_and_scipy():
    rng = np.random.default_rng(0)
    true = rng.dirichlet(np.ones(5), 200)
    predicted = true + rng.normal(0, 0.05, true.shape)
    assert mean_r2(true, predicted) == pytest.approx(
        r2_score(true, predicted, multioutput="uniform_average"), rel=1e-12)
    assert mean_r2(true, true) == 1.0
    q = np.clip(predicted, 0, None)
    q /= q.sum(axis=1, keepdims=True)
    expected = np.mean([jensenshannon(a, b, base=2) for a, b in zip(true, q, strict=True)])
    assert mean_js_distance(true, predicted) == pytest.approx(expected, rel=1e-9)
    assert mean_js_distance(true, true) == pytest.approx(0.0, abs=1e-7)
    disjoint = np.eye(2)
    assert mean_js_distance(disjoint, disjoint[::-1]) == pytest.approx(1.0)


def _chaos_brute(labels, xy):
    z = (xy - xy.mean(0)) / xy.std(0)
    total = 0.0
    for k in np.unique(labels):
        members = z[labels == k]
        if len(members) <= 2:
            continue
        d = distance_matrix(members, members)
        np.fill_diagonal(d, np.inf)
        total += d.min(axis=1).sum()
    return total / len(labels)


def _pas_brute(labels, xy, k=10):
    d = distance_matrix(xy, xy)
    np.fill_diagonal(d, np.inf)
    return np.mean([np.sum(labels[np.argsort(d[i])[:k]] != labels[i]) > k / 2
                    for i in range(len(labels))])


def test_chaos_and_pas_match_sdmbench_written_out(tissue):
    xy, labels = tissue
    labels = labels.copy()
    labels[:2] = 9  # a cluster of 2 cells: skipped by CHAOS, as in SDMBench
    assert chaos(labels, xy) == pytest.approx(_chaos_brute(labels, xy), rel=1e-12)
    assert pas(labels, xy) == pytest.approx(_pas_brute(labels, xy))
    noise = np.random.default_rng(1).integers(0, 4, len(labels))
    assert chaos(labels, xy) < chaos(noise, xy) and pas(labels, xy) < pas(noise, xy)


@pytest.mark.parametrize(("coords", "needle"), [
    (np.zeros(10), "expected cells x 2"),
    (np.zeros((10, 3)), "expected cells x 2"),
    (np.array([[0.0, 1.0], [np.nan, 2.0], [3.0, 4.0]]), "1 cells have missing"),
    (np.ones((10, 2)), "same point"),
])
def test_hostile_coordinates_are_one_line_errors(coords, needle):
    with pytest.raises(InputError, match=needle) as err:
        check_coordinates(coords)
    assert "\n" not in str(err.value)
