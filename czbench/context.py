"""``RunContext``: the settings every task of a run shares -- seed, kNN backend, device --
and the data derived once per dataset that its seeds share (``RunCache``).

One context reaches every task on every path (``czbench run``, ``czbench.benchmark``, the
Lightning callback, the estimators and a standalone ``Task.run``), so a seed or a device can
never be lost on the way. Task options (``n_neighbors``, ``classifiers``...) say *what* is
computed; the context says with which random stream and on which hardware.

>>> from czbench.context import RunContext
>>> RunContext(seed=0, knn_backend="exact").describe()["knn_backend"]
'exact'
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch

from czbench.errors import InputError
from czbench.utils.checks import DEFAULT_SEED, MAX_SEED, check_int

#: kNN search backends: ``auto`` (exact up to 100k cells on CPU, faiss IVF above), or forced
KNN_BACKENDS = ("auto", "exact", "faiss-ivf")


def check_seed(seed: Any, field: str = "seed") -> int:
    """``seed`` as an int in 0 ... 2**32 - 1 (what numpy's and torch's generators accept);
    bools, non-integral numbers, text and values out of range are a one-line error."""
    return check_int(seed, field, 0, MAX_SEED)


class RunCache:
    """Data derived from a dataset that several parts of a run need (the unintegrated PCA that
    ``baseline:pca``, the controls and ``pcr_comparison`` share), computed once per
    (dataset, key) and reused.

    Owned by a :class:`RunContext`; the run layer gives each dataset of a run its own. A cache
    never travels: a pickled copy (a Dask worker's) starts empty and fills in that process.
    ``computed`` counts the values computed per key (what the tests count).
    """

    def __init__(self) -> None:
        self._values: dict[tuple[int, Hashable], tuple[Any, Any]] = {}
        self.computed: dict[Hashable, int] = {}
        self._lock = threading.Lock()

    def get(self, dataset: Any, key: Hashable, compute: Callable[[], Any]) -> Any:
        """The value of ``key`` for ``dataset`` (an AnnData, compared by identity; None for
        values that depend on no dataset), computed by ``compute()`` the first time. Safe
        from several threads (two may compute the same value; one is kept)."""
        slot = (id(dataset), key)
        with self._lock:
            if slot in self._values:
                return self._values[slot][1]
        value = compute()
        with self._lock:  # the dataset is held, so its id is not reused
            if slot not in self._values:
                self._values[slot] = (dataset, value)
                self.computed[key] = self.computed.get(key, 0) + 1
            return self._values[slot][1]

    def put(self, dataset: Any, key: Hashable, value: Any) -> None:
        """Keep ``value`` for one later :meth:`take` (e.g. a baseline computed while checking
        the inputs, handed to the cell that scores it)."""
        with self._lock:
            self._values[(id(dataset), key)] = (dataset, value)

    def take(self, dataset: Any, key: Hashable) -> Any:
        """The value :meth:`put` under ``key`` for ``dataset``, removed; None if there is
        none (e.g. in another process)."""
        with self._lock:
            held = self._values.pop((id(dataset), key), None)
        return None if held is None else held[1]

    def clear(self) -> None:
        with self._lock:
            self._values.clear()

    def __getstate__(self) -> dict[str, Any]:
        return {}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__()  # type: ignore[misc]

    def __repr__(self) -> str:
        return f"RunCache({len(self._values)} values)"


@dataclass(frozen=True)
class RunContext:
    """Seed, kNN backend and device of a run.

    Attributes:
        seed: seed of every random choice (Leiden, folds, forests, subsamples, baselines).
        knn_backend: ``auto``, ``exact`` or ``faiss-ivf`` (see :mod:`czbench.neighbors`).
        device: where torch metric code runs (``"cpu"``, ``"cuda"``, ``"cuda:1"``...);
            ``None``: a torch embedding's own device, else CUDA when available, else CPU.
        cache: data derived once per dataset and shared by every seed's tasks and inputs
            (:class:`RunCache`); not a setting: never compared, printed or recorded.
    """

    seed: int = DEFAULT_SEED
    knn_backend: str = "auto"
    device: str | None = None
    cache: RunCache = field(default_factory=RunCache, compare=False, repr=False)

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
        """The same context (and cache) with another seed."""
        return replace(self, seed=seed)

    def with_new_cache(self) -> RunContext:
        """The same settings with an empty cache (one per dataset of a run)."""
        return replace(self, cache=RunCache())

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


class _IgraphRNG:
    """igraph RNG backed by a numpy ``RandomState`` (the scheme scanpy uses for igraph)."""

    def __init__(self, seed: int) -> None:
        self._rng = np.random.RandomState(seed)

    def getrandbits(self, k: int) -> int:
        return int(self._rng.tomaxint()) & ((1 << k) - 1)

    def randint(self, a: int, b: int) -> int:
        return int(self._rng.randint(a, b + 1))

    def random(self) -> float:
        return float(self._rng.random_sample())

    def gauss(self, mu: float, sigma: float) -> float:
        return float(self._rng.normal(mu, sigma))


#: igraph's random number generator is process-global: one seeded swap at a time
_IGRAPH_LOCK = threading.Lock()


@contextmanager
def seeded_igraph(seed: int) -> Iterator[None]:
    """igraph's global RNG seeded with ``seed`` for the duration (Leiden), then igraph's own
    (Python's ``random``) again; one swap at a time in a process, so threads never share
    one."""
    import igraph as ig  # here, not at import: igraph pulls in matplotlib when it is installed

    with _IGRAPH_LOCK:
        ig.set_random_number_generator(_IgraphRNG(seed))
        try:
            yield
        finally:
            ig.set_random_number_generator(random)
