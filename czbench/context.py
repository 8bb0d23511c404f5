"""``RunContext``: the settings every task of a run shares -- seed, kNN backend, device.

One context reaches every task on every path (``czbench run``, ``czbench.benchmark``, the
Lightning callback, the estimators and a standalone ``Task.run``), so a seed or a device can
never be lost on the way. Task options (``n_neighbors``, ``classifiers``...) say *what* is
computed; the context says with which random stream and on which hardware.

>>> from czbench.context import RunContext
>>> RunContext(seed=0, knn_backend="exact").describe()["knn_backend"]
'exact'
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import torch

from czbench.errors import InputError
from czbench.utils.checks import DEFAULT_SEED, MAX_SEED, check_int

#: kNN search backends: ``auto`` (exact up to 100k cells on CPU, faiss IVF above), or forced
KNN_BACKENDS = ("auto", "exact", "faiss-ivf")


def check_seed(seed: Any, field: str = "seed") -> int:
    """``seed`` as an int in 0 ... 2**32 - 1 (what numpy's and torch's generators accept);
    bools, non-integral numbers, text and values out of range are a one-line error."""
    return check_int(seed, field, 0, MAX_SEED)


@dataclass(frozen=True)
class RunContext:
    """Seed, kNN backend and device of a run.

    Attributes:
        seed: seed of every random choice (Leiden, folds, forests, subsamples, baselines).
        knn_backend: ``auto``, ``exact`` or ``faiss-ivf`` (see :mod:`czbench.neighbors`).
        device: where torch metric code runs (``"cpu"``, ``"cuda"``, ``"cuda:1"``...);
            ``None``: a torch embedding's own device, else CUDA when available, else CPU.
    """

    seed: int = DEFAULT_SEED
    knn_backend: str = "auto"
    device: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "seed", check_seed(self.seed))
        if self.knn_backend not in KNN_BACKENDS:
            raise InputError(f"knn_backend: expected one of {', '.join(KNN_BACKENDS)}, got "
                             f"{self.knn_backend!r}")
        if self.device is not None:
            try:
                device = torch.device(self.device)
            except (RuntimeError, TypeError) as err:
                raise InputError(f"device: expected a torch device such as 'cpu' or 'cuda', "
                                 f"got {self.device!r}") from err
            if device.type == "cuda" and not torch.cuda.is_available():
                raise InputError(f"device: {self.device!r} was asked for but CUDA is not "
                                 f"available here")
            object.__setattr__(self, "device", str(device))

    def with_seed(self, seed: int) -> RunContext:
        """The same context with another seed."""
        return replace(self, seed=seed)

    def torch_device(self, values: Any = None) -> torch.device:
        """The device torch code runs on for ``values`` (see :func:`resolve_device`)."""
        return resolve_device(values, self.device)

    def describe(self, values: Any = None) -> dict[str, Any]:
        """``{"knn_backend", "device"}`` as recorded in results files (device resolved)."""
        return {"knn_backend": self.knn_backend, "device": str(self.torch_device(values))}


def resolve_device(values: Any = None, device: str | torch.device | None = None) -> torch.device:
    """``device`` if given, else the device of a torch ``values``, else CUDA when available,
    else CPU: the one rule every metric and the kNN search follow."""
    if device is not None:
        return torch.device(device)
    if isinstance(values, torch.Tensor):
        return values.device
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def as_context(context: RunContext | None) -> RunContext:
    """``context``, or the default one (seed 42, auto backend, auto device)."""
    if context is None:
        return RunContext()
    if not isinstance(context, RunContext):
        raise InputError(f"context: expected a czbench.context.RunContext, got "
                         f"{type(context).__name__}")
    return context
