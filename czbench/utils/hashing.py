"""Content hashes: of arrays (layout-independent), files, and JSON-able settings."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch


def _update_array(h: Any, x: Any) -> None:
    if sp.issparse(x):
        x = sp.csr_matrix(x)
        x.sort_indices()
        h.update(f"csr{x.shape}{x.dtype}".encode())
        for part in (x.indptr, x.indices, x.data):
            h.update(np.ascontiguousarray(part).tobytes())
        return
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu()
        x = (x.float() if x.dtype in (torch.bfloat16, torch.float16) else x).numpy()
    arr = np.ascontiguousarray(x)
    h.update(f"dense{arr.shape}{arr.dtype}".encode())
    h.update(arr.tobytes())


def sha256_array(x: Any) -> str:
    """sha256 of an array's values, shape and dtype (dense or sparse, any memory layout)."""
    h = hashlib.sha256()
    _update_array(h, x)
    return h.hexdigest()


def sha256_values(values: Any) -> str:
    """sha256 of what an input holds: an array's values, an AnnData's X, a DataFrame's
    values (names are not hashed)."""
    matrix = getattr(values, "X", None)
    if matrix is None:
        matrix = values.to_numpy() if hasattr(values, "to_numpy") else values
    return sha256_array(matrix)


def sha256_file(path: str) -> str:
    """sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def sha256_parts(*parts: Any) -> str:
    """sha256 of several parts in order: arrays by :func:`sha256_array`'s rule, sequences of
    names joined, anything else as canonical JSON."""
    h = hashlib.sha256()
    for part in parts:
        if sp.issparse(part) or isinstance(part, np.ndarray | torch.Tensor):
            _update_array(h, part)
        elif isinstance(part, list | tuple) and all(isinstance(v, str) for v in part):
            h.update("\x1f".join(part).encode())
        else:
            h.update(json.dumps(part, sort_keys=True, default=str).encode())
        h.update(b"\x1e")
    return h.hexdigest()
