"""Reading a predicted expression matrix and scoring it against the ground truth."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

from czbench.errors import InputError
from czbench.metrics.correlation import spearman
from czbench.tasks.perturbation.truth import condition_effect


def align_prediction(prediction: Any, obs_names: pd.Index, var_names: pd.Index,
                     obs: pd.DataFrame | None = None
                     ) -> tuple[Any, dict[str, int], dict[str, int]]:
    """The prediction as a row-indexable matrix and its cell/gene name -> position maps.

    An AnnData or DataFrame is read by its cell and gene names (any order or subset); an array
    must have the dataset's shape (``obs_names`` x ``var_names``, dataset order)."""
    if isinstance(prediction, pd.DataFrame):
        cells, genes = prediction.index.astype(str), prediction.columns.astype(str)
        try:
            matrix = prediction.to_numpy(dtype=np.float64)
        except (TypeError, ValueError) as err:
            raise InputError(f"prediction: DataFrame is not numeric ({err})") from None
    elif hasattr(prediction, "obs_names") and hasattr(prediction, "var_names"):
        cells = pd.Index(prediction.obs_names).astype(str)
        genes = pd.Index(prediction.var_names).astype(str)
        matrix = prediction.X
        if matrix is None:
            raise InputError("prediction: the AnnData has no X")
        matrix = sp.csr_matrix(matrix) if sp.issparse(matrix) else np.asarray(matrix)
    else:
        if isinstance(prediction, torch.Tensor):
            prediction = prediction.detach().cpu().numpy()
        matrix = sp.csr_matrix(prediction) if sp.issparse(prediction) else np.asarray(prediction)
        expected = (len(obs_names), len(var_names))
        if matrix.ndim != 2 or tuple(matrix.shape) != expected:
            raise InputError(f"prediction: an array must have the dataset's shape "
                             f"{expected} (cells x genes, dataset order), got "
                             f"{tuple(matrix.shape)}; pass an AnnData or DataFrame with "
                             f"cell and gene names otherwise")
        named = obs is not None and not isinstance(obs.index, pd.RangeIndex)
        if named and not pd.Index(obs.index.astype(str)).equals(obs_names):
            raise InputError("obs: its cells differ from those of the dataset given to prepare")
        cells, genes = obs_names, var_names
    if not np.issubdtype(matrix.dtype, np.number) or matrix.dtype == bool:
        raise InputError("prediction: expected numeric values")
    for what, names in (("cell", cells), ("gene", genes)):
        if names.has_duplicates:
            dupes = names[names.duplicated()].unique()
            raise InputError(f"prediction: duplicate {what} names, e.g. "
                             f"{', '.join(map(str, dupes[:3]))}")
    return matrix, {c: i for i, c in enumerate(cells)}, {g: j for j, g in enumerate(genes)}


def condition_scores(matrix: Any, rows: dict[str, int], cols: dict[str, int],
                     conditions: dict[str, Any]) -> tuple[dict[str, float], list[str]]:
    """Per condition: Spearman correlation of the predicted effects of its targets
    (:func:`~czbench.tasks.perturbation.truth.condition_effect`) with their true log fold
    changes; and the conditions whose effect switched from the log ratio to the difference
    (a predicted treated or control mean <= 0)."""
    cells = sorted({c for e in conditions.values() for c in (*e["cells"], *e["controls"])})
    genes = sorted({g for e in conditions.values() for g in e["targets"]})
    missing_cells = [c for c in cells if c not in rows]
    if missing_cells:
        raise InputError(f"prediction: {len(missing_cells)} evaluated cells are missing, "
                         f"e.g. {', '.join(missing_cells[:3])}")
    missing_genes = [g for g in genes if g not in cols]
    if missing_genes:
        raise InputError(f"prediction: {len(missing_genes)} target genes are missing, "
                         f"e.g. {', '.join(missing_genes[:5])}")
    row_index = np.fromiter((rows[c] for c in cells), dtype=np.int64, count=len(cells))
    col_index = np.fromiter((cols[g] for g in genes), dtype=np.int64, count=len(genes))
    block = matrix[row_index][:, col_index]
    block = block.toarray() if sp.issparse(block) else np.asarray(block, dtype=np.float64)
    block = block.astype(np.float64, copy=False)
    if not np.isfinite(block).all():
        raise InputError("prediction: contains NaN or infinite values")
    if (block < 0).any():
        raise InputError(f"prediction: {int((block < 0).sum())} negative values; expected "
                         f"normalized counts (not log-transformed or centred)")
    local_row = {c: i for i, c in enumerate(cells)}
    local_col = {g: j for j, g in enumerate(genes)}
    scores, switched = {}, []
    for condition, entry in conditions.items():
        cidx = [local_col[g] for g in entry["targets"]]
        treated = block[[local_row[c] for c in entry["cells"]]][:, cidx].mean(axis=0)
        control = block[[local_row[c] for c in entry["controls"]]][:, cidx].mean(axis=0)
        effect, difference = condition_effect(treated, control)
        if difference:
            switched.append(condition)
        scores[condition] = spearman(effect, entry["logfc"])
    return scores, switched
