"""The k-nearest-neighbour graph of an embedding: computed once per embedding, shared by every
metric that needs neighbours (scib-metrics' ``NeighborsResults`` idea).

* :func:`knn_graph` -- exact torch search, or faiss IVF above 100k cells on CPU.
* :class:`KNNGraph` -- indices and distances, the cell itself first; ``head(k)`` slices it.
* :func:`refine_distances` -- the same neighbours with float64 distances.
* :mod:`.leiden` -- the fuzzy (UMAP) connectivities of a kNN graph and Leiden clustering on
  them (``fuzzy_connectivities``, ``leiden``).
"""

from czbench.neighbors.exact import BLOCK_ELEMENTS, block_rows, centred, squared_distance_block
from czbench.neighbors.knn import EXACT_MAX_CELLS, choose_backend, knn_graph
from czbench.neighbors.knngraph import KNNGraph, refine_distances

__all__ = ["BLOCK_ELEMENTS", "EXACT_MAX_CELLS", "KNNGraph", "block_rows", "centred",
           "choose_backend", "knn_graph", "refine_distances", "squared_distance_block"]
