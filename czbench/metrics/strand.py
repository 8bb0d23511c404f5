"""Reverse-complement consistency: does a DNA model embed both strands of a sequence alike?

Definition: docs/spec.md#task-sequence_classification. A double-stranded sequence and its
reverse complement are one molecule; an embedding that gives them unrelated vectors encodes the
strand read, not the DNA.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from czbench.errors import InputError


def _unit(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms > 0, norms, 1.0)


def revcomp_consistency(embedding: Any, revcomp_embedding: Any, *, seed: int,
                        n_pairs: int = 10_000) -> dict[str, float]:
    """``{"paired": ..., "random": ..., "consistency": paired - random}``.

    ``paired``: mean cosine similarity of ``embedding[i]`` and ``revcomp_embedding[i]`` (the
    same sequence, other strand); ``random``: mean cosine of ``embedding[i]`` and
    ``revcomp_embedding[j]`` over ``n_pairs`` seeded pairs with i != j. ``consistency`` is 0
    when a sequence's reverse complement is no closer than another sequence's, and up to
    1 - random when it embeds identically (higher is better).
    """
    a = np.asarray(embedding, dtype=np.float64)
    b = np.asarray(revcomp_embedding, dtype=np.float64)
    if a.ndim != 2 or a.shape != b.shape:
        raise InputError(f"revcomp_embedding: expected the shape of the embedding {a.shape}, "
                         f"got {b.shape}")
    if len(a) < 2:
        raise InputError("embedding: reverse-complement consistency needs at least 2 rows")
    a, b = _unit(a), _unit(b)
    paired = float(np.mean(np.sum(a * b, axis=1)))
    rng = np.random.default_rng(seed)
    i = rng.integers(len(a), size=n_pairs)
    j = (i + rng.integers(1, len(a), size=n_pairs)) % len(a)  # j != i
    random = float(np.mean(np.sum(a[i] * b[j], axis=1)))
    return {"paired": paired, "random": random, "consistency": paired - random}
