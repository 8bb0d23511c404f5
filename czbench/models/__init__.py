"""Models: what turns a dataset into an embedding, run, checked and cached by czbench.

>>> from czbench.models import get_model
>>> model = get_model("harmony")                       # doctest: +SKIP
>>> embedding = model.embed(adata, seed=0)              # doctest: +SKIP

* :class:`Model` -- the contract: a name, parameters, optional weights, ``embed(adata, seed)``.
* the registry -- built-in reference methods by name (``harmony``, ``scvi``, ``scanorama``,
  ``combat``; extra ``czbench[methods]``), ``mlflow:PATH_OR_URI`` packages (extra
  ``czbench[mlflow]``), and :func:`register_model` for contributors.
* :func:`embed_cached` -- outputs cached by everything they depend on (checksummed) in
  :func:`cache_dir` (``$CZBENCH_CACHE``).

Front doors: ``czbench run --model NAME|mlflow:URI`` and ``czbench.benchmark(...,
models=[...])``.
"""

from __future__ import annotations

import importlib
from typing import Any

from czbench.models.registry import (
    BUILTIN_MODELS,
    MODEL_PREFIXES,
    check_model_spec,
    get_model,
    list_models,
    register_model,
    unregister_model,
)

#: the model base and the cache (numpy, torch), imported on first use: the registry stays
#: light, so ``czbench run`` checks model names before any heavy import
_LAZY = {"Model": "base", "check_output": "base", "cache_dir": "cache", "embed_cached": "cache",
         "cached_embedding": "cache"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"czbench.models.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'czbench.models' has no attribute {name!r}")


__all__ = ["BUILTIN_MODELS", "MODEL_PREFIXES", "Model", "cache_dir", "cached_embedding",
           "check_model_spec", "check_output", "embed_cached", "get_model", "list_models",
           "register_model", "unregister_model"]
