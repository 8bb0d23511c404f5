"""Seeded, label-stratified sampling shared by the tasks, the DataModule and the callback."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def stratified_subset(labels: np.ndarray, size: int, seed: int) -> np.ndarray:
    """Sorted positions of a seeded, label-stratified subsample of ``size`` items (every label
    keeps at least one item where ``size`` allows; proportional otherwise)."""
    n = len(labels)
    if size >= n:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    codes = np.unique(labels, return_inverse=True)[1]
    counts = np.bincount(codes)
    quota = np.floor(counts * size / n).astype(int)
    quota = np.maximum(quota, np.minimum(1, counts))
    while quota.sum() > size:  # trim the largest groups first
        quota[np.argmax(quota)] -= 1
    leftovers = size - quota.sum()
    if leftovers:
        remainder = counts * size / n - quota
        for group in np.argsort(-remainder, kind="stable")[:leftovers]:
            quota[group] += 1
    chosen = [rng.permutation(np.flatnonzero(codes == g))[:q] for g, q in enumerate(quota)]
    return np.sort(np.concatenate(chosen))


def stratified_split(labels: np.ndarray, fractions: Sequence[float],
                     seed: int) -> list[np.ndarray]:
    """Seeded split of positions into len(fractions) parts, stratified by ``labels``."""
    rng = np.random.default_rng(seed)
    parts: list[list[np.ndarray]] = [[] for _ in fractions]
    bounds = np.cumsum(fractions)
    for code in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == code))
        cuts = np.round(bounds * len(members)).astype(int)
        start = 0
        for part, stop in zip(parts, cuts, strict=True):
            part.append(members[start:stop])
            start = stop
    return [np.sort(np.concatenate(p)) for p in parts]
