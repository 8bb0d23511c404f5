"""The model output cache: one ``.npy`` per (model identity, dataset sha256, seed).

Where: ``$CZBENCH_CACHE`` if set, else the platform's user cache folder (``$XDG_CACHE_HOME``
or ``~/.cache`` on Linux, ``~/Library/Caches`` on macOS, ``%LOCALAPPDATA%`` on Windows) +
``czbench/models``. Files are written atomically, so a killed run never leaves half an entry;
an entry that cannot be read is recomputed (and replaced).
"""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

from czbench.models.base import Model, check_output
from czbench.utils.hashing import sha256_parts
from czbench.utils.io import atomic_write_bytes

#: bump when the layout of a cache entry changes
CACHE_VERSION = 1


def cache_dir() -> Path:
    """The folder of cached model outputs."""
    root = os.environ.get("CZBENCH_CACHE")
    if root:
        return Path(root).expanduser()
    if sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    elif os.name == "nt":
        base = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local"))
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "czbench" / "models"


def cache_key(model: Model, dataset_sha256: str | None, seed: int) -> str:
    """The entry's key: the model's identity, the dataset's content and (for seeded models)
    the seed."""
    return sha256_parts(CACHE_VERSION, model.identity()["sha256"], dataset_sha256 or "",
                        seed if model.seeded else None)


def embed_cached(model: Model, adata: Any, seed: int, *, use_cache: bool = True) -> np.ndarray:
    """``model.embed(adata, seed)``, read from or written to the cache (``use_cache=False``:
    neither). Datasets without a recorded sha256 are never cached."""
    return cached_embedding(model, adata, seed, use_cache=use_cache)[0]


def cached_embedding(model: Model, adata: Any, seed: int, *,
                     use_cache: bool = True) -> tuple[np.ndarray, bool]:
    """(the embedding, whether it came from the cache); see :func:`embed_cached`."""
    digest = (getattr(adata, "uns", {}) or {}).get("czbench", {}).get("sha256")
    if not use_cache or not digest:
        return model.embed(adata, seed), False
    path = cache_dir() / f"{model.name}-{cache_key(model, digest, seed)[:32]}.npy"
    if path.is_file():
        try:
            values = np.load(path, allow_pickle=False)
            return check_output(model.name, values, adata.n_obs), True
        except (OSError, ValueError):
            pass  # a damaged or foreign entry: recompute it
    values = model.embed(adata, seed)
    buffer = io.BytesIO()
    np.save(buffer, values, allow_pickle=False)
    atomic_write_bytes(path, buffer.getvalue())
    return values, False
