"""``check_model``: the contract of a model (:class:`~czbench.models.Model`).

Checks, each reported by name: ``identity``, ``output``, ``deterministic``, ``picklable`` and
``global_random_state``.
"""

from __future__ import annotations

import json
import pickle
import random
import sys
from typing import Any

import numpy as np

from czbench.models import get_model
from czbench.models.base import Model
from czbench.testing.data import model_data
from czbench.testing.report import Checks, ConformanceReport, Failed, Skipped


def _random_state() -> dict[str, Any]:
    """The global generators' states (Python, numpy's legacy one, torch's CPU one if loaded)."""
    torch = sys.modules.get("torch")
    return {"random": random.getstate(), "numpy": np.random.get_state(),  # noqa: NPY002
            "torch": torch.get_rng_state() if torch is not None else None}


def _set_random_state(state: dict[str, Any]) -> None:
    random.setstate(state["random"])
    np.random.set_state(state["numpy"])  # noqa: NPY002
    torch = sys.modules.get("torch")
    if torch is not None and state["torch"] is not None:
        torch.set_rng_state(state["torch"])


def _scramble(call: int) -> None:
    """Move the global generators to a state no seed call leaves them in (so a model that
    reseeds them is seen even when an earlier call left that same seed's state), a different
    one at each ``call`` (so a model that draws from them unseeded is not deterministic)."""
    random.seed(0x5EED + call)
    random.random()
    np.random.seed(0x5EED + call)  # noqa: NPY002
    np.random.random()  # noqa: NPY002
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.rand(1)


def _moved(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """The generators whose state differs."""
    moved = []
    if before["random"] != after["random"]:
        moved.append("random")
    old, new = before["numpy"], after["numpy"]
    if old[0] != new[0] or not np.array_equal(old[1], new[1]) or old[2:] != new[2:]:
        moved.append("numpy.random")
    if before["torch"] is not None and after["torch"] is not None and \
            not bool((before["torch"] == after["torch"]).all()):
        moved.append("torch")
    return moved


class ModelChecker:
    """Runs the checks of one model on one dataset, sharing its outputs between checks."""

    def __init__(self, model: Model, adata: Any, seed: int, checks: Checks) -> None:
        self.model, self.adata, self.seed, self.checks = model, adata, seed, checks
        self.output: np.ndarray | None = None
        self.calls = 0
        self.moved: list[str] = []

    def identity(self) -> None:
        first = self.model.identity()
        json.dumps(first)
        again = type(self.model)(**self.model.params()).identity()
        if json.dumps(again, sort_keys=True) != json.dumps(first, sort_keys=True):
            raise Failed(f"two instances with the same params differ: {first} vs {again}")

    def embed(self, model: Model) -> np.ndarray:
        """``model``'s output; the global generators are put back afterwards, whatever the
        model did (what it moved is kept in ``moved``)."""
        saved = _random_state()
        try:
            self.calls += 1
            _scramble(self.calls)
            before = _random_state()
            values = model.embed(self.adata, self.seed)
            self.moved = sorted({*self.moved, *_moved(before, _random_state())})
        finally:
            _set_random_state(saved)
        return values

    def output_(self) -> None:
        values = self.embed(self.model)
        if not isinstance(values, np.ndarray):
            raise Failed(f"embed returned a {type(values).__name__}, not a numpy array")
        n = self.adata.n_obs
        if values.ndim != 2 or values.shape[0] != n or values.shape[1] < 1:
            raise Failed(f"output has shape {values.shape}; expected ({n}, d) with d >= 1")
        if values.dtype.kind != "f" or not np.isfinite(values).all():
            raise Failed(f"output is {values.dtype} with non-finite values")
        self.output = values

    def deterministic(self) -> None:
        assert self.output is not None
        again = self.embed(self.model)
        if not np.array_equal(again, self.output):
            what = f"seed={self.seed}" if self.model.seeded else "an unseeded model"
            diff = float(np.max(np.abs(np.asarray(again, np.float64) - self.output))) \
                if again.shape == self.output.shape else f"shape {again.shape}"
            raise Failed(f"two calls with {what} differ (largest difference {diff})")

    def picklable(self) -> None:
        copy = pickle.loads(pickle.dumps(self.model))
        if copy.params() != self.model.params():
            raise Failed(f"params changed: {copy.params()} vs {self.model.params()}")
        if self.output is None or "deterministic" not in self.checks.report.passed:
            return  # no output, or one that changes from call to call: nothing to compare
        if not np.array_equal(self.embed(copy), self.output):
            raise Failed("the unpickled model embeds differently")

    def global_random_state(self) -> None:
        if self.output is None:
            raise Skipped("no output to check")
        if self.moved:
            raise Failed(f"embed moved the global random state of {', '.join(self.moved)}")


def check_model(model: str | Model, adata: Any = None, *, seed: int = 0,
                raise_on_failure: bool = True) -> ConformanceReport:
    """Check a model against czbench's contract on ``adata`` (default: the first 300 cells of
    ``pbmc_3chemistries_symphony``, raw counts, 3 batches); raises
    :class:`ConformanceError` listing every failed check (or, with
    ``raise_on_failure=False``, returns the report)."""
    instance = get_model(model)
    checks = Checks("model", str(getattr(instance, "name", type(instance).__name__)))
    checker = ModelChecker(instance, model_data() if adata is None else adata, seed, checks)
    checks.run("identity", checker.identity,
               "take hyperparameters as keyword arguments of __init__ stored under the same "
               "names, with JSON values")
    checks.run("output", checker.output_,
               "return a (cells x dims) real, finite array, one row per cell in the dataset's "
               "order")
    checks.run("deterministic", checker.deterministic,
               "take every random choice from the seed argument (and fix thread-dependent "
               "reductions)", needs=("output",))
    checks.run("picklable", checker.picklable,
               "hold no lambda, open file or lock (Dask ships models to workers)")
    checks.run("global_random_state", checker.global_random_state,
               "use local generators, or put the global ones back afterwards "
               "(czbench.models.methods.common.global_random_state_restored)",
               needs=("output",))
    return checks.finish(raise_on_failure)
