"""The dataset registry: name -> :class:`DatasetInfo`, filled with the shipped catalog.

Contributors add their own with :func:`register` (and remove them with :func:`unregister`).
"""

from __future__ import annotations

from czbench.datasets.catalog import BUILTIN_DATASETS
from czbench.datasets.info import DATA_DIR, STANDARD_COLUMNS, DatasetInfo
from czbench.registry import Registry

REGISTRY: Registry[DatasetInfo] = Registry(
    "dataset", {info.name: info for info in BUILTIN_DATASETS}, group="czbench.datasets",
    asset_type=DatasetInfo)


def register(info: DatasetInfo, *, replace: bool = False) -> DatasetInfo:
    """Add a dataset to the registry (contributors: ship an h5ad and call this, or declare a
    ``czbench.datasets`` entry point in their package)."""
    return REGISTRY.add(info, replace=replace)


def unregister(name: str) -> None:
    """Remove a dataset from the registry (built-ins included; tests restore them)."""
    REGISTRY.unregister(name)


def third_party_file(info: DatasetInfo) -> bool:
    """A built-in entry whose file another package ships (scanpy's ``pbmc68k_reduced``): its
    sha256 may change with that package's version, so a mismatch warns instead of failing.
    A plugin's own ``"<package>:<path>"`` file is verified strictly, like czbench's."""
    return info.external and any(b is info for b in BUILTIN_DATASETS)


def list_datasets() -> list[str]:
    """Names of the registered datasets."""
    return REGISTRY.names()


def get_info(name: str) -> DatasetInfo:
    return REGISTRY.get(name)


__all__ = ["DATA_DIR", "STANDARD_COLUMNS", "DatasetInfo", "get_info", "list_datasets",
           "register", "third_party_file", "unregister"]
