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
from czbench.utils.hashing import sha256_parts


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

    def identity(self) -> dict[str, Any]:
        """Name, parameters, weights' sha256 and their joint sha256 (the cache key's part)."""
        params = self.params()
        weights = self.weights_sha256()
        return {"name": self.name, "params": params, "weights_sha256": weights,
                "sha256": sha256_parts(self.name, params, weights or "")}

    def embed(self, adata: Any, seed: int) -> np.ndarray:
        """The embedding of ``adata`` (rows in its cell order), checked."""
        return check_output(self.name, self._embed(adata, seed), adata.n_obs)

    @abstractmethod
    def _embed(self, adata: Any, seed: int) -> Any: ...

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{type(self).__name__}({args})"


def check_output(name: str, values: Any, n_cells: int) -> np.ndarray:
    """A model's output as a float32 (cells x dims) array, or a one-line error naming it."""
    if hasattr(values, "detach"):
        values = values.detach().cpu().numpy()
    if hasattr(values, "toarray"):
        values = values.toarray()
    try:
        values = np.asarray(values, dtype=np.float32)
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
