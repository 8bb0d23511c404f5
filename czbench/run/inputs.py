"""What a run scores: every input gets an identity, a kind and a source.

* **identity** (``id``): the spec for specs (``baseline:pca``, ``obsm:X_scVI``, a file path),
  the key of a ``{name: values}`` mapping, else ``array:0``, ``array:1``... by position among
  the unnamed in-memory inputs. Two inputs with one id are a one-line error before any work.
* **kind**: ``embedding`` (cells x dims) or ``expression`` (a cells x genes prediction). Only
  tasks whose ``input_kind`` matches score an input, and a baseline declares its own kind.
* **role**: ``model``, ``baseline`` or ``control``. A model czbench runs itself
  (``model:NAME``, ``mlflow:URI``, a :class:`czbench.models.Model`) is an embedding input with
  role ``model`` whose values come from the model's (cached) output at each seed.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

from czbench.baselines import get_baseline, list_baselines
from czbench.baselines.base import Baseline
from czbench.baselines.controls import control_embeddings, shared_pca
from czbench.baselines.expression import PCA
from czbench.context import RunCache
from czbench.errors import InputError
from czbench.models import MODEL_PREFIXES, check_model_spec, get_model
from czbench.models.cache import cached_embedding
from czbench.tasks import list_tasks, task_class
from czbench.utils.arrays import align_frame, check_embedding
from czbench.utils.params import jsonable

KINDS = ("embedding", "expression")
#: id prefixes that mean a baseline or a control; users' names may not take them
RESERVED = ("baseline:", "control:")


@dataclass
class Input:
    """One thing to score on a dataset."""

    id: str
    kind: str
    role: str
    #: a spec string (``obsm:``, ``baseline:``, ``control:``, a path) or None (in memory)
    spec: str | None = None
    #: values already in memory (arrays handed over, files read while planning)
    values: Any = field(default=None, repr=False)
    #: baselines: the options of the run's task that brings it (see Baseline.options)
    options: dict[str, Any] = field(default_factory=dict)
    #: sha256 of ``values``, computed once while planning
    sha256: str | None = None
    #: a model run by czbench (``model:NAME``, ``mlflow:URI`` or a Model instance)
    model: Any = field(default=None, repr=False)
    #: models: read and write the output cache
    use_cache: bool = True
    #: models: per seed, (seconds spent embedding, whether the output came from the cache)
    model_runs: dict[int, tuple[float, bool]] = field(default_factory=dict)
    #: models: per seed, what the model's inspect() of the dataset recorded
    model_notes: dict[int, dict[str, Any]] = field(default_factory=dict)

    @property
    def seeded(self) -> bool:
        """Recomputed for every seed (baselines, controls, models; a model that is not seeded
        is read back from the cache)."""
        return self.role in ("baseline", "control") or self.model is not None

    def model_entry(self) -> dict[str, Any] | None:
        """The ``model`` field of the results file: the model's identity."""
        if self.model is None:
            return None
        return jsonable(self.model.identity())


def find_baseline(name: str) -> Baseline:
    """The baseline ``name``: a generic one, or one a registered task brings."""
    if name in list_baselines():
        return get_baseline(name)
    for task in list_tasks():
        for baseline in task_class(task).baselines:
            if baseline.name == name:
                return baseline
    raise InputError(f"embedding: unknown baseline '{name}'; expected one of "
                     f"{', '.join(all_baselines())}")


def all_baselines() -> dict[str, tuple[Baseline, str]]:
    """{name: (baseline, where it comes from: 'czbench' or 'task <name>')}."""
    out = {name: (get_baseline(name), "czbench") for name in list_baselines()}
    for task in list_tasks():
        for baseline in task_class(task).baselines:
            out.setdefault(baseline.name, (baseline, f"task {task}"))
    return out


def _is_model(value: Any) -> bool:
    from czbench.models.base import Model

    return isinstance(value, Model)


def _in_memory_kind(values: Any) -> str:
    if isinstance(values, ad.AnnData):
        return "expression"
    if isinstance(values, pd.DataFrame):  # rows matched to the dataset's cells by name
        return "embedding"
    if isinstance(values, np.ndarray | torch.Tensor) or sp.issparse(values):
        return "embedding"
    raise InputError(f"embedding: expected a spec string, a numpy array, a torch tensor, a "
                     f"scipy sparse matrix, an AnnData or a DataFrame, got "
                     f"{type(values).__name__}")


def _spec_input(spec: str, name: str | None, forced: str | None) -> Input:
    ident = name or spec
    if spec.startswith("baseline:"):
        baseline = find_baseline(spec[9:])
        if forced is not None and baseline.kind != forced:
            raise InputError(f"prediction: baseline:{baseline.name} is an {baseline.kind}, not "
                             f"an expression prediction")
        return Input(ident, baseline.kind, "baseline", spec)
    if spec.startswith("control:"):
        raise InputError(f"embedding: controls are added with controls=True (--controls), "
                         f"not as {spec!r}")
    if spec.startswith(MODEL_PREFIXES):
        if forced is not None:
            raise InputError(f"prediction: {spec} is a model that gives an embedding, not an "
                             f"expression prediction")
        spec = check_model_spec(spec)
        return Input(name or spec, "embedding", "model", spec, model=get_model(spec))
    if spec.startswith("obsm:"):
        return Input(ident, forced or "embedding", "model", spec)
    path = Path(spec)
    if path.suffix not in (".npy", ".h5ad"):
        raise InputError(f"embedding: '{spec}' is not obsm:KEY, baseline:NAME, a .npy file "
                         f"or an .h5ad file of predictions")
    if path.suffix == ".h5ad" and forced is None:
        raise InputError(f"embedding: '{spec}' is an .h5ad file; embeddings are .npy files or "
                         f"obsm:KEY (expression predictions go to --prediction / "
                         f"predictions=)")
    return Input(ident, forced or "embedding", "model", spec)


def collect_inputs(embeddings: Any, predictions: Any = None) -> list[Input]:
    """:class:`Input` objects for the ``embeddings`` and ``predictions`` a user gave: each a
    sequence of specs / in-memory values, or a ``{name: spec or values}`` mapping."""
    out: list[Input] = []
    unnamed = 0
    for group, forced in ((embeddings, None), (predictions, "expression")):
        if group is None:
            continue
        field_name = "prediction" if forced else "embedding"
        if isinstance(group, str | Path) or not isinstance(group, Mapping | Sequence):
            raise InputError(f"{field_name}s: expected a list of specs/arrays or a "
                             f"{{name: array}} dict, got {type(group).__name__}")
        items = group.items() if isinstance(group, Mapping) else ((None, v) for v in group)
        for name, value in items:
            if name is not None and (not isinstance(name, str) or not name.strip()):
                raise InputError(f"{field_name}: names must be non-empty strings, got "
                                 f"{name!r}")
            if name is not None and name.startswith(RESERVED) and not (
                    isinstance(value, str) and name == value):
                raise InputError(f"{field_name}: the name {name!r} is reserved (names starting "
                                 f"with {' or '.join(RESERVED)} mean baselines and controls)")
            if isinstance(value, str | Path):
                out.append(_spec_input(str(value), name, forced))
                continue
            if forced is None and _is_model(value):
                out.append(Input(name or f"model:{value.name}", "embedding", "model",
                                 model=value))
                continue
            kind = forced or _in_memory_kind(value)
            if name is None:
                name = f"array:{unnamed}"
                unnamed += 1
            out.append(Input(name, kind, "model", None, value))
    seen: set[str] = set()
    for item in out:
        if item.id in seen:
            raise InputError(f"embedding: '{item.id}' is given twice; each input is scored "
                             f"once (give distinct names in a {{name: array}} dict)")
        seen.add(item.id)
    return out


def load_values(item: Input, adata: ad.AnnData, seed: int,
                cache: RunCache | None = None) -> Any:
    """The matrix of ``item`` for ``adata`` (baselines and controls computed with ``seed``;
    the PCA they share read from ``cache``), checked."""
    if item.role == "control":
        return control_embeddings(adata, seed=seed, cache=cache)[item.id]
    if item.values is not None:
        values = item.values
    elif item.model is not None:  # a model by name, mlflow:URI or a Model instance
        item.model_notes[int(seed)] = item.model.inspect(adata)  # before any cache or work
        start = time.perf_counter()
        values, hit = cached_embedding(item.model, adata, seed, use_cache=item.use_cache)
        item.model_runs[int(seed)] = (time.perf_counter() - start, hit)
    elif item.spec is None:
        raise InputError(f"embedding: {item.id} has no values")
    elif item.spec.startswith("obsm:"):
        key = item.spec[5:]
        if key not in adata.obsm:
            raise InputError(f"embedding: obsm key '{key}' not found; obsm has: "
                             f"{', '.join(adata.obsm) or '(nothing)'}")
        values = adata.obsm[key]
    elif item.spec.startswith("baseline:"):
        baseline = find_baseline(item.spec[9:])
        values = shared_pca(adata, seed, cache) if baseline is PCA else \
            baseline(adata, seed, **item.options)
    else:
        values = read_file(Path(item.spec))
    return check_values(item, values, adata)


def read_file(path: Path) -> Any:
    """A .npy embedding or an .h5ad of predictions."""
    if not path.exists():
        raise InputError(f"embedding: file not found: {path}")
    try:
        if path.suffix == ".npy":
            return np.load(path, allow_pickle=False)
        return ad.read_h5ad(path)
    except (ValueError, OSError) as err:
        raise InputError(f"embedding: {path} is not a readable {path.suffix} file") from err


def check_values(item: Input, values: Any, adata: ad.AnnData) -> Any:
    """One-line errors for an input whose shape cannot fit the dataset."""
    if item.kind == "expression" and isinstance(values, ad.AnnData | pd.DataFrame):
        return values  # aligned to the dataset by cell and gene names by the task
    if isinstance(values, ad.AnnData):
        raise InputError(f"embedding: {item.id} is an AnnData; embeddings are cells x dims "
                         f"arrays (pass it as a prediction)")
    if isinstance(values, pd.DataFrame):
        values = align_frame(f"embedding: {item.id}", values, adata.obs_names)
    if getattr(values, "ndim", 0) != 2:
        raise InputError(f"embedding: {item.id} must be 2-D (cells x dims), got shape "
                         f"{getattr(values, 'shape', None)}")
    if values.shape[0] != adata.n_obs:
        raise InputError(f"embedding: {item.id} has {values.shape[0]} rows but the dataset "
                         f"has {adata.n_obs} cells")
    if item.kind == "embedding":
        check_embedding(values, f"embedding: {item.id}")
    return values


def with_models(embeddings: Any, models: Sequence[Any] | None) -> Any:
    """The inputs to score: ``embeddings`` plus the ``models`` (names become ``model:NAME``
    specs; ``mlflow:``, ``baseline:`` and other specs and Model instances stay as given)."""
    if models is None:
        return embeddings
    if isinstance(models, str) or not isinstance(models, Sequence):
        raise InputError(f"models: expected a list of names, mlflow:URI specs or Model "
                         f"instances, got {type(models).__name__}")
    specs = [m if not isinstance(m, str) or ":" in m else f"model:{m}" for m in models]
    if embeddings is None:
        return specs
    if isinstance(embeddings, Mapping):
        keys = [s if isinstance(s, str) else f"model:{getattr(s, 'name', s)}" for s in specs]
        clash = [k for i, k in enumerate(keys) if k in embeddings or k in keys[:i]]
        if clash:
            raise InputError(f"models: '{clash[0]}' is also a key of embeddings or given twice; "
                             f"rename the array (a model is never put in its place)")
        return {**embeddings, **dict(zip(keys, specs, strict=True))}
    if isinstance(embeddings, str | Path) or not isinstance(embeddings, Sequence):
        return embeddings  # collect_inputs reports it
    return [*embeddings, *specs]
