"""What each ``czbench`` subcommand does (the parser is in :mod:`czbench.cli`)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from czbench.cli.show import print_result
from czbench.errors import CZBenchError

DEFAULT_DATASET = "pbmc_3chemistries_symphony"


def _flat(groups: list[list[str]] | None) -> list[str] | None:
    return [v for group in groups for v in group] if groups else None


def report(args: argparse.Namespace, console: Console) -> None:
    from czbench.report import write_report

    written = write_report(args.results, args.output, overwrite=args.overwrite)
    console.print(f"report written to {args.output}: " + ", ".join(p.name for p in written))


def list_assets(what: str, console: Console) -> None:
    """``czbench list datasets|tasks|metrics|baselines``."""
    if what == "datasets":
        import czbench.datasets as ds

        table = Table("name", "cells", "genes", "columns", "embeddings", "licence",
                      title="Registered datasets")
        for name in ds.list():
            info = ds.info(name)
            table.add_row(name, str(info.n_cells), str(info.n_genes),
                          ", ".join(info.columns), ", ".join(info.embeddings) or "-",
                          info.licence)
    elif what == "baselines":
        from czbench.run.inputs import all_baselines

        table = Table("baseline", "kind", "from", "description", title="Baselines")
        for name, (baseline, origin) in all_baselines().items():
            table.add_row(f"baseline:{name}", baseline.kind, origin, baseline.description)
    else:
        from czbench.tasks import list_tasks, task_class

        if what == "tasks":
            table = Table("task", "scores", "needs obs columns", "metrics", "description",
                          title="Registered tasks")
            for name in list_tasks():
                task = task_class(name)()
                table.add_row(name, task.input_kind, ", ".join(task.required_columns),
                              ", ".join(m.name for m in task.metrics), task.description)
        else:
            table = Table("task", "metric", "higher is better", "description",
                          title="Metrics (definitions: docs/spec.md)")
            for name in list_tasks():
                for spec in task_class(name).metrics:
                    table.add_row(name, spec.name, "yes" if spec.higher_is_better else "no",
                                  spec.description)
    console.print(table)


def parse_options(items: Sequence[str]) -> dict[str, dict[str, object]]:
    """{task: {key: value}} from ``TASK.KEY=VALUE`` strings (VALUE parsed as JSON if it can
    be, e.g. 100000, true, [\"lr\"]; else kept as a string)."""
    options: dict[str, dict[str, object]] = {}
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


def _outputs(args: argparse.Namespace, datasets: list[str]) -> list[Path]:
    stems = [Path(str(d)).stem for d in datasets]
    if len(stems) != len(set(stems)):
        raise CZBenchError(f"dataset: names must differ, got {', '.join(datasets)}")
    if len(datasets) == 1:
        return [args.output or Path("results") / f"{stems[0]}.json"]
    folder = args.output or Path("results")
    if folder.suffix == ".json" or folder.is_file():
        raise CZBenchError(f"output: with several datasets --output must be a folder, got "
                           f"{folder}")
    return [folder / f"{stem}.json" for stem in stems]


def _seeds(args: argparse.Namespace) -> list[int]:
    if args.seeds is not None and args.seed is not None:
        raise CZBenchError("seeds: give --seed or --seeds, not both")
    if args.seeds is None:
        return [42 if args.seed is None else args.seed]
    if not args.seeds:
        raise CZBenchError("seeds: --seeds is empty; expected integers like 0,1,2")
    try:
        return [int(s) for s in args.seeds]
    except ValueError as err:
        raise CZBenchError(f"seeds: expected integers like 0,1,2, got "
                           f"{','.join(args.seeds)}") from err


def run(args: argparse.Namespace, console: Console) -> None:
    """``czbench run``: check everything, run the grid, write one results file per dataset."""
    from czbench.run import benchmark_grid

    datasets = _flat(args.dataset) or [DEFAULT_DATASET]
    outputs = _outputs(args, datasets)
    for output in outputs:
        if output.exists() and not args.overwrite:
            raise CZBenchError(f"output: {output} already exists; pass --overwrite to replace "
                               f"it")
    if args.resume and args.run_dir is None:
        raise CZBenchError("resume: --resume needs --run-dir, the folder of the run to continue")
    seeds = _seeds(args)
    if args.workers < 1:
        raise CZBenchError(f"workers: expected at least 1, got {args.workers}")
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                  MofNCompleteColumn(), TimeElapsedColumn(), console=console,
                  disable=args.quiet, transient=True) as progress:
        bar = progress.add_task("loading", total=None)

        def on_step(label: str, step: int, total: int) -> None:
            progress.update(bar, description=label, completed=step - 1, total=total)

        results = benchmark_grid(
            datasets, _flat(args.embedding), _flat(args.task),
            predictions=_flat(args.prediction), seeds=seeds, controls=args.controls,
            label_key=args.label_key, batch_key=args.batch_key,
            task_options=parse_options(args.option), on_step=on_step,
            knn_backend=args.knn_backend, device=args.device, backed=args.backed,
            scheduler=args.scheduler, n_workers=args.workers, run_dir=args.run_dir,
            resume=args.resume)
    for result, output in zip(results, outputs, strict=True):
        result.write_json(output, overwrite=args.overwrite)
        print_result(result.document, console)
        console.print(f"results written to {output}")
