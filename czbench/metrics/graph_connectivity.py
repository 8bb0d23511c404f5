"""``graph_connectivity``: are the cells of each label one connected piece of the kNN graph?

Definition: docs/spec.md#graph_connectivity (scib-metrics 0.5.10
``scib_metrics.graph_connectivity``; scIB, Luecken et al. 2022).

For each label ``c``: the subgraph of the **directed** kNN graph (every stored edge ``i -> j``,
whatever its distance, zero-distance duplicates included) induced by the cells of ``c``; the
share of those cells in its largest **strongly** connected component. The score is the
unweighted mean over labels, in (0, 1], higher = better. scib-metrics' Benchmarker uses the
15-NN graph with the cell itself in column 0 (``knn.head(GRAPH_CONNECTIVITY_K)``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from czbench.neighbors import KNNGraph
from czbench.utils.arrays import as_codes

#: Neighbourhood size of scib-metrics' Benchmarker for graph connectivity (self included).
GRAPH_CONNECTIVITY_K = 15


def graph_connectivity_per_label(knn: KNNGraph, labels: Any) -> np.ndarray:
    """Largest strongly connected share per label code (labels sorted as ``as_codes`` sorts)."""
    n, k = knn.indices.shape
    codes = as_codes(labels, n, name="labels")
    rows = np.repeat(np.arange(n), k)
    cols = knn.indices.ravel()
    same = codes[rows] == codes[cols]  # keep only edges inside a label: one graph, all labels
    adj = sp.csr_matrix((np.ones(int(same.sum()), dtype=np.int8), (rows[same], cols[same])),
                        shape=(n, n))
    _, comp = connected_components(adj, directed=True, connection="strong")
    n_labels = int(codes.max()) + 1
    comp_sizes = np.bincount(comp)
    largest = np.zeros(n_labels, dtype=np.int64)
    np.maximum.at(largest, codes, comp_sizes[comp])  # components never straddle labels
    return largest / np.bincount(codes, minlength=n_labels)


def graph_connectivity(knn: KNNGraph, labels: Any) -> float:
    """Mean over labels of the largest strongly connected share of the label's cells."""
    return float(graph_connectivity_per_label(knn, labels).mean())
