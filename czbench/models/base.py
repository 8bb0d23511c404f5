"""``Model``: something that turns a dataset (AnnData) into an embedding, with an identity.

A model's identity is its name, its parameters and, when it has weights, their sha256; it is
recorded in the results file and keys the output cache (:mod:`czbench.models.cache`). Every
output is checked (2-D, one row per cell in the dataset's order, finite) with a one-line error
naming the model.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np

from czbench.errors import InputError
from czbench.utils.arrays import align_frame
from czbench.utils.hashing import sha256_file, sha256_parts


class Model(ABC):
    """A model that embeds a dataset.

    Subclasses set ``name`` and ``description``, take their hyperparameters as keyword
    arguments of ``__init__`` (stored under the same names, as in scikit-learn), and implement
    ``_embed(adata, seed)``. ``seeded``: whether the output depends on the seed (training,
    random initialisations); a model that is not seeded is computed once per dataset.
    ``extra``: the optional dependency group (``pip install czbench[EXTRA]``) it needs.
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""
    seeded: ClassVar[bool] = True
    extra: ClassVar[str | None] = None

    def params(self) -> dict[str, Any]:
        """The hyperparameters (``__init__``'s keyword arguments, read back)."""
        import inspect

        names = [p.name for p in inspect.signature(type(self).__init__).parameters.values()
                 if p.name != "self" and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)]
        return {n: getattr(self, n) for n in names}

    def weights_sha256(self) -> str | None:
        """sha256 of the model's weights (None: a method without trained weights)."""
        return None

    def code(self) -> dict[str, Any]:
        """What the model's code is: its class, the sha256 of the file defining it and the
        versions of czbench, of the distribution that ships the class and of the packages of
        its extra (an upgrade of any of them changes the identity, so the cache misses)."""
        return code_identity(type(self), self.extra)

    def identity(self) -> dict[str, Any]:
        """Name, parameters, weights' sha256, code (:meth:`code`) and their joint sha256 (the
        cache key's part)."""
        params = self.params()
        weights = self.weights_sha256()
        code = self.code()
        return {"name": self.name, "params": params, "weights_sha256": weights, "code": code,
                "sha256": sha256_parts(self.name, params, weights or "", code)}

    def inspect(self, adata: Any) -> dict[str, Any]:
        """Check ``adata`` before embedding it (a one-line error for what the model cannot
        use, a warning for what degrades it) and return what the results file should record
        about it (e.g. an MLflow package's missing training genes). Default: nothing."""
        return {}

    def embed(self, adata: Any, seed: int) -> np.ndarray:
        """The embedding of ``adata`` (rows in its cell order), checked."""
        return check_output(self.name, self._embed(adata, seed), adata.n_obs,
                            cells=adata.obs_names)

    @abstractmethod
    def _embed(self, adata: Any, seed: int) -> Any: ...

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{type(self).__name__}({args})"


def check_output(name: str, values: Any, n_cells: int, cells: Any = None) -> np.ndarray:
    """A model's output as a (cells x dims) float array, or a one-line error naming it.

    Checked as an embedding is: a DataFrame is matched to ``cells`` (the dataset's obs names)
    by its index (:func:`czbench.utils.arrays.align_frame`); float32 and float64 keep their
    precision (the exact power-of-two rescaling of tiny or huge values happens later, as for
    embeddings); integers, booleans and half precision become float32."""
    import pandas as pd

    if isinstance(values, pd.DataFrame):
        if cells is None:
            raise InputError(f"model {name}: output is a DataFrame but the dataset's cell "
                             f"names are unknown; return an array in the dataset's cell order")
        values = align_frame(f"model {name}", values, cells)
    if hasattr(values, "detach"):
        values = values.detach().cpu()
        values = (values.float() if values.dtype in (torch_half()) else values).numpy()
    if hasattr(values, "toarray"):
        values = values.toarray()
    try:
        values = np.asarray(values)
        if values.dtype.kind not in "fiub" or values.dtype.kind == "c":
            raise TypeError(values.dtype)
        if values.dtype not in (np.float32, np.float64):
            values = values.astype(np.float32)
    except (TypeError, ValueError) as err:
        raise InputError(f"model {name}: output is not numeric ({type(values).__name__})") \
            from err
    if values.ndim != 2:
        raise InputError(f"model {name}: output must be 2-D (cells x dims), got shape "
                         f"{values.shape}")
    if values.shape[0] != n_cells:
        raise InputError(f"model {name}: output has {values.shape[0]} rows but the dataset "
                         f"has {n_cells} cells")
    if values.shape[1] < 1:
        raise InputError(f"model {name}: output has no dimensions")
    if not np.isfinite(values).all():
        bad = int((~np.isfinite(values)).any(axis=1).sum())
        raise InputError(f"model {name}: output has NaN or infinite values in {bad} cells")
    return values


def require(module: str, model: str, extra: str) -> Any:
    """Import an optional dependency, or a one-line error naming the extra that installs it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise InputError(f"model {model}: needs the optional package '{module}'; install it "
                         f"with: pip install 'czbench[{extra}]'") from err


def torch_half() -> tuple[Any, ...]:
    import torch

    return (torch.float16, torch.bfloat16)


def _distribution_of(module: str) -> str | None:
    from importlib import metadata

    top = module.split(".")[0]
    names = metadata.packages_distributions().get(top) or []
    return names[0] if names else None


def _version(distribution: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def _extra_distributions(extra: str | None) -> list[str]:
    """The distributions ``czbench[extra]`` installs (from czbench's own metadata)."""
    import re
    from importlib import metadata

    if not extra:
        return []
    try:
        requires = metadata.requires("czbench") or []
    except metadata.PackageNotFoundError:
        return []
    out = []
    for req in requires:
        if re.search(rf"extra\s*==\s*['\"]{re.escape(extra)}['\"]", req):
            out.append(re.split(r"[\s\[<>=!~;(]", req, maxsplit=1)[0])
    return out


def code_identity(cls: type, extra: str | None = None) -> dict[str, Any]:
    """{class, source_sha256, versions} of a model class (see :meth:`Model.code`)."""
    import inspect

    import czbench

    try:
        source = inspect.getsourcefile(cls)
        source_sha = sha256_file(source) if source else None
    except (TypeError, OSError):  # defined in a notebook or a string
        source_sha = None
    versions: dict[str, str | None] = {"czbench": czbench.__version__}
    owner = _distribution_of(cls.__module__)
    if owner:
        versions[owner] = _version(owner)
    for dist in _extra_distributions(extra):
        versions[dist] = _version(dist)
    return {"class": f"{cls.__module__}.{cls.__qualname__}", "source_sha256": source_sha,
            "versions": versions}
