"""The model output cache: one ``.npz`` entry per key -- everything a model's output depends on
(:func:`cache_key`: the model's identity with its parameters, code and versions, the dataset's
sha256, the prepared obs and names, the seed). Each entry holds its key and the sha256 of its
values, checked on read: a damaged, replaced or foreign entry is recomputed, with a warning.

Where: ``$CZBENCH_CACHE`` if set, else the platform's user cache folder (``$XDG_CACHE_HOME``
or ``~/.cache`` on Linux, ``~/Library/Caches`` on macOS, ``%LOCALAPPDATA%`` on Windows) +
``czbench/models``. Files are written atomically, so a killed run never leaves half an entry;
an entry that cannot be read is recomputed (and replaced).
"""

from __future__ import annotations

import io
import json
import os
import re
import sys
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from czbench.errors import CZBenchWarning, InputError
from czbench.models.base import Model, check_output
from czbench.utils.hashing import sha256_array, sha256_parts
from czbench.utils.io import atomic_write_bytes

#: bump when the layout of a cache entry changes
CACHE_VERSION = 2


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


def inputs_sha256(adata: Any) -> str:
    """sha256 of what a model may read besides the dataset file's bytes: the prepared obs
    (every column, e.g. the ``batch`` column ``--batch-key`` chose), the cell and feature
    names and czbench's dataset settings (modality, label/batch keys, counts layer)."""
    import pandas as pd

    obs = adata.obs
    parts: list[Any] = [list(map(str, obs.columns)), [str(t) for t in obs.dtypes]]
    if len(obs.columns):
        parts.append(pd.util.hash_pandas_object(obs, index=False).to_numpy())
    parts.append(pd.util.hash_pandas_object(pd.Index(adata.obs_names.astype(str)),
                                            index=False).to_numpy())
    parts.append(pd.util.hash_pandas_object(pd.Index(adata.var_names.astype(str)),
                                            index=False).to_numpy())
    meta = dict((getattr(adata, "uns", {}) or {}).get("czbench", {}) or {})
    parts.append({k: v for k, v in meta.items() if k != "sha256"})
    return sha256_parts(*parts)


def cache_key(model: Model, dataset_sha256: str | None, seed: int,
              inputs: str = "") -> str:
    """The entry's key: everything the output depends on -- the model's identity (name,
    parameters, weights, code and versions), the dataset's content, the prepared inputs
    (:func:`inputs_sha256`) and (for seeded models) the seed."""
    return sha256_parts(CACHE_VERSION, model.identity()["sha256"], dataset_sha256 or "",
                        inputs, seed if model.seeded else None)


def entry_path(model: Model, key: str) -> Path:
    """The entry's file: the key names it; the model's name, made safe, only prefixes it (a
    name is never a path: ``../../x`` stays in the cache folder)."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", str(model.name)).strip("._")[:40] or "model"
    return cache_dir() / f"{safe}-{key[:32]}.npz"


def embed_cached(model: Model, adata: Any, seed: int, *, use_cache: bool = True) -> np.ndarray:
    """``model.embed(adata, seed)``, read from or written to the cache (``use_cache=False``:
    neither). Datasets without a recorded sha256 are never cached."""
    return cached_embedding(model, adata, seed, use_cache=use_cache)[0]


def _read_entry(path: Path, key: str) -> np.ndarray | None:
    """The entry's values if it is the entry of ``key`` and its checksum holds; else None (with
    a warning for an entry that is damaged, foreign or replaced)."""
    try:
        with np.load(path, allow_pickle=False) as entry:
            meta = json.loads(str(entry["meta"]))
            values = entry["values"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:
        problem = f"unreadable ({type(err).__name__})"
    else:
        if meta.get("key") != key:
            problem = "the entry of another key (replaced or copied)"
        elif meta.get("sha256") != sha256_array(values):
            problem = "its checksum does not match its values (damaged or edited)"
        else:
            return values
    warnings.warn(f"model cache: {path} is {problem}; recomputing it", CZBenchWarning,
                  stacklevel=3)
    return None


def cached_embedding(model: Model, adata: Any, seed: int, *,
                     use_cache: bool = True) -> tuple[np.ndarray, bool]:
    """(the embedding, whether it came from the cache); see :func:`embed_cached`. Entries are
    checksummed: one whose key or values do not match is recomputed (and replaced), with a
    warning."""
    digest = (getattr(adata, "uns", {}) or {}).get("czbench", {}).get("sha256")
    if not use_cache or not digest:
        return model.embed(adata, seed), False
    key = cache_key(model, digest, seed, inputs_sha256(adata))
    path = entry_path(model, key)
    if path.is_symlink() or (path.exists() and not path.is_file()):
        raise InputError(f"model cache: {path} is not a regular file; remove it or set "
                         f"CZBENCH_CACHE to another folder")
    if path.is_file():
        values = _read_entry(path, key)
        if values is not None:
            return check_output(model.name, values, adata.n_obs), True
    values = model.embed(adata, seed)
    meta = json.dumps({"key": key, "sha256": sha256_array(values), "model": model.name})
    buffer = io.BytesIO()
    np.savez(buffer, values=values, meta=np.array(meta))
    atomic_write_bytes(path, buffer.getvalue())
    return values, False
