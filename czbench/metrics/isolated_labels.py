"""``isolated_labels``: are the labels seen in the fewest batches still well separated?

Definition: docs/spec.md#isolated_labels (scib-metrics 0.5.10 ``scib_metrics.isolated_labels``,
its silhouette variant; scIB, Luecken et al. 2022).

A label is *isolated* when it occurs in at most ``iso_threshold`` distinct batches (default: the
smallest number of batches any label occurs in, so at least one label is isolated). Per-cell
silhouettes ``s_i`` are computed once with groups = all labels (Euclidean, nearest other label,
:func:`czbench.metrics.silhouette.silhouette_samples`), rescaled to ``(s_i + 1) / 2``; each
isolated label scores the mean over its cells; the result is the unweighted mean over isolated
labels, in [0, 1], higher = better. An isolated label with a single cell scores 0.5 whatever
the embedding (a single cell's silhouette is 0, as in the reference): kept, with a warning
(recorded in results files).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from czbench.errors import CZBenchWarning, InputError
from czbench.metrics.silhouette import silhouette_samples
from czbench.utils.arrays import as_codes


def isolated_label_codes(label_codes: np.ndarray, batch_codes: np.ndarray,
                         iso_threshold: int | None = None) -> np.ndarray:
    """Codes of the labels present in at most ``iso_threshold`` batches (default: the minimum)."""
    n_labels = int(label_codes.max()) + 1
    pairs = np.unique(label_codes * (int(batch_codes.max()) + 1) + batch_codes)
    batches_per_label = np.bincount(pairs // (int(batch_codes.max()) + 1), minlength=n_labels)
    threshold = int(batches_per_label.min()) if iso_threshold is None else iso_threshold
    return np.flatnonzero(batches_per_label <= threshold)


def isolated_labels(embedding: Any, labels: Any, batch: Any, *, rescale: bool = True,
                    iso_threshold: int | None = None, **silhouette_kwargs: Any) -> float:
    """Mean over isolated labels of their cells' mean (rescaled) silhouette.

    ``silhouette_kwargs`` (``device``, ``dtype``, ``block_size``) go to ``silhouette_samples``.
    """
    s = silhouette_samples(embedding, labels, **silhouette_kwargs)
    return isolated_labels_from_samples(s, labels, batch, rescale=rescale,
                                        iso_threshold=iso_threshold)


def isolated_labels_from_samples(s: np.ndarray, labels: Any, batch: Any, *,
                                 rescale: bool = True, iso_threshold: int | None = None) -> float:
    """:func:`isolated_labels` from per-cell silhouettes ``s`` already computed with groups =
    ``labels`` (the embedding task computes them once for ``silhouette_score`` too)."""
    n = s.shape[0]
    label_codes = as_codes(labels, n, name="labels")
    batch_codes = as_codes(batch, n, name="batch")
    if rescale:
        s = (s + 1.0) / 2.0
    iso = isolated_label_codes(label_codes, batch_codes, iso_threshold)
    if iso.size == 0:
        raise InputError(f"iso_threshold: no label occurs in {iso_threshold} or fewer batches")
    sizes = np.bincount(label_codes)
    single = iso[sizes[iso] == 1]
    if single.size:
        names = _names(labels, label_codes, single)
        warnings.warn(f"isolated_labels: {single.size} of the {iso.size} isolated labels have a "
                      f"single cell ({', '.join(map(str, names[:3]))}); a single cell's "
                      f"silhouette is 0 by definition (0.5 rescaled) whatever the embedding"
                      + (", so the score says nothing about it" if single.size == iso.size
                         else ""), CZBenchWarning, stacklevel=2)
    per_label = np.bincount(label_codes, weights=s) / sizes
    return float(per_label[iso].mean())


def _names(labels: Any, codes: np.ndarray, wanted: np.ndarray) -> list[Any]:
    """The label of each code in ``wanted`` (from the first cell carrying it)."""
    values = np.asarray(labels)
    return [values[int(np.flatnonzero(codes == c)[0])] for c in wanted]
