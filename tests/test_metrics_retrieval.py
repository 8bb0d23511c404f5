"""Replicate retrieval (copairs' mean average precision, "phenotypic activity" setting) against
references written out here: a plain per-query loop from the published definition, hand-worked
rankings, the closed-form expectation of AP under random ranking, a brute-force
Benjamini-Hochberg, and values produced by copairs 0.5.2 itself on fixed inputs.

Definition: docs/spec.md#mean_average_precision
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import false_discovery_control

from czbench.context import RunCache
from czbench.errors import CZBenchWarning, InputError
from czbench.metrics import retrieval
from czbench.metrics.retrieval import (
    APTable,
    average_precision,
    benjamini_hochberg,
    fraction_retrieved,
    mean_average_precision,
    null_distributions,
)


def brute_force_ap(x, labels, control) -> dict[int, float]:
    """Per-query AP from the definition, in plain Python: rank the other replicates and the
    controls by cosine similarity (descending), then average the precision at each positive's
    rank; a positive tied with negatives gets its precision averaged over every order of its
    tie group (position j uniform, positives before it hypergeometric)."""
    rows = [[float(v) for v in row] for row in np.asarray(x)]
    unit = [[v / math.sqrt(sum(w * w for w in row)) for v in row] for row in rows]
    out = {}
    for i, label in enumerate(labels):
        if label == control:
            continue
        ranked = []
        for j, other in enumerate(labels):
            if j != i and other in (label, control):
                sim = round(sum(a * b for a, b in zip(unit[i], unit[j], strict=True)), 12)
                ranked.append((sim, other == label))
        precisions = []
        for sim, positive in ranked:
            if not positive:
                continue
            a = sum(1 for s, _ in ranked if s > sim)
            c = sum(1 for s, pos in ranked if s > sim and pos)
            t = sum(1 for s, _ in ranked if s == sim)
            p = sum(1 for s, pos in ranked if s == sim and pos)
            expected = 0.0
            for j in range(1, t + 1):  # this positive's place in its tie group
                for m in range(p):  # other positives of the group before it
                    weight = math.comb(j - 1, m) * math.comb(t - j, p - 1 - m) / \
                        math.comb(t - 1, p - 1)
                    expected += weight * (c + 1 + m) / (a + j) / t
            precisions.append(expected)
        out[i] = sum(precisions) / len(precisions)
    return out


def random_ap_expectation(n_pos: int, n_total: int) -> float:
    """E[AP] of a uniformly random ranking: a positive at rank k (uniform on 1..N) has on
    average (k-1)(R-1)/(N-1) positives above it, so E = (H_N + (R-1)/(N-1) (N - H_N)) / N."""
    harmonic = sum(1 / k for k in range(1, n_total + 1))
    return (harmonic + (n_pos - 1) / (n_total - 1) * (n_total - harmonic)) / n_total


def _profiles(seed: int, sizes, n_ctrl: int, d: int = 8, effect: float = 0.8):
    rng = np.random.default_rng(seed)
    x, labels = [], []
    for k, size in enumerate(sizes):
        x.append(effect * rng.normal(size=d) + rng.normal(size=(size, d)))
        labels += [f"p{k}"] * size
    x.append(rng.normal(size=(n_ctrl, d)))
    labels += ["DMSO"] * n_ctrl
    order = rng.permutation(len(labels))
    return np.concatenate(x)[order], np.array(labels, dtype=object)[order]


def _exact_vectors():
    """54 profiles whose unit vectors and dot products are exact in binary: many exact ties."""
    signs = np.array([[(s >> b) & 1 for b in range(4)] for s in range(16)]) * 2 - 1
    basis = np.concatenate([np.eye(4), -np.eye(4), signs])
    rows, labels = [], []
    for k, size in enumerate([2, 3, 4, 5, 6, 2, 3, 4, 5, 6]):
        for i in range(size):
            shift = 0 if (k % 3 == 0 or i % 3 == 0) else (i * 7 + k) % 24
            rows.append(basis[(5 * k + shift) % 24])
            labels.append(f"p{k}")
    for i in range(14):
        rows.append(basis[(7 * i + 2) % 24])
        labels.append("DMSO")
    order = [(11 * i) % len(rows) for i in range(len(rows))]
    return np.array(rows, dtype=float)[order], np.array(labels, dtype=object)[order]


# --------------------------------------------------------------------------------------------
# average precision
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("seed, sizes, n_ctrl", [(0, [2, 3, 5, 8], 12), (1, [4] * 6, 30),
                                                 (2, [2, 17, 3], 5)])
def test_ap_equals_the_brute_force_loop(seed, sizes, n_ctrl):
    x, labels = _profiles(seed, sizes, n_ctrl)
    table = average_precision(x, labels, "DMSO")
    reference = brute_force_ap(x, labels, "DMSO")
    assert list(table.query) == sorted(reference)
    np.testing.assert_allclose(table.ap, [reference[i] for i in table.query], rtol=0, atol=1e-12)
    assert list(table.perturbation) == [labels[i] for i in table.query]
    sizes_of = {lab: int((labels == lab).sum()) for lab in set(labels)}
    assert list(table.n_pos) == [sizes_of[labels[i]] - 1 for i in table.query]
    assert list(table.n_total) == [sizes_of[labels[i]] - 1 + n_ctrl for i in table.query]


def test_ap_blocks_and_chunks_do_not_change_values(monkeypatch):
    """Tiny blocks: perturbations share blocks, and large ones are split into row chunks."""
    x, labels = _profiles(3, [2, 3, 9, 4, 2], 10)
    expected = average_precision(x, labels, "DMSO").ap
    monkeypatch.setattr(retrieval, "_BLOCK", 40)  # at most 4 query rows per block
    np.testing.assert_array_equal(average_precision(x, labels, "DMSO").ap, expected)
    reference = brute_force_ap(x, labels, "DMSO")
    np.testing.assert_allclose(expected, [reference[i] for i in sorted(reference)], atol=1e-12)


def test_ties_are_averaged_like_the_brute_force_loop():
    x, labels = _exact_vectors()
    table = average_precision(x, labels, "DMSO")
    reference = brute_force_ap(x, labels, "DMSO")
    np.testing.assert_allclose(table.ap, [reference[i] for i in table.query], atol=1e-12)


def test_hand_computed_ranks():
    # q = e1; positives at angles 10 and 60 degrees, negatives at 30 and 90 degrees:
    # ranks P N P N -> AP(q) = (1/1 + 2/3) / 2
    deg = np.deg2rad([0, 10, 60, 30, 90])
    x = np.stack([np.cos(deg), np.sin(deg)], axis=1)
    table = average_precision(x, ["a", "a", "a", "DMSO", "DMSO"], "DMSO")
    assert table.ap[list(table.query).index(0)] == pytest.approx(5 / 6, abs=1e-15)
    assert table.n_pos[0] == 2 and table.n_total[0] == 4


def test_hand_computed_ties():
    # q = e1; positives (1,1,1,1)/2 (sim 0.5) and e2 (sim 0); negatives (1,1,1,-1)/2 and
    # (1,-1,1,1)/2 (both sim 0.5, tied with the first positive). The tie {P, N, N} is
    # averaged: the positive's precision is (1/1 + 1/2 + 1/3) / 3 = 11/18 (copairs' positive-
    # first order would give 1), the second positive's 2/4 -> AP = (11/18 + 1/2) / 2 = 5/9
    x = np.array([[1, 0, 0, 0], [1, 1, 1, 1], [0, 1, 0, 0], [1, 1, 1, -1], [1, -1, 1, 1]],
                 dtype=float)
    table = average_precision(x, ["a", "a", "a", "DMSO", "DMSO"], "DMSO")
    assert table.ap[0] == pytest.approx(5 / 9, abs=1e-14)


def test_tied_ranks_equal_the_mean_over_every_order():
    from itertools import permutations, product

    from czbench.metrics.retrieval import _ap_rows

    rng = np.random.default_rng(0)
    for _ in range(100):
        pos = np.sort(rng.integers(0, 3, rng.integers(1, 4)).astype(float))[::-1]
        neg = np.sort(rng.integers(0, 3, rng.integers(1, 4)).astype(float))
        values = sorted(set(pos) | set(neg), reverse=True)
        groups = [[1] * int((pos == v).sum()) + [0] * int((neg == v).sum()) for v in values]
        aps = []
        for order in product(*[sorted(set(permutations(g))) for g in groups]):
            labels = [lab for group in order for lab in group]
            hits = np.cumsum(labels)
            aps.append(sum(h / k for k, (h, lab) in enumerate(zip(hits, labels, strict=True), 1)
                            if lab)
                       / len(pos))
        assert _ap_rows(pos[None].copy(), neg[None].copy())[0] == pytest.approx(
            np.mean(aps), abs=1e-12)


def test_identical_wells_do_not_score_retrieval_and_warn():
    # every well the same vector but one control: no separation, so mAP must be chance level
    rng = np.random.default_rng(1)
    labels = np.array(["DMSO"] * 12 + [f"p{i // 4}" for i in range(24)], dtype=object)
    x = np.tile(rng.normal(size=(1, 6)), (36, 1))
    x[0] += 1.0
    with pytest.warns(CZBenchWarning, match="equal a control's"):
        table = average_precision(x * 3.0, labels, "DMSO")
    result = mean_average_precision(table, null_size=200, seed=0)
    assert result.mean_average_precision.max() < 0.5
    assert fraction_retrieved(result) == 0.0
    scaled = np.tile(rng.normal(size=(1, 6)), (36, 1)) * rng.uniform(0.1, 9, size=(36, 1))
    with pytest.warns(CZBenchWarning, match="equal a control's"):
        table = average_precision(scaled, labels, "DMSO")
    assert fraction_retrieved(mean_average_precision(table, null_size=200, seed=0)) == 0.0


@pytest.mark.parametrize("null_size,threshold", [(19, 0.05), (1, 0.05), (9, 0.1), (0, 0.05)])
def test_a_null_size_that_cannot_retrieve_is_an_error(null_size, threshold):
    x, labels = _profiles(0, [3, 4], 6)
    table = average_precision(x, labels, "DMSO")
    with pytest.raises(InputError, match="^null_size: "):
        mean_average_precision(table, null_size=null_size, threshold=threshold)
    mean_average_precision(table, null_size=int(round(1 / threshold)), threshold=threshold)


def test_ap_is_invariant_to_scale_dtype_and_profile_order():
    x, labels = _profiles(4, [3, 4, 5], 9)
    x = x.astype(np.float32)
    base = average_precision(x, labels, "DMSO")
    np.testing.assert_array_equal(average_precision(x.astype(np.float64) * 1e200, labels,
                                                    "DMSO").ap, base.ap)
    order = np.random.default_rng(0).permutation(len(labels))
    moved = average_precision(x[order], list(labels[order]), "DMSO")
    np.testing.assert_allclose(moved.ap, base.ap[np.searchsorted(base.query, order[moved.query])],
                               atol=1e-12)


# --------------------------------------------------------------------------------------------
# mean average precision, null, p-values
# --------------------------------------------------------------------------------------------

def test_perfectly_separated_replicates_are_all_retrieved():
    rng = np.random.default_rng(5)
    centres = np.eye(20, 24) * 10
    x = np.concatenate([np.repeat(centres, 5, axis=0) + 0.01 * rng.normal(size=(100, 24)),
                        rng.normal(size=(30, 24)) + np.r_[np.zeros(20), np.full(4, 10.0)]])
    labels = [f"p{k}" for k in np.repeat(np.arange(20), 5)] + ["DMSO"] * 30
    result = mean_average_precision(average_precision(x, labels, "DMSO"), null_size=1000, seed=1)
    np.testing.assert_array_equal(result.mean_average_precision, 1.0)
    np.testing.assert_array_equal(result.p_value, 1 / 1001)
    assert result.retrieved.all() and fraction_retrieved(result) == 1.0


def test_shuffled_labels_give_the_random_expectation_and_few_retrieved():
    x, labels = _profiles(6, [5] * 40, 50, effect=1.5)
    labels = np.random.default_rng(7).permutation(labels)
    table = average_precision(x, labels, "DMSO")
    result = mean_average_precision(table, null_size=2000, seed=0)
    expected = random_ap_expectation(4, 54)
    assert result.mean_average_precision.mean() == pytest.approx(expected, abs=0.03)
    assert fraction_retrieved(result) <= 0.1
    assert 0.2 < np.median(result.p_value) < 0.8


def test_null_distribution_has_the_random_expectation():
    null = null_distributions(np.array([[1, 10], [4, 54]]), 20000, seed=3)
    assert null.dtype == np.float32 and null.shape == (2, 20000)
    for row, (n_pos, n_total) in zip(null, [(1, 10), (4, 54)], strict=True):
        assert row.mean() == pytest.approx(random_ap_expectation(n_pos, n_total), abs=0.005)
    # one positive among 10: AP = 1/rank, each rank equally likely
    values, counts = np.unique(null[0], return_counts=True)
    np.testing.assert_allclose(values, np.float32(1 / np.arange(10, 0, -1)))
    assert counts.min() > 1800


def test_same_seed_same_p_values_and_different_seed_different_draws():
    x, labels = _profiles(8, [2, 3, 4, 3, 2, 5], 15, effect=0.5)
    table = average_precision(x, labels, "DMSO")
    first = mean_average_precision(table, null_size=500, seed=11)
    again = mean_average_precision(table, null_size=500, seed=11)
    other = mean_average_precision(table, null_size=500, seed=12)
    np.testing.assert_array_equal(first.p_value, again.p_value)
    np.testing.assert_array_equal(first.corrected_p_value, again.corrected_p_value)
    assert not np.array_equal(first.p_value, other.p_value)
    confs = np.unique(np.stack([table.n_pos, table.n_total], axis=1), axis=0)
    a, b = null_distributions(confs, 500, 11), null_distributions(confs, 500, 12)
    assert all(not np.array_equal(ra, rb) for ra, rb in zip(a, b, strict=True))
    np.testing.assert_array_equal(a, null_distributions(confs, 500, 11))  # drawn again
    cache = RunCache()  # a run's cache: drawn once per configuration, then reused
    kept = null_distributions(confs, 500, 11, cache=cache)
    np.testing.assert_array_equal(a, kept)
    np.testing.assert_array_equal(a, null_distributions(confs, 500, 11, cache=cache))
    assert sum(cache.computed.values()) == len(confs)


def test_map_is_the_mean_ap_and_p_value_counts_the_null():
    x, labels = _profiles(9, [3, 6, 2, 4], 11, effect=0.6)
    table = average_precision(x, labels, "DMSO")
    result = mean_average_precision(table, null_size=300, seed=2, threshold=0.2)
    confs, conf_ix = np.unique(np.stack([table.n_pos, table.n_total], axis=1), axis=0,
                               return_inverse=True)
    nulls = null_distributions(confs, 300, 2).astype(np.float64)
    for g, pert in enumerate(result.perturbation):
        mine = table.perturbation == pert
        assert result.mean_average_precision[g] == pytest.approx(table.ap[mine].mean(),
                                                                 abs=1e-15)
        null_map = nulls[conf_ix.ravel()[mine]].mean(axis=0)
        above = (null_map > result.mean_average_precision[g] + 1e-6).sum()
        at_most = (null_map >= result.mean_average_precision[g] - 1e-6).sum()
        assert (above + 1) / 301 <= result.p_value[g] <= (at_most + 1) / 301
    assert list(result.perturbation) == sorted(set(labels) - {"DMSO"})
    np.testing.assert_array_equal(result.retrieved, result.corrected_p_value < 0.2)
    frame = result.to_frame()
    assert list(frame["below_corrected_p"]) == list(result.retrieved)


# --------------------------------------------------------------------------------------------
# Benjamini-Hochberg
# --------------------------------------------------------------------------------------------

def brute_force_bh(p) -> list[float]:
    """q_i = min over p_j >= p_i of p_j * m / rank_j, capped at 1 (ranks of the sorted p)."""
    m = len(p)
    ranked = sorted(p)
    return [min(1.0, min(pj * m / (r + 1) for r, pj in enumerate(ranked) if pj >= pi))
            for pi in p]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_benjamini_hochberg_against_brute_force_and_scipy(seed):
    rng = np.random.default_rng(seed)
    p = np.concatenate([rng.uniform(size=30), rng.uniform(0, 0.01, size=10), [1 / 1001] * 5])
    p = rng.permutation(p)
    adjusted = benjamini_hochberg(p)
    np.testing.assert_allclose(adjusted, brute_force_bh(list(p)), rtol=0, atol=1e-12)
    np.testing.assert_allclose(adjusted, false_discovery_control(p), rtol=0, atol=1e-12)
    multitest = pytest.importorskip("statsmodels.stats.multitest")
    np.testing.assert_array_equal(adjusted, multitest.multipletests(p, method="fdr_bh")[1])


# --------------------------------------------------------------------------------------------
# parity with copairs 0.5.2 (values it returned for these inputs, cold null cache)
# --------------------------------------------------------------------------------------------

COPAIRS_AP = [1.0, 1.0, 1.0, 0.875, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.375,
              0.522503373819163, 0.791666666666667, 1.0, 0.392857142857143, 0.451923076923077,
              0.757575757575758, 1.0, 0.555555555555556, 0.53015873015873, 0.234126984126984,
              1.0, 0.234126984126984, 0.522503373819163, 0.791666666666667, 1.0,
              0.177272727272727, 0.776923076923077, 0.568181818181818, 0.555555555555556,
              0.409757236227824, 0.347943722943723, 1.0, 0.111111111111111, 0.457575757575758,
              1.0, 0.090909090909091, 0.568181818181818]
#: copairs' p-values x (null_size + 1), null_size=1000, seed=3
COPAIRS_P_COUNTS = [1, 85, 256, 1, 119, 601, 1, 36, 83, 1]
COPAIRS_CORRECTED = [0.002497502497502, 0.121307264164407, 0.284160284160284, 0.002497502497502,
                     0.148601398601399, 0.6003996003996, 0.002497502497502, 0.071928071928072,
                     0.121307264164407, 0.002497502497502]


def test_copairs_reference_values():
    # copairs ranks a positive before the negatives it ties with; czbench averages over the
    # tie's orders (docs/differences.md): equal without such a tie, never higher with one
    x, labels = _exact_vectors()
    with pytest.warns(CZBenchWarning):
        table = average_precision(x, labels, "DMSO")
    copairs = np.array(COPAIRS_AP)
    assert (table.ap <= copairs + 1e-14).all()
    same = np.isclose(table.ap, copairs, rtol=0, atol=1e-14)
    assert 0 < same.sum() < len(copairs)
    # copairs' ranking, reproduced by giving copairs' APs to the null and BH code
    table = APTable(table.query, table.perturbation, table.n_pos, table.n_total, copairs)
    result = mean_average_precision(table, null_size=1000, seed=3)
    np.testing.assert_array_equal(np.rint(result.p_value * 1001), COPAIRS_P_COUNTS)
    np.testing.assert_allclose(result.corrected_p_value, COPAIRS_CORRECTED, atol=1e-14)
    assert list(result.retrieved) == [c == 1 for c in COPAIRS_P_COUNTS]


def test_copairs_null_draws():
    null = null_distributions(np.array([[1, 41], [3, 70000]]), 4, seed=0)
    expected = [["0x1.af286cp-6", "0x1p-2", "0x1.d41d42p-6", "0x1.af286cp-6"],
                ["0x1.6ec40ap-14", "0x1.001d88p-14", "0x1.d4e708p-15", "0x1.53de16p-13"]]
    np.testing.assert_array_equal(null, [[float.fromhex(v) for v in row] for row in expected])


def test_copairs_compares_the_map_with_the_null_in_float32():
    # 2 replicates, 37 controls closer to each than the other replicate, 3 farther: both APs
    # are 1/38, a value the float32 null also takes; copairs counts null > float32(mAP)
    x = np.array([[1, 0], [0, 1]] + [[1, 1]] * 37 + [[-1, -1]] * 3, dtype=float)
    table = average_precision(x, ["a", "a"] + ["DMSO"] * 40, "DMSO")
    np.testing.assert_array_equal(table.ap, 1 / 38)
    result = mean_average_precision(table, null_size=2000, seed=0)
    assert result.p_value[0] * 2001 == pytest.approx(1829)  # copairs 0.5.2


# --------------------------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------------------------

def _bad_inputs():
    x = np.random.default_rng(0).normal(size=(6, 3))
    labels = ["a", "a", "b", "b", "DMSO", "DMSO"]
    nan = x.copy()
    nan[2, 1] = np.nan
    zero = x.copy()
    zero[4] = 0
    return [
        ((nan, labels, "DMSO"), "x:"),
        ((zero, labels, "DMSO"), "x:"),
        ((x, labels, "ctrl"), "control:"),
        ((x, ["DMSO"] * 6, "DMSO"), "perturbations:"),
        ((x, ["a", "a", "b", "c", "DMSO", "DMSO"], "DMSO"), "perturbations:"),
        ((x, labels[:5], "DMSO"), "perturbations:"),
        ((x, ["a", "a", None, "b", "DMSO", "DMSO"], "DMSO"), "perturbations:"),
    ]


@pytest.mark.parametrize("args, field", _bad_inputs())
def test_average_precision_errors_name_the_field(args, field):
    with pytest.raises(InputError, match=field) as info:
        average_precision(*args)
    assert "\n" not in str(info.value)


def test_map_and_fraction_errors():
    x, labels = _profiles(0, [2, 3], 4)
    table = average_precision(x, labels, "DMSO")
    with pytest.raises(InputError, match="null_size"):
        mean_average_precision(table, null_size=0)
    with pytest.raises(InputError, match="threshold"):
        mean_average_precision(table, null_size=10, threshold=0)
    with pytest.raises(InputError, match="ap:"):
        mean_average_precision(APTable(*(v[:0] for v in vars(table).values())))
    with pytest.raises(InputError, match="retrieved"):
        fraction_retrieved(np.array([], dtype=bool))
    assert fraction_retrieved(np.array([True, False, False, True])) == 0.5
