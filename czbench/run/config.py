"""``RunConfig``: everything a run is asked to do, in one frozen, validated value.

Every front door builds one -- ``czbench.benchmark`` / ``benchmark_grid`` from their keyword
arguments (:meth:`RunConfig.from_kwargs`), ``czbench run`` from its flags -- and the run layer
consumes only it; the results file records it whole (``config``). Seeds, task names, task
options, the kNN backend and the device are checked here, once, before any work.

>>> RunConfig.from_kwargs(["pbmc68k_reduced"], seeds=[0, 1]).seeds
(0, 1)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import anndata as ad

from czbench.context import DEFAULT_SEED, RunContext, check_seed
from czbench.errors import InputError
from czbench.tasks import Task, list_tasks
from czbench.utils.params import jsonable


def check_seeds(seeds: Sequence[Any] | None, seed: Any = DEFAULT_SEED) -> list[int]:
    """The run's seeds: ``seeds`` when given (distinct integers, at least one), else
    ``[seed]``."""
    if seeds is None:
        return [check_seed(seed)]
    if isinstance(seeds, str | bytes) or not isinstance(seeds, Sequence):
        raise InputError(f"seeds: expected a list of integers, got {seeds!r}")
    values = [check_seed(s, "seeds") for s in seeds]
    if not values or len(set(values)) != len(values):
        raise InputError(f"seeds: expected distinct integers, got {list(seeds)}")
    return values


def _check_flag(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise InputError(f"{name}: expected True or False, got {value!r}")
    return value


@dataclass(frozen=True)
class RunConfig:
    """What a run scores, how and where (see :func:`czbench.run.benchmark` for each field).

    ``datasets``: names, .h5ad paths or AnnData; ``embeddings``/``predictions``: specs or
    arrays (a list or a {name: spec} dict); ``tasks``: names or Task instances (None: each
    dataset's defaults); ``task_options``: {task: {option: value}}; ``seeds``: distinct
    integers. ``scheduler``: None (serial), ``"local"``, an address or a Dask Client.
    """

    datasets: tuple[Any, ...]
    embeddings: Any = None
    tasks: tuple[str | Task, ...] | None = None
    predictions: Any = None
    seeds: tuple[int, ...] = (DEFAULT_SEED,)
    controls: bool = False
    label_key: str | None = None
    batch_key: str | None = None
    task_options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    knn_backend: str = "auto"
    device: str | None = None
    backed: bool = False
    scheduler: Any = None
    n_workers: int | None = None
    run_dir: str | None = None
    resume: bool = False
    modality: str | None = None
    use_cache: bool = True
    spatial_key: str | None = None

    def __post_init__(self) -> None:
        datasets = self.datasets
        if isinstance(datasets, str | Path | ad.AnnData) or not isinstance(datasets, Sequence) \
                or not datasets:
            raise InputError("dataset: expected a list of datasets (names, paths or AnnData)")
        set_ = object.__setattr__
        set_(self, "datasets", tuple(datasets))
        set_(self, "seeds", tuple(check_seeds(list(self.seeds))))
        if self.tasks is not None:
            tasks = [self.tasks] if isinstance(self.tasks, str | Task) else self.tasks
            if not isinstance(tasks, Sequence) or not tasks:
                raise InputError(f"task: expected task names or Task instances, got "
                                 f"{self.tasks!r}")
            unknown = [t for t in tasks if isinstance(t, str) and t not in list_tasks()]
            if unknown or not all(isinstance(t, str | Task) for t in tasks):
                bad = unknown[0] if unknown else next(t for t in tasks
                                                      if not isinstance(t, str | Task))
                raise InputError(f"task: unknown task {bad!r}; tasks are: "
                                 f"{', '.join(list_tasks())}")
            set_(self, "tasks", tuple(tasks))
        options = self.task_options or {}
        if not isinstance(options, Mapping) or \
                not all(isinstance(v, Mapping) for v in options.values()):
            raise InputError(f"task_options: expected {{task: {{option: value}}}}, got "
                             f"{options!r}")
        unknown = sorted(set(options) - set(list_tasks()))
        if unknown:
            raise InputError(f"task options: unknown task(s) {', '.join(unknown)}; tasks are: "
                             f"{', '.join(list_tasks())}")
        set_(self, "task_options", {t: dict(o) for t, o in options.items()})
        for name in ("controls", "backed", "resume", "use_cache"):
            _check_flag(getattr(self, name), name)
        if self.n_workers is not None and (isinstance(self.n_workers, bool) or
                                           not isinstance(self.n_workers, int) or
                                           self.n_workers < 1):
            raise InputError(f"n_workers: expected a positive integer, got {self.n_workers!r}")
        if self.run_dir is not None:
            set_(self, "run_dir", str(self.run_dir))
        self.context()  # the kNN backend and the device, checked

    @classmethod
    def from_kwargs(cls, datasets: Sequence[Any], embeddings: Any = None,
                    tasks: Sequence[str | Task] | None = None, *,
                    seed: int = DEFAULT_SEED, seeds: Sequence[int] | None = None,
                    models: Sequence[Any] | None = None, **kwargs: Any) -> RunConfig:
        """The configuration of ``benchmark_grid``'s keyword arguments (``seed`` or ``seeds``;
        ``models`` joined to ``embeddings``)."""
        from czbench.run.inputs import with_models

        return cls(datasets=datasets, embeddings=with_models(embeddings, models), tasks=tasks,
                   seeds=tuple(check_seeds(seeds, seed)), **kwargs)

    def context(self, seed: int | None = None) -> RunContext:
        """The run context (seed: the first, or ``seed``)."""
        return RunContext(seed=self.seeds[0] if seed is None else seed,
                          knn_backend=self.knn_backend, device=self.device)

    def describe(self) -> dict[str, Any]:
        """The configuration as recorded in results files (arrays and objects by name)."""
        out = {}
        for item in fields(self):
            value = getattr(self, item.name)
            out[item.name] = _describe(value)
        return jsonable(out)


def _describe(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Task):
        return {"task": value.name, "options": jsonable(value.options())}
    if isinstance(value, ad.AnnData):
        return f"anndata ({value.n_obs} x {value.n_vars})"
    if isinstance(value, Mapping):
        return {str(k): _describe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_describe(v) for v in value]
    shape = getattr(value, "shape", None)
    if shape is not None:
        return f"{type(value).__name__} {' x '.join(map(str, shape))}"
    return getattr(value, "name", None) or type(value).__name__
