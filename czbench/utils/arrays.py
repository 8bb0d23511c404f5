"""Conversions between the array types users hand to czbench (numpy, torch, scipy sparse)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

from czbench.errors import InputError


def as_numpy_2d(x: Any, name: str = "embedding", dtype: Any = np.float32) -> np.ndarray:
    """Return ``x`` as a dense 2-D numpy array, or raise a one-line InputError."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    elif sp.issparse(x):
        x = x.toarray()
    try:
        arr = np.ascontiguousarray(x, dtype=dtype)
    except (TypeError, ValueError) as err:
        raise InputError(f"{name}: expected a numeric 2-D array, got {type(x).__name__}") from err
    if arr.ndim != 2:
        raise InputError(f"{name}: expected a 2-D array (cells x dims), got shape {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise InputError(f"{name}: expected at least one cell and one dimension, got {arr.shape}")
    if not np.isfinite(arr).all():
        bad = int((~np.isfinite(arr)).any(axis=1).sum())
        raise InputError(f"{name}: {bad} cells have NaN or infinite values")
    return arr


def as_torch_2d(x: Any, name: str = "embedding", device: str | torch.device | None = None,
                dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Return ``x`` as a 2-D torch tensor on ``device`` (default: the tensor's own, else CPU)."""
    if isinstance(x, torch.Tensor):
        if x.ndim != 2:
            raise InputError(f"{name}: expected a 2-D tensor (cells x dims), got shape "
                             f"{tuple(x.shape)}")
        t = x.detach()
        if not torch.isfinite(t).all():
            raise InputError(f"{name}: contains NaN or infinite values")
        return t.to(device=device or t.device, dtype=dtype)
    np_dtype = torch.empty(0, dtype=dtype).numpy().dtype
    return torch.from_numpy(as_numpy_2d(x, name, dtype=np_dtype)).to(device=device or "cpu")


def as_codes(labels: Any, n: int | None = None, name: str = "labels") -> np.ndarray:
    """Integer codes 0..k-1 for a label vector (any hashable values), checking length and NaN."""
    if isinstance(labels, torch.Tensor):
        labels = labels.detach().cpu().numpy()
    arr = np.asarray(labels)
    if arr.ndim != 1:
        raise InputError(f"{name}: expected a 1-D vector of labels, got shape {arr.shape}")
    if n is not None and arr.shape[0] != n:
        raise InputError(f"{name}: has {arr.shape[0]} entries but the embedding has {n} cells")
    series = pd.Series(arr)
    if series.isna().any():
        raise InputError(f"{name}: {int(series.isna().sum())} labels are missing (NaN)")
    codes, _ = pd.factorize(series, sort=True)
    return codes.astype(np.int64)
