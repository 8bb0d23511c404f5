"""The ``czbench`` command line: ``czbench list ...`` and ``czbench run ...``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.table import Table

from czbench import __version__
from czbench.errors import CZBenchError

DEFAULT_DATASET = "pbmc_3chemistries_symphony"


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="czbench", description="Reproducible benchmarks for single-cell embeddings.")
    parser.add_argument("--version", action="version", version=f"czbench {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    lister = sub.add_parser("list", help="list datasets, tasks or metrics")
    lister.add_argument("what", choices=["datasets", "tasks", "metrics"])

    run = sub.add_parser("run", help="benchmark embeddings of a dataset on tasks")
    run.add_argument("--dataset", default=DEFAULT_DATASET,
                     help=f"registered name or .h5ad path (default: {DEFAULT_DATASET})")
    run.add_argument("--embedding", action="append", type=_csv, default=None,
                     metavar="SPEC", help="obsm:KEY | FILE.npy | baseline:pca | baseline:raw; "
                     "repeat or comma-separate for several (default: the PCA baseline and the "
                     "dataset's shipped embeddings)")
    run.add_argument("--task", type=_csv, default=None, metavar="T1,T2",
                     help="tasks to run (default: the core tasks the dataset has columns for)")
    run.add_argument("--label-key", help="obs column holding cell types")
    run.add_argument("--batch-key", help="obs column holding batches")
    run.add_argument("--seed", type=int, default=42, help="seed of every random choice")
    run.add_argument("--output", type=Path,
                     help="results JSON path (default: results/<dataset>.json)")
    run.add_argument("--overwrite", action="store_true", help="replace an existing output")
    run.add_argument("--quiet", action="store_true", help="no progress display")
    return parser


def _list(what: str, console: Console) -> None:
    if what == "datasets":
        import czbench.datasets as ds

        table = Table("name", "cells", "genes", "columns", "embeddings", "licence",
                      title="Registered datasets")
        for name in ds.list():
            info = ds.info(name)
            table.add_row(name, str(info.n_cells), str(info.n_genes),
                          ", ".join(info.columns), ", ".join(info.embeddings) or "-",
                          info.licence)
    else:
        from czbench.tasks import get_task, list_tasks

        if what == "tasks":
            table = Table("task", "needs obs columns", "metrics", "description",
                          title="Registered tasks")
            for name in list_tasks():
                task = get_task(name)
                table.add_row(name, ", ".join(task.required_columns),
                              ", ".join(m.name for m in task.metrics), task.description)
        else:
            table = Table("task", "metric", "higher is better", "description",
                          title="Metrics")
            for name in list_tasks():
                for spec in get_task(name).metrics:
                    table.add_row(name, spec.name, "yes" if spec.higher_is_better else "no",
                                  spec.description)
    console.print(table)


def _run(args: argparse.Namespace, console: Console) -> None:
    from czbench.runner import benchmark

    output = args.output or Path("results") / f"{Path(str(args.dataset)).stem}.json"
    if output.exists() and not args.overwrite:
        raise CZBenchError(f"output: {output} already exists; pass --overwrite to replace it")
    embeddings = [e for group in args.embedding for e in group] if args.embedding else None
    status = None if args.quiet else console.status("loading")
    if status:
        status.start()
    try:
        result = benchmark(args.dataset, embeddings, args.task, seed=args.seed,
                           label_key=args.label_key, batch_key=args.batch_key,
                           on_step=(lambda label: status.update(f"running {label}"))
                           if status else None)
    finally:
        if status:
            status.stop()
    result.write_json(output, overwrite=args.overwrite)
    doc = result.document
    wide = result.wide()
    table = Table("task", "metric", "params", *wide.columns,
                  title=f"czbench {doc['czbench_version']} · {doc['dataset']['name']} · "
                        f"{doc['dataset']['n_cells']} cells · seed {doc['seed']}")
    for (task, metric, params), row in wide.iterrows():
        table.add_row(task, metric, params, *(f"{v:.4f}" for v in row))
    console.print(table)
    for entry in doc["embeddings"]:
        timings = ", ".join(f"{k} {v:.2f}s" for k, v in entry["timings_s"].items())
        console.print(f"[dim]{entry['source']}: {timings}[/dim]")
    console.print(f"results written to {output}")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    console = Console(width=None if sys.stdout.isatty() else 160)
    try:
        if args.command == "list":
            _list(args.what, console)
        else:
            _run(args, console)
    except CZBenchError as err:
        Console(stderr=True).print(f"[bold red]error:[/bold red] {err}", highlight=False,
                                   soft_wrap=True)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
