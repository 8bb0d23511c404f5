"""Conversions between the array types users hand to czbench (numpy, torch, scipy sparse)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

from czbench.errors import InputError

#: embeddings whose largest |value| lies outside [2**-SAFE_EXPONENT, 2**SAFE_EXPONENT] are
#: rescaled by a power of two (exact: distances keep their ratios bit for bit), so that squared
#: distances neither underflow nor overflow in float32. Every metric on embeddings is
#: scale-invariant by definition, so no number changes meaning.
SAFE_EXPONENT = 20

_HALF = (torch.float16, torch.bfloat16)


def scale_exponent(max_abs: float) -> int:
    """The power of two to multiply by (0: none) so the largest |value| lands in [1, 2)."""
    if not np.isfinite(max_abs) or max_abs == 0:
        return 0
    e = int(np.floor(np.log2(max_abs)))
    return 0 if -SAFE_EXPONENT <= e <= SAFE_EXPONENT else -e


def _numeric(x: Any, name: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        if x.is_complex():
            raise InputError(f"{name}: has complex values; expected real numbers")
        x = x.detach().cpu()
        x = (x.float() if x.dtype in _HALF else x).numpy()
    elif sp.issparse(x):
        x = x.toarray()
    try:
        arr = np.asarray(x)
    except (TypeError, ValueError) as err:
        raise InputError(f"{name}: expected a numeric 2-D array, got {type(x).__name__}") from err
    if arr.dtype.kind == "c":
        raise InputError(f"{name}: has complex values; expected real numbers")
    if arr.dtype.kind not in "fiu":
        raise InputError(f"{name}: expected numbers, got values of type {arr.dtype} "
                         f"({type(x).__name__})")
    return arr


def as_numpy_2d(x: Any, name: str = "embedding", dtype: Any = np.float32, *,
                rescale: bool = False) -> np.ndarray:
    """Return ``x`` as a dense 2-D numpy array, or raise a one-line InputError. ``rescale``:
    multiply by a power of two when its magnitude is outside the safe range (see
    :data:`SAFE_EXPONENT`), before the cast to ``dtype``."""
    arr = _numeric(x, name)
    if arr.ndim != 2:
        raise InputError(f"{name}: expected a 2-D array (cells x dims), got shape {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise InputError(f"{name}: expected at least one cell and one dimension, got {arr.shape}")
    if rescale:
        with np.errstate(invalid="ignore"):
            e = scale_exponent(float(np.max(np.abs(arr))))
        if e:
            arr = np.ldexp(arr if arr.dtype.kind == "f" else arr.astype(np.float64), e)
    arr = np.ascontiguousarray(arr, dtype=dtype)
    if not np.isfinite(arr).all():
        bad = int((~np.isfinite(arr)).any(axis=1).sum())
        raise InputError(f"{name}: {bad} cells have NaN or infinite values")
    return arr


def as_torch_2d(x: Any, name: str = "embedding", device: str | torch.device | None = None,
                dtype: torch.dtype = torch.float32, *, rescale: bool = False) -> torch.Tensor:
    """Return ``x`` as a 2-D torch tensor on ``device`` (default: the tensor's own, else CPU);
    ``rescale`` as in :func:`as_numpy_2d`."""
    if isinstance(x, torch.Tensor):
        if x.is_complex():
            raise InputError(f"{name}: has complex values; expected real numbers")
        if x.ndim != 2:
            raise InputError(f"{name}: expected a 2-D tensor (cells x dims), got shape "
                             f"{tuple(x.shape)}")
        if x.shape[0] == 0 or x.shape[1] == 0:
            raise InputError(f"{name}: expected at least one cell and one dimension, got "
                             f"{tuple(x.shape)}")
        t = x.detach()
        t = t.float() if t.dtype in _HALF or not t.is_floating_point() else t
        if not torch.isfinite(t).all():
            raise InputError(f"{name}: contains NaN or infinite values")
        if rescale:
            e = scale_exponent(float(t.abs().max()))
            if e:
                t = t * (2.0 ** e)
        return t.to(device=device or t.device, dtype=dtype)
    np_dtype = torch.empty(0, dtype=dtype).numpy().dtype
    return torch.from_numpy(as_numpy_2d(x, name, dtype=np_dtype, rescale=rescale)).to(
        device=device or "cpu")


def is_constant(x: Any) -> bool:
    """True when every row of the 2-D array, tensor or sparse matrix ``x`` is the same."""
    if isinstance(x, torch.Tensor):
        return bool((x.amax(dim=0) == x.amin(dim=0)).all())
    if sp.issparse(x):
        return bool((x.max(axis=0) != x.min(axis=0)).nnz == 0)
    x = np.asarray(x)
    return bool((x.max(axis=0) == x.min(axis=0)).all())


def check_embedding(x: Any, name: str = "embedding") -> None:
    """Refuse, in one line and without copying, an embedding no metric is defined on: not
    real numbers, not 2-D, fewer than 2 cells, NaN or infinite values, or every cell equal."""
    if isinstance(x, torch.Tensor):
        if x.is_complex():
            raise InputError(f"{name}: has complex values; expected real numbers")
        if x.dtype == torch.bool:
            raise InputError(f"{name}: expected numbers, got booleans")
        finite = bool(torch.isfinite(x).all()) if x.is_floating_point() else True
    elif sp.issparse(x):
        if x.dtype.kind not in "fiu":
            raise InputError(f"{name}: expected real numbers, got values of type {x.dtype}")
        finite = bool(np.isfinite(x.data).all())
    else:
        arr = _numeric(x, name)
        finite = bool(np.isfinite(arr).all()) if arr.dtype.kind == "f" else True
        x = arr
    if len(x.shape) != 2:
        raise InputError(f"{name}: expected a 2-D array (cells x dims), got shape "
                         f"{tuple(x.shape)}")
    if x.shape[0] < 2 or x.shape[1] < 1:
        raise InputError(f"{name}: expected at least 2 cells and 1 dimension, got shape "
                         f"{tuple(x.shape)}")
    if not finite:
        raise InputError(f"{name}: contains NaN or infinite values")
    if is_constant(x):
        raise InputError(f"{name}: every cell has the same values (a constant embedding of "
                         f"shape {tuple(x.shape)}); no metric is defined on it")


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


def align_frame(field: str, frame: pd.DataFrame, cells: Any) -> np.ndarray:
    """A DataFrame's rows in the order of ``cells`` (the dataset's obs names), matched by its
    index; an index that does not name exactly those cells is refused with a one-line error
    starting with ``field`` (an embedding and a model's output are aligned alike)."""
    index = frame.index.astype(str)
    if not index.is_unique:
        raise InputError(f"{field} (DataFrame) has duplicated index values; expected one row "
                         f"per cell name")
    cells = pd.Index(cells).astype(str)
    missing = cells.difference(index)
    extra = index.difference(cells)
    if len(missing) or len(extra):
        shown = ", ".join(map(str, (missing if len(missing) else extra)[:3]))
        raise InputError(f"{field} (DataFrame) index does not match the dataset's cell names "
                         f"({len(missing)} cells missing, {len(extra)} unknown rows, e.g. "
                         f"{shown}); index it by obs_names, or pass .to_numpy() to use row "
                         f"order")
    numeric = frame.select_dtypes(include="number")
    if numeric.shape[1] != frame.shape[1]:
        raise InputError(f"{field} (DataFrame) has non-numeric columns: "
                         f"{', '.join(map(str, frame.columns.difference(numeric.columns)[:3]))}")
    position = pd.Index(index).get_indexer(cells)
    return numeric.to_numpy()[position]
