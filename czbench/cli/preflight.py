"""Checks of a ``czbench run`` command line that need no heavy import (no torch, no scanpy):
seeds, option syntax, task and dataset names, input specs and files, output paths. They run
first, so a mistyped command fails in well under a second, before anything is loaded. What
needs the data (obs columns, shapes) or a task class (option types and bounds) is checked next,
by the run's planner, still before any work.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from czbench.errors import CZBenchError, InputError
from czbench.utils.checks import DEFAULT_SEED, MAX_SEED, check_int, check_output_path

DEFAULT_DATASET = "pbmc_3chemistries_symphony"
SPEC_PREFIXES = ("obsm:", "baseline:", "control:")


@dataclass
class RunRequest:
    """A checked ``czbench run`` command line."""

    datasets: list[str]
    outputs: list[Path]
    seeds: list[int]
    embeddings: dict[str, str] | None
    predictions: dict[str, str] | None
    tasks: list[str] | None
    options: dict[str, dict[str, Any]]


def flat(groups: list[list[str]] | None) -> list[str] | None:
    return [v for group in groups for v in group] if groups else None


def parse_options(items: Sequence[str]) -> dict[str, dict[str, Any]]:
    """{task: {key: value}} from ``TASK.KEY=VALUE`` strings (VALUE parsed as JSON if it can
    be, e.g. 100000, true, [\"lr\"]; else kept as a string)."""
    options: dict[str, dict[str, Any]] = {}
    for item in items:
        target, sep, raw = item.partition("=")
        task, dot, key = target.partition(".")
        if not sep or not dot or not task or not key:
            raise CZBenchError(f"option: expected TASK.KEY=VALUE, got {item!r}")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        key = key.replace("-", "_")
        if key in options.get(task, {}):
            raise CZBenchError(f"option: {task}.{key} is given twice")
        options.setdefault(task, {})[key] = value
    return options


def seeds_of(args: argparse.Namespace) -> list[int]:
    """The run's seeds from ``--seed`` / ``--seeds``: integers in 0 ... 2**32 - 1, distinct."""
    if args.seeds is not None and args.seed is not None:
        raise CZBenchError("seeds: give --seed or --seeds, not both")
    if args.seeds is None:
        raw = [DEFAULT_SEED if args.seed is None else args.seed]
    elif not args.seeds:
        raise CZBenchError("seeds: --seeds is empty; expected integers like 0,1,2")
    else:
        raw = list(args.seeds)
    seeds = []
    for value in raw:
        try:
            number = int(value) if isinstance(value, str) else value
        except ValueError:
            raise InputError(f"seeds: expected integers in 0...{MAX_SEED} like 0,1,2, got "
                             f"{value!r}") from None
        seeds.append(check_int(number, "seed" if args.seeds is None else "seeds", 0, MAX_SEED))
    if len(set(seeds)) != len(seeds):
        raise InputError(f"seeds: each seed must appear once, got {','.join(map(str, seeds))}")
    return seeds


def named_specs(items: list[str] | None, field: str) -> dict[str, str] | None:
    """``{name: spec}`` from ``SPEC`` or ``NAME=SPEC`` items (the name defaults to the spec)."""
    if not items:
        return None
    out: dict[str, str] = {}
    for item in items:
        name, sep, spec = item.partition("=")
        if not sep or "/" in name or ":" in name:
            name, spec = item, item
        if not name.strip() or not spec.strip():
            raise InputError(f"{field}: expected SPEC or NAME=SPEC, got {item!r}")
        if name in out:
            raise InputError(f"{field}: '{name}' is given twice; each input is scored once")
        out[name] = spec
    return out


def with_model_specs(embeddings: dict[str, str] | None,
                     models: list[str] | None) -> dict[str, str] | None:
    """``--model`` values added to the embeddings: a registered name (``harmony``) becomes
    ``model:harmony``, ``mlflow:URI`` stays; other specs (``baseline:pca``) are embeddings."""
    from czbench.models.registry import MODEL_PREFIXES, check_model_spec

    if not models:
        return embeddings
    out = dict(embeddings or {})
    for value in models:
        value = value.strip()
        if not value:
            raise InputError("model: expected NAME or mlflow:PATH_OR_URI, got an empty value")
        if value.startswith(MODEL_PREFIXES) or ":" not in value and "/" not in value \
                and not value.endswith(".npy"):
            spec = check_model_spec(value)
        else:
            check_spec(value, "embedding")
            spec = value
        if spec in out:
            raise InputError(f"model: '{spec}' is given twice; each input is scored once")
        out[spec] = spec
    return out


def check_spec(spec: str, field: str) -> None:
    """A file spec must be an existing file of the right kind; prefixes are checked later."""
    if spec.startswith(SPEC_PREFIXES):
        if not spec.split(":", 1)[1]:
            raise InputError(f"{field}: '{spec}' names nothing after the prefix")
        return
    path = Path(spec)
    suffixes = (".npy",) if field == "embedding" else (".h5ad", ".npy")
    if path.suffix == ".h5ad" and field == "embedding":
        raise InputError(f"embedding: '{spec}' is an .h5ad file; embeddings are .npy files or "
                         f"obsm:KEY (expression predictions go to --prediction)")
    if path.suffix not in suffixes:
        kinds = "obsm:KEY, baseline:NAME or a .npy file" if field == "embedding" else \
            "an .h5ad or .npy file"
        raise InputError(f"{field}: '{spec}' is not {kinds}")
    if not path.is_file():
        raise InputError(f"{field}: file not found: {spec}")
    if path.suffix == ".npy":
        check_npy_header(path, field)


def check_npy_header(path: Path, field: str) -> None:
    """Read only the header of a .npy file: a 2-D array of real numbers."""
    import numpy as np

    try:  # memory-mapped: only the header is read
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise InputError(f"{field}: {path} is not a readable .npy file ({err})") from None
    shape, dtype = array.shape, array.dtype
    if dtype.kind == "c":
        raise InputError(f"{field}: {path} holds complex values ({dtype}); expected real numbers")
    if dtype.kind not in "fiu":
        raise InputError(f"{field}: {path} holds {dtype} values; expected real numbers")
    if len(shape) != 2:
        raise InputError(f"{field}: {path} has shape {shape}; expected cells x dims (2-D)")


def check_dataset(name: str) -> None:
    from czbench.datasets.registry import list_datasets

    if name in list_datasets():
        return
    if name.endswith(".h5ad") or is_sequence_path(name):
        if not Path(name).is_file():
            raise InputError(f"dataset: file not found: {name}")
        return
    raise InputError(f"dataset: unknown dataset '{name}'; expected a registered name "
                     f"({', '.join(list_datasets())}), an .h5ad path or a FASTA / CSV / TSV "
                     f"file of DNA sequences")


def is_sequence_path(name: str) -> bool:
    """A FASTA / CSV / TSV file of DNA sequences (read as the ``sequence`` modality)."""
    from czbench.datasets.sequence_files import SEQUENCE_SUFFIXES

    return Path(str(name)).suffix.lower() in SEQUENCE_SUFFIXES


def outputs_of(args: argparse.Namespace, datasets: list[str]) -> list[Path]:
    """Where each dataset's results go; each path is checked to be writable."""
    stems = [Path(str(d)).stem for d in datasets]
    if len(stems) != len(set(stems)):
        raise InputError(f"dataset: names must differ, got {', '.join(datasets)}")
    if len(datasets) == 1:
        paths = [args.output or Path("results") / f"{stems[0]}.json"]
    else:
        folder = args.output or Path("results")
        if folder.suffix == ".json" or folder.is_file():
            raise InputError(f"output: with several datasets --output must be a folder, got "
                             f"{folder}")
        paths = [folder / f"{stem}.json" for stem in stems]
    return [check_output_path(p, overwrite=args.overwrite) for p in paths]


def check_run(args: argparse.Namespace) -> RunRequest:
    """Every check of ``czbench run`` that needs no data, in one pass, in argument order."""
    from czbench.tasks.registry import list_tasks

    datasets = flat(args.dataset) or [DEFAULT_DATASET]
    for name in datasets:
        check_dataset(name)
    embeddings = named_specs(flat(args.embedding), "embedding")
    predictions = named_specs(flat(args.prediction), "prediction")
    for group, field in ((embeddings, "embedding"), (predictions, "prediction")):
        for spec in (group or {}).values():
            check_spec(spec, field)
    embeddings = with_model_specs(embeddings, getattr(args, "model", None))
    tasks = flat(args.task)
    known = list_tasks()
    for task in tasks or []:
        if task not in known:
            raise InputError(f"task: unknown task '{task}'; available: {', '.join(known)}")
    if tasks and len(set(tasks)) != len(tasks):
        twice = next(t for t in tasks if tasks.count(t) > 1)
        raise InputError(f"task: {twice} given twice; each task runs once per input and seed "
                         f"(use --seeds for repeats)")
    options = parse_options(args.option)
    for task in options:
        if task not in known:
            raise InputError(f"option: unknown task '{task}' in --option {task}.KEY=VALUE; "
                             f"available: {', '.join(known)}")
    seeds = seeds_of(args)
    if args.workers < 1:
        raise InputError(f"workers: expected at least 1, got {args.workers}")
    if args.resume and args.run_dir is None:
        raise InputError("resume: --resume needs --run-dir, the folder of the run to continue")
    if args.run_dir is not None and args.run_dir.exists() and not args.run_dir.is_dir():
        raise InputError(f"run directory: {args.run_dir} is a file; expected a folder")
    outputs = outputs_of(args, datasets)
    return RunRequest(datasets, outputs, seeds, embeddings, predictions, tasks, options)
