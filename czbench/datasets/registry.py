"""The dataset registry: name -> :class:`DatasetInfo`, filled with the shipped catalog.

Contributors add their own with :func:`register` (and remove them with :func:`unregister`).
"""

from __future__ import annotations

from czbench.datasets.catalog import BUILTIN_DATASETS
from czbench.datasets.info import DATA_DIR, STANDARD_COLUMNS, DatasetInfo
from czbench.errors import InputError

_REGISTRY: dict[str, DatasetInfo] = {info.name: info for info in BUILTIN_DATASETS}


def register(info: DatasetInfo, *, replace: bool = False) -> DatasetInfo:
    """Add a dataset to the registry (contributors: ship an h5ad and call this)."""
    if not isinstance(info, DatasetInfo):
        raise InputError(f"dataset: expected a czbench.datasets.DatasetInfo, got "
                         f"{type(info).__name__}")
    if info.name in _REGISTRY and not replace:
        raise InputError(f"dataset: '{info.name}' is already registered; pass replace=True")
    _REGISTRY[info.name] = info
    return info


def unregister(name: str) -> None:
    """Remove a dataset from the registry (built-ins included; tests restore them)."""
    _REGISTRY.pop(name, None)


def list_datasets() -> list[str]:
    """Names of the registered datasets."""
    return [*_REGISTRY]


def get_info(name: str) -> DatasetInfo:
    if name not in _REGISTRY:
        raise InputError(f"dataset: unknown dataset '{name}'; registered: "
                         f"{', '.join(_REGISTRY)}")
    return _REGISTRY[name]


__all__ = ["DATA_DIR", "STANDARD_COLUMNS", "DatasetInfo", "get_info", "list_datasets",
           "register", "unregister"]
